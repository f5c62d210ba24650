// The main connection around a command's work: opening and registering it, and tending it
// while the command is busy so attempts from others are declined rather than left waiting.
#pragma once
#include "common/identity.hpp"
#include "peer/events.hpp"
#include "peer/peer_config.hpp"
#include "peer/server_link.hpp"

namespace peer {

/// Connects, registers (when config has an ID), and with `probe` reports our NAT to the server
/// so it can send hopeless pairs straight to the relay.
net::awaitable<void> open_and_register(server_link& link, const peer_config& config, const event_sink& events,
                                       const identity::key_pair& keys, bool probe);

/// Keeps the main connection useful while data flows: declines further attempts, and reports
/// (once) if the server goes away — which never ends the established connection. Never returns;
/// run it beside the work with `||`.
net::awaitable<void> tend_link_while_busy(server_link& link, const event_sink& events);

}  // namespace peer
