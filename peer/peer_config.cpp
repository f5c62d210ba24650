#include "peer/peer_config.hpp"

#include <algorithm>

#include <charconv>
#include <cstdio>
#include <string_view>
#include <stdexcept>

#include "common/config_layers.hpp"
#include "common/identity.hpp"
#include "common/json_fields.hpp"
#include "common/peer_id.hpp"

namespace peer {
namespace {

/// A duration setting given in seconds (a number, or a string from the environment), checked
/// against [min, max]; errors name the setting.
std::chrono::milliseconds seconds_setting(const nlohmann::json& settings, const char* key, double min, double max) {
  const auto& value = settings[key];
  double seconds = 0;
  try {
    std::size_t used = 0;
    seconds = value.is_string() ? std::stod(value.get<std::string>(), &used) : value.get<double>();
    if (value.is_string() && used != value.get_ref<const std::string&>().size()) throw std::invalid_argument(key);
  } catch (const std::exception&) {  // not a number, trailing text, or out of double's range ("1e999")
    throw std::runtime_error(std::string("setting \"") + key + "\" must be a number of seconds");
  }
  if (!(seconds >= min && seconds <= max)) {
    char range[64];
    std::snprintf(range, sizeof range, "%g to %g", min, max);
    throw std::runtime_error(std::string("setting \"") + key + "\" must be " + range + " seconds");
  }
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
}

/// An "expose" entry: {"local":"HOST:PORT","remote_port":N}, or "HOST:PORT=N" as --expose takes it.
expose_route parse_route(const nlohmann::json& entry) {
  std::optional<net::host_port> local;
  long long remote = 0;
  if (entry.is_string()) {
    const auto text = entry.get<std::string>();
    const auto equals = text.rfind('=');
    if (equals != std::string::npos) {
      local = net::parse_host_port(text.substr(0, equals));
      const auto digits = std::string_view(text).substr(equals + 1);
      const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), remote);
      if (error != std::errc() || end != digits.data() + digits.size()) remote = 0;
    }
  } else if (entry.is_object() && entry.contains("local") && entry["local"].is_string() && entry.contains("remote_port")) {
    local = net::parse_host_port(entry["local"].get<std::string>());
    remote = wire::to_integer(entry["remote_port"]).value_or(0);
  }
  if (!local || local->port == 0 || remote <= 0 || remote > 65535) {
    throw std::runtime_error("each \"expose\" route is LOCAL_HOST:PORT=REMOTE_PORT (or {\"local\":\"HOST:PORT\",\"remote_port\":N}), "
                             "not " + entry.dump());
  }
  return {*local, static_cast<std::uint16_t>(remote)};
}

}  // namespace

peer_config resolve_peer_config(const nlohmann::json& file, const nlohmann::json& env, const nlohmann::json& flags) {
  const auto settings = config::merge({&file, &env, &flags}, peer_config_keys);
  peer_config config;
  try {
    if (settings.contains("server")) {
      // HOST:PORT, or several comma-separated (the nodes of a cluster).
      config.servers.clear();
      const auto list = settings["server"].get<std::string>();
      for (std::size_t start = 0; start <= list.size();) {
        const auto comma = std::min(list.find(',', start), list.size());
        const auto item = list.substr(start, comma - start);
        start = comma + 1;
        auto server = net::parse_host_port(item);
        if (!server || server->port == 0) {
          throw std::runtime_error("setting \"server\" must be HOST:PORT, or several separated by commas ('" + item + "' is not)");
        }
        config.servers.push_back(*server);
      }
      if (config.servers.empty() || config.servers.size() > 32) {
        throw std::runtime_error("setting \"server\" must name 1 to 32 HOST:PORT");
      }
    }
    config.id = settings.value("id", "");
    if (settings.contains("stun")) {
      config.stun = net::parse_host_port(settings["stun"].get<std::string>());
      if (!config.stun || config.stun->port == 0) throw std::runtime_error("setting \"stun\" must be HOST:PORT");
    }
    config.token = settings.value("token", "");
    config.identity_file = settings.value("identity", "");
    config.expect_key = settings.value("expect_key", "");
    if (!config.expect_key.empty() && !identity::is_key_reference(config.expect_key)) {
      throw std::runtime_error("setting \"expect_key\" must be a fingerprint (as `peer id` prints) or a public key in hex");
    }
    config.log_level = settings.value("log_level", config.log_level);
    config.json = settings.value("json", false);
    config.path = settings.value("path", config.path);
    if (config.path != "auto" && config.path != "punch-first" && config.path != "direct" && config.path != "relay") {
      throw std::runtime_error("setting \"path\" must be auto, punch-first, direct or relay");
    }
    for (const auto& route : settings.value("expose", nlohmann::json::array())) config.routes.push_back(parse_route(route));
    for (const auto& entry : settings.value("allow", nlohmann::json::array())) {
      auto target = net::parse_host_port(entry.get<std::string>());
      if (!target || target->port == 0) throw std::runtime_error("each \"allow\" entry must be HOST:PORT");
      config.allow.push_back(*target);
    }
    if (settings.contains("listen")) {
      auto text = settings["listen"].get<std::string>();
      if (text.find(':') == std::string::npos) text = "127.0.0.1:" + text;  // PORT alone: loopback only
      config.forward_listen = net::parse_host_port(text);
      if (!config.forward_listen) throw std::runtime_error("setting \"listen\" must be [HOST:]PORT");
    }
    if (settings.contains("target")) {
      config.forward_target = net::parse_host_port(settings["target"].get<std::string>());
      if (!config.forward_target || config.forward_target->port == 0) {
        throw std::runtime_error("setting \"target\" must be HOST:PORT");
      }
    }
    config.inbox = settings.value("inbox", "");
    for (const auto& entry : settings.value("accept_from", nlohmann::json::array())) {
      const auto id = entry.get<std::string>();
      if (!wire::is_valid_peer_id(id)) throw std::runtime_error("\"accept_from\" entry '" + id + "' is not a valid peer ID");
      config.accept_from.push_back(id);
    }
    config.accept_any = settings.value("accept_any", false);
    config.overwrite = settings.value("overwrite", false);
    if (settings.contains("rate_limit")) {
      config.rate_limit_mib = settings["rate_limit"].get<double>();
      if (!(config.rate_limit_mib > 0)) throw std::runtime_error("setting \"rate_limit\" must be a positive number of MiB/s");
    }
    if (settings.contains("expose_pool")) {
      config.expose_pool = static_cast<int>(wire::int_field(settings, "expose_pool", 0, 0, 64));
    }
    if (settings.contains("expose_channels")) {
      config.expose_channels = static_cast<int>(wire::int_field(settings, "expose_channels", 1, 0, 4));
    }
    if (settings.contains("dead_after")) config.dead_after = seconds_setting(settings, "dead_after", 1, 3600);
    if (settings.contains("punch_timeout")) config.punch_timeout = seconds_setting(settings, "punch_timeout", 0.5, 600);
  } catch (const nlohmann::json::exception&) {
    throw std::runtime_error("a peer setting has the wrong type or is missing a field (see peer --help)");
  }
  if (!config.id.empty() && !wire::is_valid_peer_id(config.id)) {
    throw std::runtime_error("ID '" + config.id + "' is not 1 to 64 of A-Z a-z 0-9 . _ -");
  }
  return config;
}

}  // namespace peer
