// STUN (nat/stun_codec.cpp): message_size on a header, then parse_binding_response on the whole
// message, as peer/stun_probe.cpp reads a server's answer. Byte 0 picks the transaction ID we
// expect: bit 0 set, the one in the message (so the ID check passes); clear, a fixed one.
// parse_binding_response may throw std::runtime_error, nothing else.
#include <exception>
#include <stdexcept>
#include <typeinfo>

#include "fuzz/fuzz_util.hpp"
#include "nat/stun_codec.hpp"

namespace {
constexpr const char* harness = "stun_response";
constexpr stun::transaction_id fixed_id{0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool id_from_message = data[0] & 1;
  const std::span<const std::uint8_t> message(data + 1, size - 1);

  // Any prefix may be offered to message_size (it must check the length itself).
  const auto whole = stun::message_size(message);
  if (whole) {
    FUZZ_CHECK(harness, *whole >= stun::header_size && (*whole - stun::header_size) % 4 == 0,
               "message_size returned an impossible size " + std::to_string(*whole));
    FUZZ_CHECK(harness, stun::message_size(message.first(stun::header_size)) == whole,
               "message_size depends on bytes past the header");
  }

  stun::transaction_id id = fixed_id;
  if (id_from_message && message.size() >= stun::header_size) std::copy(message.begin() + 8, message.begin() + 20, id.begin());

  // The whole input, and (as stun_probe does) exactly the announced size.
  for (int pass = 0; pass < 2; ++pass) {
    auto candidate = message;
    if (pass == 1) {
      if (!whole || *whole > message.size() || *whole == message.size()) break;
      candidate = message.first(*whole);
    }
    try {
      const auto response = stun::parse_binding_response(candidate, id);
      FUZZ_CHECK(harness, response.mapped.has_value(), "a response without a mapped address was accepted");
      FUZZ_CHECK(harness, stun::message_size(candidate) == candidate.size(), "accepted a message of the wrong size");
    } catch (const std::runtime_error&) {
    } catch (const std::exception& e) {
      fuzz::fail(harness, std::string("parse_binding_response threw ") + typeid(e).name() + ": " + e.what());
    }
  }

  const auto request = stun::binding_request(id);
  FUZZ_CHECK(harness, stun::message_size(request) == request.size(), "our own request is not a whole STUN message");
  return 0;
}
