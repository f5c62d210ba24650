// The receiving side of a transfer: directories and files into an inbox, each file resumed from
// what the inbox already holds, verified against the sender's whole-file hash, and only then
// given its final name. Any failure resets the stream with the reason, so the sender sees it.
#pragma once
#include <memory>

#include "session/stream.hpp"
#include "transfer/inbox.hpp"
#include "transfer/observer.hpp"
#include "transfer/transfer_error.hpp"

namespace transfer {

/// Totals a sender announced in its stream description (zero when absent).
struct transfer_totals {
  std::uint64_t bytes = 0;
  std::uint64_t files = 0;
  std::uint64_t dirs = 0;
};
transfer_totals totals_of(const nlohmann::json& meta);

/// Receives one transfer into `box`. Throws transfer_error after resetting the stream with it.
net::awaitable<void> receive_transfer(std::shared_ptr<session::stream> stream, inbox& box, observer& progress);

/// Refuses a transfer stream with `reason`, which the sender reports as a refusal (or, with
/// failure_kind::busy, as "try again later").
void refuse_transfer(session::stream& stream, const std::string& reason, failure_kind kind = failure_kind::refused);

}  // namespace transfer
