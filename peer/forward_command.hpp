// `peer forward NAME --listen [HOST:]PORT --target HOST:PORT`: a local listener whose every
// connection becomes a stream to NAME (running `peer online --allow TARGET`), which connects it
// to TARGET. All connections share one secure session to NAME.
#pragma once
#include <string>

#include "common/net.hpp"
#include "peer/events.hpp"
#include "peer/peer_config.hpp"

namespace peer {

/// Runs until interrupted.
net::awaitable<int> run_forward(const peer_config& config, const event_sink& events, const std::string& target_peer);

}  // namespace peer
