// The sending side of a transfer, on a stream opened with transfer_meta(): each directory, then
// each file from the offset the receiver asks for (what it already holds), its whole-file hash
// after its bytes, and the receiver's word that it stored it.
#pragma once
#include <memory>

#include <nlohmann/json.hpp>

#include "session/stream.hpp"
#include "transfer/observer.hpp"
#include "transfer/transfer_error.hpp"
#include "transfer/source_scan.hpp"

namespace transfer {

/// The stream description of a transfer of `sources` (the receiver's accept decision sees it).
nlohmann::json transfer_meta(const source_list& sources);

struct send_options {
  double rate_limit_mib = 0;  ///< MiB/s of file data at most; 0: unlimited
};

/// Sends everything in `sources`; throws transfer_error (refused() when the receiver refused).
net::awaitable<void> send_sources(std::shared_ptr<session::stream> stream, const source_list& sources,
                                  observer& progress, send_options options);

}  // namespace transfer
