// The session's path life cycle on the peer: a session that started on the relay moves onto the
// punched path once the punch beside it wins and the new connection proves it belongs to the
// session (session/path_proof.hpp); the user's streams never notice. Emits "path_changed".
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

/// Waits (in the background) for the punch beside `attempt`'s relayed connection, then moves
/// `secure` onto it; spawned on the session's executor. Does nothing for a session without a
/// punch beside it. The event's elapsed_ms counts from `started`, as "connected" does.
void move_when_direct(const std::shared_ptr<session::session>& secure, const attempt_result& attempt,
                      const std::string& peer, const event_sink& events, net::clock::time_point started,
                      path_changed_fn changed = nullptr);

}  // namespace peer
