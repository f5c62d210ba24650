// Turns a connection from an attempt (direct or relayed) into a secure session: the handshake
// with the key the server introduced the peer with (and --expect-key, if given), then the
// session running on the connection. Also where a peer's own identity is loaded.
#pragma once
#include <memory>
#include <string>

#include "common/identity.hpp"
#include "peer/attempt_runner.hpp"
#include "peer/events.hpp"
#include "peer/peer_config.hpp"
#include "session/session.hpp"

namespace peer {

/// How a session to a peer came about (for the "connected" event).
struct session_origin {
  std::string path;       ///< direct or relay
  std::string why_relay;  ///< why the relay was used, if it was
  std::string remote;     ///< the other end of our TCP connection
};

/// The origin of a session made on `attempt`'s connection.
session_origin origin_of(const attempt_result& attempt);

/// The "connected" event for a session to `peer` made since `started`: path, remote end, the
/// peer's key and the cipher.
nlohmann::json connected_event(const std::string& peer, const session_origin& origin, const session::session& secure,
                               net::clock::time_point started);

/// Our key pair from --identity (or the default file), created on first use with an
/// "identity_created" event. Throws command_error (exit 2) when the file is unusable.
identity::key_pair load_identity(const peer_config& config, const event_sink& events);

/// Runs the handshake on `attempt`'s connection and starts the session on it, taking at most
/// `accept_backlog` streams the peer opens before we accept them (the rest are reset). Throws
/// command_error: exit 6 when the peer's key is refused, exit 1 when the handshake fails.
net::awaitable<std::shared_ptr<session::session>> open_secure_session(attempt_result& attempt, const attempt_info& info,
                                                                      const identity::key_pair& me,
                                                                      const peer_config& config,
                                                                      std::size_t accept_backlog);

/// A new stream on `s` to `peer` described by `meta`; throws command_error (exit 1) saying why
/// when the session cannot take one.
std::shared_ptr<session::stream> open_stream_on(session::session& s, const std::string& peer, nlohmann::json meta);

/// Closes the session gracefully and waits (bounded by its close timeout, and by `limit`) until it has ended.
net::awaitable<void> close_session(const std::shared_ptr<session::session>& s, const std::string& reason,
                                   net::clock::duration limit = net::clock::duration::max());

}  // namespace peer
