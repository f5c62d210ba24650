// `peer online`: stay registered (reconnecting when the server goes away), take every incoming
// connection as a secure session, and serve the streams peers open on it: file transfers into
// `--inbox` from the IDs `--accept-from` names, forwards to the targets `--allow` names; anything
// else is refused with a reason the requester sees.
#pragma once
#include "common/net.hpp"
#include "peer/events.hpp"
#include "peer/peer_config.hpp"

namespace peer {

/// Runs until interrupted.
net::awaitable<int> run_online(const peer_config& config, const event_sink& events);

}  // namespace peer
