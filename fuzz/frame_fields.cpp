// Decoded messages (wire::decode, common/frame_codec.cpp) fed through the field reads the
// rendezvous and peer handlers do, to find a wrong-typed or out-of-range field that escapes as
// something the handler does not catch, or that is undefined behaviour (UBSan aborts).
//
// The input is a frame body (the harness adds the length header). What each read may throw:
//  - wire::int_field / string_field / bool_field (common/json_fields.hpp): only wire::field_error;
//    wire::to_integer and wire::request_number: nothing. (client_session::handle catches
//    field_error and nlohmann::json::exception; anything else reaches the "session failed" catch-all.)
//  - raw nlohmann reads still used on client input (value(k, "") / value(k, false) / get<string>
//    / get<vector<string>> / iterating value(k, array)): only nlohmann::json::exception.
// Set FUZZ_RAW_NUMERIC=1 to add raw value(k, <integer>) reads too: nlohmann casts a float to the
// integer type unchecked, so 1e300 is undefined behaviour (UBSan float-cast-overflow).
#include <array>
#include <cstdlib>
#include <exception>
#include <limits>
#include <typeinfo>
#include <variant>

#include "common/endpoint.hpp"
#include "common/frame_codec.hpp"
#include "common/identity.hpp"
#include "common/peer_id.hpp"
#include "fuzz/fuzz_util.hpp"
#if __has_include("nat/nat_report.hpp")
#include "nat/nat_report.hpp"
#define HAVE_NAT_REPORT 1
#endif
#if __has_include("common/json_fields.hpp")
#include "common/json_fields.hpp"
#define HAVE_JSON_FIELDS 1
#endif

