// The session's path life cycle on the peer. A session that started on the relay moves onto the
// punched path once the punch beside it wins and the new connection proves it belongs to the
// session (session/path_proof.hpp); a session whose path dies goes back to the relay
// (path_fallback.hpp). The user's streams notice neither. Emits "path_changed" (and "path_lost").
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "peer/attempt_runner.hpp"
#include "peer/events.hpp"
#include "peer/secure_session.hpp"
#include "session/session.hpp"

namespace peer {

/// Called once the session is on its new path, with where it is now.
using path_changed_fn = std::function<void(const session_origin& now)>;

/// What the upgrade and the fall-back share about one session's path.
struct path_life {
  std::string peer;
  event_sink events;
  net::clock::time_point started;  ///< elapsed_ms counts from here, as "connected" does
  path_changed_fn changed;
  std::string path;                ///< where the session is now: relay or direct
  server_link::detached_sender server;  ///< the link the attempt ran on
  asio::ip::address server_address;
};

/// Follows `secure`'s path in the background (spawned on the session's executor): moves it onto
/// the punch beside `attempt`'s relayed connection when that wins, and back to a relay pair when
/// its path dies (for a resumable session). The events' elapsed_ms counts from `started`.
void follow_session_path(const std::shared_ptr<session::session>& secure, const attempt_result& attempt,
                         const std::string& peer, const event_sink& events, net::clock::time_point started,
                         path_changed_fn changed = nullptr);

}  // namespace peer
