#include "rendezvous/server_config.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "cluster/redis_address.hpp"
#include "common/config_layers.hpp"
#include "common/endpoint.hpp"
#include "common/json_fields.hpp"
#include "common/logging.hpp"

#include <asio/ip/address.hpp>

namespace rendezvous {
namespace {

template <typename T>
T get(const nlohmann::json& settings, const char* key, T fallback) {
  auto it = settings.find(key);
  if (it == settings.end()) return fallback;
  try {
    if constexpr (std::is_integral_v<T>) {
      // Numbers may arrive as strings from the environment or as JSON numbers from a file; either
      // must be an integer that fits, never a value cast out of range.
      const auto value = wire::to_integer(*it, /*allow_text=*/true);
      if (!value || *value < std::numeric_limits<T>::min() || *value > std::numeric_limits<T>::max()) {
        throw std::out_of_range(key);
      }
      return static_cast<T>(*value);
    } else {
      return it->template get<T>();
    }
  } catch (const std::exception&) {
    throw std::runtime_error(std::string("setting \"") + key + "\" has the wrong type or value");
  }
}

int positive(const nlohmann::json& settings, const char* key, int fallback) {
  const int value = get<int>(settings, key, fallback);
  if (value <= 0) throw std::runtime_error(std::string("setting \"") + key + "\" must be positive");
  return value;
}

std::uint16_t port(const nlohmann::json& settings, const char* key, std::uint16_t fallback) {
  const int value = get<int>(settings, key, fallback);
  if (value < 0 || value > 65535) throw std::runtime_error(std::string("setting \"") + key + "\" is not a port");
  return static_cast<std::uint16_t>(value);
}

}  // namespace

server_config resolve_server_config(const nlohmann::json& file, const nlohmann::json& env, const nlohmann::json& flags) {
  const auto settings = config::merge({&file, &env, &flags}, server_config_keys);
  server_config config;
  if (settings.contains("listen")) {
    // HOST:PORT, or several on one port: "203.0.113.10:7000,[2001:db8::10]:7000".
    config.listen_hosts.clear();
    std::stringstream list(get<std::string>(settings, "listen", ""));
    for (std::string item; std::getline(list, item, ',');) {
      auto listen = net::parse_host_port(item);
      std::error_code ec;
      if (listen) asio::ip::make_address(listen->host, ec);
      if (!listen || ec) throw std::runtime_error("setting \"listen\" must be IP:PORT, or several IP:PORT on one port, comma-separated");
      if (!config.listen_hosts.empty() && listen->port != config.main_port) {
        throw std::runtime_error("setting \"listen\": every address must have the same port");
      }
      config.listen_hosts.push_back(listen->host);
      config.main_port = listen->port;
    }
    if (config.listen_hosts.empty()) throw std::runtime_error("setting \"listen\" must be HOST:PORT");
    // [::] is dual-stack: it listens on every IPv4 address too. Beside it, 0.0.0.0 says nothing
    // more; a single IPv4 address cannot be had (its port is [::]'s).
    const auto is = [](const std::string& host, bool v4, bool wildcard) {
      const auto address = asio::ip::make_address(host);
      return address.is_v4() == v4 && (!wildcard || address.is_unspecified());
    };
    if (std::any_of(config.listen_hosts.begin(), config.listen_hosts.end(), [&](const auto& h) { return is(h, false, true); })) {
      std::erase_if(config.listen_hosts, [&](const std::string& h) { return is(h, true, true); });
      if (std::any_of(config.listen_hosts.begin(), config.listen_hosts.end(), [&](const auto& h) { return is(h, true, false); })) {
        throw std::runtime_error("setting \"listen\": [::] already listens on every IPv4 address; give IPv4 and IPv6 "
                                 "addresses of this host instead, or [::] alone");
      }
    }
    config.listen_host = config.listen_hosts.front();
  }
  const auto offset = [&](int by) -> std::uint16_t {
    if (config.main_port == 0) return 0;
    if (config.main_port + by > 65535) throw std::runtime_error("main port too high to derive the other ports");
    return static_cast<std::uint16_t>(config.main_port + by);
  };
  config.hole_port = port(settings, "hole_port", offset(1));
  config.relay_port = port(settings, "relay_port", offset(2));
  config.probe_port = port(settings, "probe_port", offset(3));
  config.alt_ip = get<std::string>(settings, "alt_ip", "");
  if (!config.alt_ip.empty()) {
    // One address per family at most: "203.0.113.11" or "203.0.113.11,2001:db8::11".
    bool seen_v4 = false, seen_v6 = false;
    std::stringstream list(config.alt_ip);
    for (std::string item; std::getline(list, item, ',');) {
      std::error_code ec;
      const auto address = asio::ip::make_address(item, ec);
      if (ec) throw std::runtime_error("setting \"alt_ip\" must be an IP address, or one IPv4 and one IPv6 address separated by a comma");
      auto& seen = address.is_v4() ? seen_v4 : seen_v6;
      if (seen) throw std::runtime_error("setting \"alt_ip\" takes at most one address per family");
      seen = true;
    }
  }
  config.token = get<std::string>(settings, "token", "");
  config.log_level = get<std::string>(settings, "log_level", config.log_level);
  try {
    logging::check_level(config.log_level);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("setting \"log_level\": ") + e.what());
  }
  config.peer_timeout_s = positive(settings, "peer_timeout", config.peer_timeout_s);
  config.handshake_timeout_s = positive(settings, "handshake_timeout", config.handshake_timeout_s);
  config.attempt_timeout_s = positive(settings, "attempt_timeout", config.attempt_timeout_s);
  config.max_peers = positive(settings, "max_peers", config.max_peers);
  config.max_pending_handshakes = positive(settings, "max_pending_handshakes", config.max_pending_handshakes);
  config.max_handshakes_per_ip = positive(settings, "max_handshakes_per_ip", config.max_handshakes_per_ip);
  config.ready_file = get<std::string>(settings, "ready_file", "");
  if (settings.contains("expose_ports")) {
    const auto range = port_range_of(get<std::string>(settings, "expose_ports", ""));
    if (!range) throw std::runtime_error("setting \"expose_ports\" must be PORT or FIRST-LAST, e.g. 20000-20100");
    config.expose_first = range->first;
    config.expose_last = range->second;
  }
  config.relay_idle_timeout_s = positive(settings, "relay_idle_timeout", config.relay_idle_timeout_s);
  config.max_relay_pairs = positive(settings, "max_relay_pairs", config.max_relay_pairs);
  config.max_relay_pairs_per_peer = positive(settings, "max_relay_pairs_per_peer", config.max_relay_pairs_per_peer);
  config.max_exposed_clients = positive(settings, "max_exposed_clients", config.max_exposed_clients);
  config.max_exposed_clients_per_ip = positive(settings, "max_exposed_clients_per_ip", config.max_exposed_clients_per_ip);
  config.state_dir = get<std::string>(settings, "state", "");
  config.cluster = get<std::string>(settings, "cluster", "");
  if (!config.cluster.empty()) {
    try {
      cluster::parse_redis_url(config.cluster);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(std::string("setting \"cluster\": ") + e.what());
    }
  }
  config.node_name = get<std::string>(settings, "node_name", "");
  if (config.node_name.size() > 64 || config.node_name.find_first_of(" \t\r\n") != std::string::npos) {
    throw std::runtime_error("setting \"node_name\" must be at most 64 characters without blanks");
  }
  config.advertise = get<std::string>(settings, "advertise", "");
  config.node_lease_s = positive(settings, "node_lease", config.node_lease_s);
  config.stats_interval_s = get<int>(settings, "stats_interval", config.stats_interval_s);
  if (config.stats_interval_s < 0) throw std::runtime_error("setting \"stats_interval\" must be 0 or more");
  config.metrics = get<std::string>(settings, "metrics", "");
  if (!config.metrics.empty() && !metrics_endpoint_of(config.metrics)) {
    throw std::runtime_error("setting \"metrics\" must be IP:PORT (127.0.0.1:9100, [::1]:9100), not '" + config.metrics + "'");
  }
  return config;
}

