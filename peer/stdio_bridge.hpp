// Bridges stdin/stdout to one session stream like `nc`: stdin's end half-closes our sending
// direction; the bridge ends when both directions have ended (or the stream fails). A signal,
// or our stdout's reader leaving, hangs up: what stdin already gave us is delivered if it has
// ended (ssh closes its ProxyCommand's pipes, then sends it SIGHUP), else the stream is reset
// so the other side never takes a cut stream for a whole one; then the session closes cleanly.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "session/session.hpp"
#include "session/stream.hpp"

namespace peer {

/// Bytes moved, how each direction ended and, if the stream broke, why.
struct bridge_result {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::string error;             ///< empty when both directions ended cleanly
  bool upload_finished = false;  ///< stdin ended and everything read from it was handed to the session
  bool download_finished = false;  ///< the peer's end of data arrived and went to stdout
  std::string hung_up;           ///< why we hung up (a signal, stdout closed); empty if we did not
};

/// Runs until both directions end, the stream fails, or we hang up (closing `owner`). stdin and
/// stdout are served by blocking threads (they may be files, pipes or terminals), so a slow
/// stdout never stalls the session.
net::awaitable<bridge_result> bridge_stdio(std::shared_ptr<session::session> owner,
                                           std::shared_ptr<session::stream> stream);

}  // namespace peer
