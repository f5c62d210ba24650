// The peer subcommands. Each returns an exit code or throws command_error.
#pragma once
#include <string>

#include "common/net.hpp"
#include "peer/events.hpp"
#include "peer/peer_config.hpp"

namespace peer {

/// `peer list`: print the IDs online, one a line (--json: one JSON array) on stdout.
net::awaitable<int> run_list(const peer_config& config, const event_sink& events);
/// `peer listen`: register, take one incoming connection, bridge it to stdin/stdout.
net::awaitable<int> run_listen(const peer_config& config, const event_sink& events);
/// `peer nat`: probe our NAT against the server and print its behaviour on stdout.
net::awaitable<int> run_nat(const peer_config& config, const event_sink& events);
/// `peer connect NAME`: connect to NAME by ID and bridge stdin/stdout, like nc.
net::awaitable<int> run_connect(const peer_config& config, const event_sink& events, const std::string& target);
/// `peer id`: print our identity's fingerprint (creating the identity if needed).
net::awaitable<int> run_id(const peer_config& config, const event_sink& events);

}  // namespace peer