std::optional<std::pair<std::uint16_t, std::uint16_t>> port_range_of(const std::string& text) {
  unsigned first = 0, last = 0;
  char dash = 0;
  std::istringstream in(text);
  in >> first;
  if (in >> dash) in >> last;
  else last = first;
  if (!in.eof() || in.fail() || (dash && dash != '-') || first == 0 || last < first || last > 65535) return std::nullopt;
  return std::pair{static_cast<std::uint16_t>(first), static_cast<std::uint16_t>(last)};
}

std::optional<net::tcp::endpoint> metrics_endpoint_of(const std::string& text) {
  if (text.empty()) return std::nullopt;
  return net::parse_endpoint(text);
}

std::string default_state_dir(const std::string& config_file) {
  if (!config_file.empty()) {
    return (std::filesystem::absolute(config_file).parent_path() / "rendezvous-state").string();
  }
  if (const char* state_home = std::getenv("XDG_STATE_HOME"); state_home && *state_home) {
    return (std::filesystem::path(state_home) / "holepunch" / "rendezvous").string();
  }
  const char* home = std::getenv("HOME");
  if (!home || !*home) throw std::runtime_error("neither XDG_STATE_HOME nor HOME is set: pass --state DIR");
  return (std::filesystem::path(home) / ".local" / "state" / "holepunch" / "rendezvous").string();
}

}  // namespace rendezvous
