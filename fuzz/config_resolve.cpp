// Settings resolution: rendezvous::resolve_server_config (rendezvous/server_config.cpp) and
// peer::resolve_peer_config (peer/peer_config.cpp) over layers merged by config::merge
// (common/config_layers.cpp). Both promise std::runtime_error naming the bad key or value, and
// nothing else (no nlohmann exception, no std::out_of_range, no undefined behaviour).
//
// Input: [config file text] NUL [environment: NAME=value lines] NUL [flags: a JSON object].
// The file is parsed as config::load_file parses it (comments allowed); the environment layer is
// built by config::env_layer with an injected lookup, so every value is a string, as from getenv.
#include <algorithm>
#include <exception>
#include <map>
#include <typeinfo>

#include "common/config_layers.hpp"
#include "fuzz/fuzz_util.hpp"
#include "peer/peer_config.hpp"
#include "rendezvous/server_config.hpp"
#if __has_include("common/json_fields.hpp")
#include "common/json_fields.hpp"
#define HAVE_JSON_FIELDS 1
#endif

namespace {

constexpr const char* harness = "config_resolve";
using json = nlohmann::json;

/// As config::load_file parses a file's text; nothing when it would throw.
std::optional<json> parse_file_text(std::string_view text) {
#ifdef HAVE_JSON_FIELDS
  auto parsed = wire::parse_bounded(text, /*ignore_comments=*/true);
  if (!parsed.error.empty()) return std::nullopt;
  json value = std::move(parsed.value);
#else
  json value = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/true);
  if (value.is_discarded()) return std::nullopt;
#endif
  if (!value.is_object()) return std::nullopt;
  fuzz::check_depth(harness, value, "the config file parser");
  return value;
}

template <typename F>
void only_runtime_error(const char* what, F&& resolve) {
  try {
    resolve();
  } catch (const std::runtime_error& e) {
    FUZZ_CHECK(harness, *e.what() != '\0', std::string(what) + " refused without saying why");
  } catch (const std::exception& e) {
    fuzz::fail(harness, std::string(what) + " threw " + typeid(e).name() + " (not std::runtime_error): " + e.what());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto parts = fuzz::split_nul(fuzz::as_text(data, size), 3);
  auto file = parse_file_text(parts[0]);
  if (!file) file = json::object();

  std::map<std::string, std::string> environment;
  if (parts.size() > 1) {
    std::string_view lines = parts[1];
    while (!lines.empty()) {
      const auto end = std::min(lines.find('\n'), lines.size());
      const auto line = lines.substr(0, end);
      const auto eq = line.find('=');
      if (eq != std::string_view::npos) environment[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
      lines.remove_prefix(std::min(end + 1, lines.size()));
    }
  }
  const config::env_lookup lookup = [&](const std::string& name) -> std::optional<std::string> {
    auto it = environment.find(name);
    if (it == environment.end()) return std::nullopt;
    return it->second;
  };

  json flags = json::object();
  if (parts.size() > 2) {
    flags = json::parse(parts[2].begin(), parts[2].end(), nullptr, /*allow_exceptions=*/false);
    if (!flags.is_object() || fuzz::json_depth(flags) > fuzz::nesting_cap) flags = json::object();
  }

  // The environment layers rendezvous/main.cpp and peer/main.cpp build, plus any "key=value"
  // line whose name is a setting: settings as text, the way the environment hands numbers over.
  json server_env = config::env_layer(lookup, {{"RENDEZVOUS_TOKEN", "token"}, {"RENDEZVOUS_STATE", "state"}});
  json peer_env = config::env_layer(lookup, {{"PEER_SERVER", "server"}, {"PEER_ID", "id"}, {"PEER_TOKEN", "token"}});
  for (const auto& [name, value] : environment) {
    if (std::find(std::begin(rendezvous::server_config_keys), std::end(rendezvous::server_config_keys), name) !=
        std::end(rendezvous::server_config_keys)) {
      server_env[name] = value;
    }
    if (std::find(std::begin(peer::peer_config_keys), std::end(peer::peer_config_keys), name) !=
        std::end(peer::peer_config_keys)) {
      peer_env[name] = value;
    }
  }

  only_runtime_error("resolve_server_config", [&] {
    const auto config = rendezvous::resolve_server_config(*file, server_env, flags);
    FUZZ_CHECK(harness, config.peer_timeout_s > 0 && config.max_peers > 0, "accepted a non-positive setting");
    FUZZ_CHECK(harness, config.expose_first <= config.expose_last, "accepted an inverted expose range");
  });
  only_runtime_error("resolve_peer_config", [&] {
    const auto config = peer::resolve_peer_config(*file, peer_env, flags);
    FUZZ_CHECK(harness, config.path == "auto" || config.path == "direct" || config.path == "relay", "accepted a bad path");
    FUZZ_CHECK(harness, config.punch_timeout.count() >= 500 && config.punch_timeout.count() <= 600'000,
               "punch_timeout out of range: " + std::to_string(config.punch_timeout.count()));
    FUZZ_CHECK(harness, config.dead_after.count() >= 1000 && config.dead_after.count() <= 3'600'000,
               "dead_after out of range: " + std::to_string(config.dead_after.count()));
    for (const auto& route : config.routes) FUZZ_CHECK(harness, route.remote_port > 0, "accepted remote_port 0");
  });
  return 0;
}
