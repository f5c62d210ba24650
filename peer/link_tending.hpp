// The main connection around a command's work: opening and registering it, and tending it
// while the command is busy so attempts from others are declined rather than left waiting.
#pragma once
#include "common/identity.hpp"
#include "peer/attempt_runner.hpp"
#include "peer/events.hpp"
#include "peer/peer_config.hpp"
#include "peer/server_link.hpp"

namespace peer {

/// Connects, registers (when config has an ID), and with `probe` reports our NAT to the server
/// so it can send hopeless pairs straight to the relay.
net::awaitable<void> open_and_register(server_link& link, const peer_config& config, const event_sink& events,
                                       const identity::key_pair& keys, bool probe);

/// A connection a peer made to us: the server's attempt and its outcome (punched or relayed, or
/// why neither worked).
struct incoming_connection {
  attempt_info attempt;
  attempt_result result;
  net::clock::time_point started;
};

/// Waits for the next attempt the server announces (an "incoming" event) and runs it, punching
/// at most 30 s (or our own --punch-timeout, if longer) whatever the initiator asked. Throws
/// command_error (exit 3) when the server is lost.
net::awaitable<incoming_connection> next_incoming(server_link& link, const peer_config& config, const event_sink& events);

/// Keeps the main connection useful while data flows: declines further attempts, and reports
/// (once) if the server goes away — which never ends the established connection. Never returns;
/// run it beside the work with `||`.
net::awaitable<void> tend_link_while_busy(server_link& link, const event_sink& events);

}  // namespace peer
