// Exposed routes (reverse proxy): the server's public port N carries its clients to a local
// service behind this peer. Claiming the ports; keeping idle connections in the server's pool
// (rendezvous/expose_pool.hpp), each of which serves the client the server joins to it; and
// serving each client the server announces when the pool is empty: connect the local service,
// join the client through the relay, pump. Used by `peer expose` and by `peer online --expose`.
#pragma once
#include <memory>
#include <vector>

#include "common/net.hpp"
#include "peer/events.hpp"
#include "peer/peer_config.hpp"
#include "peer/server_link.hpp"

namespace peer {

/// Claims every route's public port (config.routes) on the server (the link must be registered). A refused
/// port (taken by another peer, not allowed, unbindable) throws command_error, exit 3, naming
/// the port and the server's reason.
net::awaitable<void> claim_routes(server_link& link, const peer_config& config, const event_sink& events);

/// From now on, clients on config.routes are served as they arrive, whatever else the command
/// does with the link, until the link is gone: through config.expose_pool idle connections kept
/// in the server's pool (a client is joined to one at once), and the server's announcements when
/// the pool is empty (or 0, or the server has none).
void serve_routes(const std::shared_ptr<server_link>& link, const peer_config& config);

}  // namespace peer
