// `peer receive [--dir DIR]`: register, take one file transfer (from any authenticated peer,
// or only those --accept-from names), store it in DIR, and exit.
#pragma once
#include "common/net.hpp"
#include "peer/events.hpp"
#include "peer/peer_config.hpp"

namespace peer {

/// Exit 0 when every file was stored, 1 when the transfer failed.
net::awaitable<int> run_receive(const peer_config& config, const event_sink& events);

}  // namespace peer
