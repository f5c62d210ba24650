#include "common/config_layers.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "common/json_fields.hpp"

namespace config {

std::optional<std::string> process_env(const std::string& name) {
  if (const char* value = std::getenv(name.c_str())) return std::string(value);
  return std::nullopt;
}

nlohmann::json load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read config file " + path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto [parsed, error] = wire::parse_bounded(text, /*ignore_comments=*/true);
  if (parsed.is_discarded() && error == "not valid JSON") {
    // Where: the parser's own account names the line and column.
    try {
      const auto unused = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
      (void)unused;
    } catch (const nlohmann::json::parse_error& e) {
      const std::string what = e.what();
      const auto at = what.find("] ");
      error += ": " + (at == std::string::npos ? what : what.substr(at + 2));
    }
  }
  if (!error.empty()) throw std::runtime_error("config file " + path + " is " + error);
  if (!parsed.is_object()) throw std::runtime_error("config file " + path + " must hold a JSON object");
  return parsed;
}

nlohmann::json env_layer(const env_lookup& env, std::initializer_list<std::pair<const char*, const char*>> names) {
  nlohmann::json layer = nlohmann::json::object();
  for (const auto& [variable, key] : names) {
    if (auto value = env(variable)) layer[key] = *value;
  }
  return layer;
}

nlohmann::json merge(std::initializer_list<const nlohmann::json*> layers, std::span<const char* const> known) {
  nlohmann::json merged = nlohmann::json::object();
  for (const auto* layer : layers) {
    // (A named reference, not a structured binding: clang 14, which builds the fuzzers, cannot
    // capture a binding in the lambda.)
    for (const auto& item : layer->items()) {
      const std::string& key = item.key();
      const bool is_known = std::any_of(known.begin(), known.end(), [&](const char* k) { return key == k; });
      if (!is_known) throw std::runtime_error("unknown setting \"" + key + "\"");
      merged[key] = item.value();
    }
  }
  return merged;
}

}  // namespace config
