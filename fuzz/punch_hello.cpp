// The punch handshake's message checks (nat/punch_handshake.cpp): check_punch_hello on the other
// side's hello and is_valid_select on the initiator's select, as exchange_hellos / await_select
// call them after wire::decode. Neither may throw (they read hostile input with text_field).
//
// Input: [u8 flags][hello body] NUL [select body]. flags bit 0: we are the initiator.
#include <exception>
#include <variant>

#include "common/frame_codec.hpp"
#include "fuzz/fuzz_wire.hpp"
#include "nat/punch_handshake.hpp"

namespace {

constexpr const char* harness = "punch_hello";
const nat::attempt_secret secret{"a1b2c3d4e5f60718", "0123456789abcdef0123456789abcdef"};
const std::string my_nonce = "00112233445566778899aabbccddeeff";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto mine = (data[0] & 1) ? nat::role::initiator : nat::role::responder;
  const auto parts = fuzz::split_nul(fuzz::as_text(data + 1, size - 1), 2);
  try {
    (void)nat::parse_role(std::string(parts[0]));
    const auto hello = fuzz::decode_body(harness, parts[0]);
    if (!hello) return 0;
    std::string why;
    const auto nonce = nat::check_punch_hello(secret, mine, *hello, why);
    if (!nonce) {
      FUZZ_CHECK(harness, !why.empty(), "a refused hello without a reason");
      return 0;
    }
    FUZZ_CHECK(harness, nonce->size() >= 16 && nonce->size() <= 64, "accepted a nonce of size " + std::to_string(nonce->size()));
    FUZZ_CHECK(harness, hello->at("role") == nat::to_string(nat::other(mine)), "accepted a hello from our own role");
    const auto& initiator_nonce = mine == nat::role::initiator ? my_nonce : *nonce;
    const auto& responder_nonce = mine == nat::role::initiator ? *nonce : my_nonce;
    const auto expected = nat::select_mac(secret, initiator_nonce, responder_nonce);
    (void)nat::punch_proof(secret, mine, my_nonce, *nonce);
    if (parts.size() < 2) return 0;
    const auto select = fuzz::decode_body(harness, parts[1]);
    if (!select) return 0;
    const bool valid = nat::is_valid_select(*select, expected);
    if (valid) {
      FUZZ_CHECK(harness, select->value("mac", nlohmann::json()) == expected, "a select with another MAC was accepted");
    }
  } catch (const std::exception& e) {
    fuzz::fail(harness, std::string("the punch hello checks threw: ") + e.what());
  }
  return 0;
}
