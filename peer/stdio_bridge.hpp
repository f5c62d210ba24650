// Bridges stdin/stdout to one session stream like `nc`: stdin's end half-closes our sending
// direction; the bridge ends when both directions have ended (or the stream fails).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "session/stream.hpp"

namespace peer {

/// Bytes moved and, if the stream broke, why.
struct bridge_result {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::string error;  ///< empty when both directions ended cleanly
};

/// Runs until both directions end or the stream fails. stdin and stdout are served by blocking
/// threads (they may be files, pipes or terminals), so a slow stdout never stalls the session.
net::awaitable<bridge_result> bridge_stdio(std::shared_ptr<session::stream> stream);

}  // namespace peer
