#include "common/json_fields.hpp"

#include <charconv>
#include <cmath>
#include <limits>

namespace wire {

parsed_json parse_bounded(std::string_view text, bool ignore_comments) {
  bool too_deep = false;
  // The callback sees every start of an array or object with its depth; refusing one deeper than
  // the cap skips it without building it, and the flag refuses the whole message.
  const nlohmann::json::parser_callback_t cap = [&too_deep](int depth, nlohmann::json::parse_event_t event,
                                                            nlohmann::json&) {
    const bool opens = event == nlohmann::json::parse_event_t::object_start ||
                       event == nlohmann::json::parse_event_t::array_start;
    if (opens && depth >= max_json_depth) too_deep = true;
    return !too_deep;
  };
  parsed_json out;
  out.value = nlohmann::json::parse(text.begin(), text.end(), cap, /*allow_exceptions=*/false, ignore_comments);
  if (too_deep) {
    out.value = nlohmann::json(nlohmann::json::value_t::discarded);
    out.error = "JSON nested deeper than " + std::to_string(max_json_depth) + " levels";
  } else if (out.value.is_discarded()) {
    out.error = "not valid JSON";
  }
  return out;
}

std::optional<long long> to_integer(const nlohmann::json& value, bool allow_text) {
  if (value.is_number_unsigned()) {
    const auto v = value.get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<long long>::max())) return std::nullopt;
    return static_cast<long long>(v);
  }
  if (value.is_number_integer()) return value.get<long long>();
  if (value.is_number_float()) {
    const double v = value.get<double>();
    constexpr double exact_limit = 9007199254740992.0;  // 2^53: every integer below is exact
    if (!std::isfinite(v) || std::fabs(v) > exact_limit || v != std::trunc(v)) return std::nullopt;
    return static_cast<long long>(v);
  }
  if (allow_text && value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    long long v = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, v);
    if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
    return v;
  }
  return std::nullopt;
}

namespace {

const nlohmann::json* find_field(const nlohmann::json& message, std::string_view key) {
  if (!message.is_object()) return nullptr;
  auto it = message.find(key);
  if (it == message.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

long long int_field(const nlohmann::json& message, std::string_view key, long long fallback, long long min, long long max) {
  const auto* field = find_field(message, key);
  if (!field) return fallback;
  const auto value = to_integer(*field);
  if (!value || *value < min || *value > max) {
    throw field_error("field \"" + std::string(key) + "\" must be an integer from " + std::to_string(min) + " to " +
                      std::to_string(max));
  }
  return *value;
}

std::string string_field(const nlohmann::json& message, std::string_view key, std::string fallback) {
  const auto* field = find_field(message, key);
  if (!field) return fallback;
  if (!field->is_string()) throw field_error("field \"" + std::string(key) + "\" must be a string");
  return field->get<std::string>();
}

bool bool_field(const nlohmann::json& message, std::string_view key, bool fallback) {
  const auto* field = find_field(message, key);
  if (!field) return fallback;
  if (!field->is_boolean()) throw field_error("field \"" + std::string(key) + "\" must be true or false");
  return field->get<bool>();
}

long long request_number(const nlohmann::json& message) {
  const auto* field = find_field(message, "req");
  if (!field) return 0;
  return to_integer(*field).value_or(0);
}

}  // namespace wire
