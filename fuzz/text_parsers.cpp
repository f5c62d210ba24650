// Text a user or a peer hands us: HOST:PORT and IP:PORT (common/endpoint.cpp), peer IDs
// (common/peer_id.cpp), key references and hex keys (common/identity.cpp). Properties: no crash,
// printing a parsed value parses back to the same value, and the ID rule is exactly
// "1 to 64 of A-Z a-z 0-9 . _ -".
#include <algorithm>
#include <exception>

#include "common/endpoint.hpp"
#include "common/identity.hpp"
#include "common/peer_id.hpp"
#include "fuzz/fuzz_util.hpp"

namespace {

constexpr const char* harness = "text_parsers";

bool id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = fuzz::as_text(data, size);
  try {
    // HOST:PORT
    if (const auto parsed = net::parse_host_port(text)) {
      FUZZ_CHECK(harness, !parsed->host.empty(), "parsed an empty host from '" + std::string(text) + "'");
      const auto printed = net::to_string(*parsed);
      const auto again = net::parse_host_port(printed);
      FUZZ_CHECK(harness, again && again->host == parsed->host && again->port == parsed->port,
                 "'" + std::string(text) + "' -> host '" + parsed->host + "' -> '" + printed +
                     "' does not parse back to the same host and port");
    }
    // IP:PORT
    if (const auto endpoint = net::parse_endpoint(text)) {
      const auto printed = net::to_string(*endpoint);
      const auto again = net::parse_endpoint(printed);
      FUZZ_CHECK(harness, again && *again == *endpoint,
                 "endpoint '" + std::string(text) + "' -> '" + printed + "' does not parse back to itself");
    }
    // Peer IDs.
    const bool valid = wire::is_valid_peer_id(text);
    const bool expected = !text.empty() && text.size() <= wire::max_peer_id_length &&
                          std::all_of(text.begin(), text.end(), id_char);
    FUZZ_CHECK(harness, valid == expected, "is_valid_peer_id disagrees with the documented rule");
    // Keys and fingerprints.
    const bool reference = identity::is_key_reference(text);
    if (const auto key = identity::public_key_from_hex(text)) {
      FUZZ_CHECK(harness, reference, "a hex public key is not a key reference");
      FUZZ_CHECK(harness, identity::matches(*key, text), "a key does not match its own hex");
      FUZZ_CHECK(harness, identity::matches(*key, identity::fingerprint(*key)), "a key does not match its fingerprint");
      FUZZ_CHECK(harness, identity::public_key_from_hex(identity::to_hex(*key)) == key, "hex round trip changed the key");
    }
    static const identity::public_key zero{};
    (void)identity::matches(zero, text);
  } catch (const std::exception& e) {
    fuzz::fail(harness, std::string("a text parser threw: ") + e.what());
  }
  return 0;
}
