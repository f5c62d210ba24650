// Settings of the peer program: defaults < --config file < environment (PEER_*) < flags.
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/endpoint.hpp"

namespace peer {

/// One exposed service: the server's public `remote_port` forwards to `local` behind this peer.
struct expose_route {
  net::host_port local;
  std::uint16_t remote_port = 0;
};

/// What every peer command needs to know.
struct peer_config {
  /// --server: one rendezvous server, or the nodes of a cluster (A,B,C), any of which will do.
  std::vector<net::host_port> servers{{"127.0.0.1", 7000}};
  std::string id;     ///< our ID; required by `listen`
  std::string token;  ///< the server's shared secret, if it has one
  std::string log_level = "warn";
  bool json = false;  ///< JSON event lines on stderr
  std::chrono::milliseconds punch_timeout{5000};
  std::string path = "auto";  ///< auto (relay first, moving to a punched path), punch-first, direct, relay
  /// Whether the server chooses between punching and the relay (then it wants our NAT verdict).
  bool wants_nat_verdict() const { return path == "auto" || path == "punch-first"; }
  std::vector<expose_route> routes;  ///< for `expose` (config key "expose", or --local/--remote-port)
  std::optional<net::host_port> stun;  ///< for `nat`: probe this STUN server instead of ours
  std::string identity_file;  ///< our key pair; empty: identity::default_path()
  std::string expect_key;     ///< the peer's fingerprint (or key) we insist on; empty: the server's word
  std::chrono::milliseconds dead_after{30'000};  ///< a session silent this long has a dead path
  std::vector<net::host_port> allow;           ///< `online`: targets peers may forward to
  std::optional<net::host_port> forward_listen;  ///< `forward`: the local listener
  std::optional<net::host_port> forward_target;  ///< `forward`: HOST:PORT as the remote peer sees it
  std::string inbox;                     ///< `online --inbox` / `receive --dir`: where files land
  std::vector<std::string> accept_from;  ///< IDs whose transfers are taken
  bool accept_any = false;               ///< take transfers from any authenticated peer
  bool overwrite = false;                ///< replace existing files instead of choosing a new name
  double rate_limit_mib = 0;             ///< `send`: MiB/s of file data at most; 0: unlimited
  int expose_pool = 0;                   ///< idle connections kept in the server's pool per exposing peer
  int expose_channels = 1;               ///< multiplexed connections that carry our clients as streams
};

/// Keys accepted in the config file and the env/flag layers.
inline constexpr const char* peer_config_keys[] = {"server", "id",   "token", "log_level",
                                                   "json",   "path", "punch_timeout", "expose", "stun",
                                                   "identity", "expect_key", "dead_after", "allow", "listen", "target",
                                                   "inbox", "accept_from", "accept_any", "overwrite", "rate_limit", "expose_pool",
                                                   "expose_channels"};

/// Applies the layers in order (later wins); throws std::runtime_error naming a bad key or value.
peer_config resolve_peer_config(const nlohmann::json& file, const nlohmann::json& env, const nlohmann::json& flags);

}  // namespace peer
