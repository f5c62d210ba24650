// `peer expose`: publish local services on the rendezvous server's public ports (reverse proxy,
// like frp's tcp proxy or rinetd). Stays up across server restarts.
#pragma once
#include "common/net.hpp"
#include "peer/events.hpp"
#include "peer/peer_config.hpp"

namespace peer {

/// Runs until interrupted; returns an exit code or throws command_error for a permanent refusal.
net::awaitable<int> run_expose(const peer_config& config, const event_sink& events);

}  // namespace peer
