#include "rendezvous/config_reload.hpp"

#include <fmt/format.h>

namespace rendezvous {
namespace {

/// Calls `visit(key, member)` for each setting a reload applies (the expose range aside: two
/// members, one key).
template <typename Visit>
void for_each_reloadable(Visit&& visit) {
  visit("token", &server_config::token);
  visit("log_level", &server_config::log_level);
  visit("peer_timeout", &server_config::peer_timeout_s);
  visit("handshake_timeout", &server_config::handshake_timeout_s);
  visit("attempt_timeout", &server_config::attempt_timeout_s);
  visit("max_peers", &server_config::max_peers);
  visit("max_pending_handshakes", &server_config::max_pending_handshakes);
  visit("max_handshakes_per_ip", &server_config::max_handshakes_per_ip);
  visit("relay_idle_timeout", &server_config::relay_idle_timeout_s);
  visit("max_relay_pairs", &server_config::max_relay_pairs);
  visit("max_relay_pairs_per_peer", &server_config::max_relay_pairs_per_peer);
  visit("max_exposed_clients", &server_config::max_exposed_clients);
  visit("max_exposed_clients_per_ip", &server_config::max_exposed_clients_per_ip);
  visit("stats_interval", &server_config::stats_interval_s);
}

/// The same for the settings that take a restart: the sockets, the state and the cluster are
/// opened once.
template <typename Visit>
void for_each_restart_only(Visit&& visit) {
  visit("listen", &server_config::listen_hosts);
  visit("listen", &server_config::main_port);
  visit("hole_port", &server_config::hole_port);
  visit("relay_port", &server_config::relay_port);
  visit("probe_port", &server_config::probe_port);
  visit("alt_ip", &server_config::alt_ip);
  visit("ready_file", &server_config::ready_file);
  visit("state", &server_config::state_dir);
  visit("cluster", &server_config::cluster);
  visit("node_name", &server_config::node_name);
  visit("advertise", &server_config::advertise);
  visit("node_lease", &server_config::node_lease_s);
  visit("metrics", &server_config::metrics);
}

std::string text_of(const std::string& value) { return "\"" + value + "\""; }
std::string text_of(int value) { return std::to_string(value); }

std::string expose_text(const server_config& config) {
  if (config.expose_first == 0) return "none";
  return std::to_string(config.expose_first) + "-" + std::to_string(config.expose_last);
}

}  // namespace

server_config with_reloadable(server_config running, const server_config& next) {
  for_each_reloadable([&](const char*, auto member) { running.*member = next.*member; });
  running.expose_first = next.expose_first;
  running.expose_last = next.expose_last;
  return running;
}

std::vector<std::string> restart_only_changes(const server_config& running, const server_config& next) {
  std::vector<std::string> keys;
  for_each_restart_only([&](const char* key, auto member) {
    if (running.*member != next.*member && (keys.empty() || keys.back() != key)) keys.push_back(key);
  });
  return keys;
}

std::vector<std::string> describe_changes(const server_config& before, const server_config& after) {
  std::vector<std::string> changes;
  for_each_reloadable([&](const char* key, auto member) {
    if (before.*member == after.*member) return;
    if (std::string(key) == "token") {
      changes.push_back(after.token.empty() ? "token removed" : before.token.empty() ? "token set" : "token changed");
    } else {
      changes.push_back(fmt::format("{} {} -> {}", key, text_of(before.*member), text_of(after.*member)));
    }
  });
  if (expose_text(before) != expose_text(after)) {
    changes.push_back("expose_ports " + expose_text(before) + " -> " + expose_text(after));
  }
  return changes;
}

std::vector<std::string> overridden_changes(const nlohmann::json& old_file, const nlohmann::json& new_file,
                                            const nlohmann::json& env, const nlohmann::json& flags) {
  std::vector<std::string> keys;
  const auto value_in = [](const nlohmann::json& layer, const std::string& key) {
    return layer.is_object() && layer.contains(key) ? layer.at(key) : nlohmann::json();
  };
  for (const char* key : server_config_keys) {
    const bool set_elsewhere = env.contains(key) || flags.contains(key);
    if (set_elsewhere && value_in(old_file, key) != value_in(new_file, key)) keys.push_back(key);
  }
  return keys;
}

}  // namespace rendezvous
