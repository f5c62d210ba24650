// Settings of the rendezvous server, resolved from defaults < config file < environment < flags.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/net.hpp"

namespace rendezvous {

/// Everything the server can be told; see `rendezvous --help` for meanings.
struct server_config {
  std::string listen_host = "0.0.0.0";  ///< the first of listen_hosts
  /// Every --listen address ("0.0.0.0:7000", "[::]:7000" dual-stack, or an IPv4 and an IPv6
  /// address, comma-separated, on one port).
  std::vector<std::string> listen_hosts{"0.0.0.0"};
  std::uint16_t main_port = 7000;
  std::uint16_t hole_port = 7001;   ///< default main+1 (0 when main is 0: pick any)
  std::uint16_t relay_port = 7002;  ///< default main+2; reserved for the relay
  std::string token;                ///< empty: anyone may register
  std::string log_level = "info";
  int peer_timeout_s = 30;          ///< a silent peer is dropped after this
  int handshake_timeout_s = 10;     ///< a connection must authenticate within this
  int attempt_timeout_s = 15;       ///< both peers must report to the hole-assist port within this
  int max_peers = 10000;
  int max_pending_handshakes = 256;
  int max_handshakes_per_ip = 64;
  int max_idle_clients = 1000;      ///< authenticated connections without an ID (derived from the descriptor limit)
  std::string ready_file;           ///< written with the bound ports once listening
  // Relay and reverse proxy.
  std::uint16_t expose_first = 0;   ///< ports peers may expose: [expose_first, expose_last]; 0: none
  std::uint16_t expose_last = 0;
  int relay_idle_timeout_s = 600;   ///< a relayed pair with no traffic either way is closed
  int max_relay_pairs = 1000;
  int max_relay_pairs_per_peer = 100;
  int max_exposed_clients = 10000;        ///< clients of exposed ports at once (their own budget, not the relay's)
  int max_exposed_clients_per_ip = 1024;  ///< of those, from one address
  int stats_interval_s = 60;        ///< 0: no periodic stats line
  // NAT behaviour probes.
  std::uint16_t probe_port = 7003;  ///< probes on this port and the next (default main+3; 0: any)
  std::string alt_ip;               ///< a second address of this host (one per family, comma-separated), for telling NAT kinds apart
  // Durable state.
  std::string state_dir;            ///< ID -> key pins live here (pins.sqlite3); see default_state_dir
  // A cluster of nodes sharing Redis (empty: one server, its own registry and pins).
  std::string cluster;              ///< redis://[:PASSWORD@]HOST:PORT[/DB]
  std::string node_name;            ///< this node's name in the cluster (default host name:main port)
  std::string advertise;            ///< the address peers are told for this node's ports (default: the listen host)
  int node_lease_s = 10;            ///< a node that stops refreshing its lease this long loses its IDs
  // Operating.
  std::string metrics;              ///< IP:PORT for the Prometheus endpoint (/metrics); empty: none
};

/// The ports of "PORT" or "FIRST-LAST" (1-65535, FIRST <= LAST); nothing if it is not that.
std::optional<std::pair<std::uint16_t, std::uint16_t>> port_range_of(const std::string& text);

/// The address of a "metrics" setting (an IP, not a name: it is bound); nothing if it is not one.
std::optional<net::tcp::endpoint> metrics_endpoint_of(const std::string& text);

/// Where state lives when --state is not given: beside the config file if there is one, else
/// $XDG_STATE_HOME/holepunch/rendezvous (or ~/.local/state/holepunch/rendezvous).
std::string default_state_dir(const std::string& config_file);

/// Keys accepted in the config file and in the env/flag layers.
inline constexpr const char* server_config_keys[] = {
    "listen", "hole_port", "relay_port", "token", "log_level", "peer_timeout", "handshake_timeout",
    "attempt_timeout", "max_peers", "max_pending_handshakes", "max_handshakes_per_ip", "ready_file",
    "expose_ports", "relay_idle_timeout", "max_relay_pairs", "max_relay_pairs_per_peer", "max_exposed_clients", "max_exposed_clients_per_ip", "stats_interval",
    "probe_port", "alt_ip", "state", "cluster", "node_name", "advertise", "node_lease", "metrics"};

/// Applies the layers in order (later wins); throws std::runtime_error naming a bad key or value.
server_config resolve_server_config(const nlohmann::json& file, const nlohmann::json& env, const nlohmann::json& flags);

}  // namespace rendezvous
