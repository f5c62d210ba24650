// Reading JSON that a peer (or a config file) wrote: parsing with a nesting cap, and typed,
// range-checked field accessors. Every handler reads client values through these, so a field of
// the wrong type, a number out of range or a value nested a thousand deep is a clear refusal,
// never undefined behaviour, a stack overflow, or an exception meant for bugs.
#pragma once
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace wire {

/// Deepest nesting of arrays and objects any message needs; deeper input is refused at parse.
inline constexpr int max_json_depth = 32;

/// A JSON value parsed from untrusted text, or why it was refused.
struct parsed_json {
  nlohmann::json value;  ///< discarded when `error` is set
  std::string error;     ///< empty on success
};

/// Parses `text`, refusing invalid JSON and nesting deeper than max_json_depth (the parser never
/// builds the deep value, so nothing recurses over it later).
parsed_json parse_bounded(std::string_view text, bool ignore_comments = false);

/// A field of a peer's message (or a setting) that has the wrong type or is out of range; the
/// message names the field and what it must be.
class field_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// An integral JSON value as a long long: an integer, or a float holding an exact integer within
/// ±2^53; with `allow_text`, also a decimal string (settings from the environment). Else nothing.
std::optional<long long> to_integer(const nlohmann::json& value, bool allow_text = false);

/// Integer field `key` in [min, max]; `fallback` when absent (or null); otherwise field_error.
long long int_field(const nlohmann::json& message, std::string_view key, long long fallback, long long min, long long max);
/// String field `key`; `fallback` when absent (or null); field_error when not a string.
std::string string_field(const nlohmann::json& message, std::string_view key, std::string fallback = {});
/// Boolean field `key`; `fallback` when absent (or null); field_error when not a boolean.
bool bool_field(const nlohmann::json& message, std::string_view key, bool fallback);
/// The request number a reply echoes: the "req" field if it is a usable integer, else 0. Never throws.
long long request_number(const nlohmann::json& message);

}  // namespace wire