namespace {

constexpr const char* harness = "frame_fields";
using json = nlohmann::json;

// Every field name a handler reads from a client or server message (rendezvous/*.cpp, peer/*.cpp,
// common/message_channel.cpp, nat/punch_handshake.cpp, session/handshake.cpp).
constexpr const char* known_keys[] = {
    "type", "req", "id", "target", "path", "port", "punch_timeout_ms", "proof", "key", "key_sig", "as", "token",
    "reason", "attempt", "message", "mapping", "filtering", "class", "private", "candidates", "hole_port",
    "relay_port", "relay_token", "peer_key", "delay_ms", "ids", "truncated", "total", "auth_required", "challenge",
    "observed", "endpoint", "nonce", "role", "callback", "ports", "alt_ip", "t", "version", "identity", "ephemeral",
    "aead", "sig", "code", "peer", "from", "mac", "kind", "public", "offset", "size", "mode", "hash", "families", "ipv4",
    "ipv6", "hosts", "alt_ips"};

std::string what_of(const std::exception& e) { return std::string(typeid(e).name()) + ": " + e.what(); }

/// Runs `read`; an exception other than `Allowed` is a finding.
template <typename Allowed, typename F>
void allow_only(const char* what, const std::string& key, F&& read) {
  try {
    read();
  } catch (const Allowed&) {
  } catch (const std::exception& e) {
    fuzz::fail(harness, std::string(what) + "(\"" + key + "\") threw " + what_of(e));
  } catch (...) {
    fuzz::fail(harness, std::string(what) + "(\"" + key + "\") threw a non-std exception");
  }
}

template <typename F>
void never_throws(const char* what, const std::string& key, F&& read) {
  try {
    read();
  } catch (const std::exception& e) {
    fuzz::fail(harness, std::string(what) + "(\"" + key + "\") threw " + what_of(e));
  }
}

void text_checks(const std::string& text) {
  // What handlers do with client strings: IDs, endpoints, keys.
  (void)wire::is_valid_peer_id(text);
  (void)net::parse_host_port(text);
  if (auto endpoint = net::parse_endpoint(text)) (void)net::to_string(*endpoint);
  if (auto key = identity::public_key_from_hex(text)) {
    (void)identity::fingerprint(*key);
    (void)identity::verify_hex(*key, "holepunch-server-auth-v1:challenge", text);
  }
}

void read_field(const json& message, const std::string& key) {
#ifdef HAVE_JSON_FIELDS
  never_throws("wire::request_number", key, [&] { (void)wire::request_number(message); });
  if (auto it = message.find(key); it != message.end()) {
    never_throws("wire::to_integer", key, [&] {
      const auto value = wire::to_integer(*it);
      if (value && it->is_number_float()) {
        FUZZ_CHECK(harness, static_cast<double>(*value) == it->get<double>(), "to_integer changed a float's value");
      }
      const auto text = wire::to_integer(*it, /*allow_text=*/true);
      if (value) FUZZ_CHECK(harness, text == value, "to_integer differs with allow_text on a number");
    });
  }
  constexpr std::array<std::array<long long, 2>, 4> ranges{{{0, 65535},
                                                            {1, 65535},
                                                            {0, 86'400'000},
                                                            {std::numeric_limits<long long>::min(),
                                                             std::numeric_limits<long long>::max()}}};
  for (const auto& range : ranges) {
    const long long min = range[0], max = range[1];  // (no structured binding: clang 14 cannot capture one)
    allow_only<wire::field_error>("wire::int_field", key, [&] {
      const auto v = wire::int_field(message, key, 7, min, max);
      FUZZ_CHECK(harness, v == 7 || (v >= min && v <= max), "int_field returned a value outside its range");
    });
  }
  allow_only<wire::field_error>("wire::string_field", key, [&] { text_checks(wire::string_field(message, key, "?")); });
  allow_only<wire::field_error>("wire::bool_field", key, [&] { (void)wire::bool_field(message, key, false); });
#endif

  // Raw nlohmann reads: a wrong type is a json::exception, which the handlers catch.
  using jex = json::exception;
  allow_only<jex>("json::value(k, \"\")", key, [&] { text_checks(message.value(key, "")); });
  allow_only<jex>("json::value(k, std::string)", key, [&] { (void)message.value(key, std::string("?")); });
  allow_only<jex>("json::value(k, false)", key, [&] { (void)message.value(key, false); });
  allow_only<jex>("json::value(k, json())", key, [&] { (void)(message.value(key, json()) == "probe"); });
  allow_only<jex>("find/is_string/get_ref", key, [&] {
    auto it = message.find(key);
    if (it != message.end() && it->is_string()) text_checks(it->get_ref<const std::string&>());
  });
  allow_only<jex>("at(k).get<string>", key, [&] { text_checks(message.at(key).get<std::string>()); });
  allow_only<jex>("value(k, array) entries", key, [&] {
    std::size_t n = 0;
    for (const auto& entry : message.value(key, json::array())) {
      if (++n > 16) break;
      if (entry.is_string()) text_checks(entry.get<std::string>());
    }
  });
  allow_only<jex>("get<vector<string>>", key, [&] {
    if (message.contains(key)) (void)message.at(key).get<std::vector<std::string>>();
  });
  allow_only<jex>("is_array + at(local)/at(remote_port)", key, [&] {
    auto it = message.find(key);
    if (it == message.end() || !it->is_array()) return;
    for (const auto& route : *it) {
      if (!route.is_object()) continue;
      (void)net::parse_host_port(route.at("local").get<std::string>());
    }
  });
  static const bool raw_numeric = std::getenv("FUZZ_RAW_NUMERIC") != nullptr;
  if (raw_numeric) {
    allow_only<jex>("json::value(k, 0LL)", key, [&] { (void)message.value(key, 0LL); });
    allow_only<jex>("json::value(k, 0)", key, [&] { (void)message.value(key, 0); });
    allow_only<jex>("json::value(k, uint16_t)", key, [&] { (void)message.value(key, std::uint16_t{0}); });
    allow_only<jex>("at(k).get<array<uint16_t,2>>", key, [&] {
      if (message.contains(key)) (void)message.at(key).get<std::array<std::uint16_t, 2>>();
    });
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > wire::max_frame_body) return 0;
  const auto frame = fuzz::frame_of(fuzz::as_text(data, size));
  const auto result = wire::decode(frame);
  const auto* decoded = std::get_if<wire::decoded>(&result);
  if (!decoded) return 0;
  const json& message = decoded->message;
  fuzz::check_depth(harness, message, "wire::decode");
  // common/message_channel.cpp reads the type with get_ref, unchecked: decode must guarantee it.
  FUZZ_CHECK(harness, message.is_object() && message.find("type") != message.end() && message.find("type")->is_string(),
             "decode handed out a message without a string type");

#ifdef HAVE_NAT_REPORT
  // A peer's nat_report, and the cluster store's copy of it another node reads: never a throw.
  never_throws("nat::report_from_json", "nat", [&] {
    const auto report = nat::report_from_json(message);
    (void)nat::to_json(report);
    (void)nat::no_direct_path(report, report, true);
  });
#endif
  for (const char* key : known_keys) read_field(message, key);
  std::size_t extra = 0;
  for (const auto& item : message.items()) {
    if (++extra > 32) break;
    read_field(message, item.key());
  }
  return 0;
}
