// Layered settings: defaults < JSON config file < environment < command-line flags.
// Each layer is a JSON object of the keys it sets; later layers override earlier ones.
#pragma once
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace config {

/// Looks up an environment variable (injectable for tests).
using env_lookup = std::function<std::optional<std::string>(const std::string&)>;
/// The process environment.
std::optional<std::string> process_env(const std::string& name);

/// Reads a JSON object from a file; throws std::runtime_error naming the file on any problem.
nlohmann::json load_file(const std::string& path);
/// Builds a layer from environment variables: {{"ENV_NAME", "key"}, ...}.
nlohmann::json env_layer(const env_lookup& env, std::initializer_list<std::pair<const char*, const char*>> names);
/// Merges layers left to right (later wins) after checking that every key is one of `known`;
/// throws std::runtime_error naming an unknown key (catches typos in config files).
nlohmann::json merge(std::initializer_list<const nlohmann::json*> layers, std::span<const char* const> known);

}  // namespace config
