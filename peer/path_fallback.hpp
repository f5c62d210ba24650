// Back to the relay when a session's path dies (a NAT dropped the punched path's mapping, an
// address changed, the relay was cut): the session's initiator asks the server for a relay pair
// for the session (a relay-only attempt naming its tag), both sides join it and resume the
// session on it (session::resume_on), and every stream goes on. The other side hears of the
// pair through the server's "resume" message (resume_router.hpp). Events: "path_lost", then
// "path_changed" {to: relay}; a session that cannot resume ends with the reason.
#pragma once
#include <memory>

#include "peer/path_upgrade.hpp"
#include "session/session.hpp"

namespace peer {

/// Watches `secure` (if it is resumable) for the rest of its life; spawned on its executor.
void fall_back_when_lost(const std::shared_ptr<session::session>& secure, std::shared_ptr<path_life> life);

}  // namespace peer
