// wire::decode and wire::body_length (common/frame_codec.cpp) on a raw byte stream, read the way
// wire::frame_reader reads a socket: decode, drop `consumed` bytes, repeat. Properties: decode
// never reads past its input, `consumed` is the header plus the announced length, a frame cut
// short needs more, the decoded message is an object with a string "type" (message_channel relies
// on it without a check), no value nested deeper than the cap is handed out, and encode() of a
// decoded message decodes to the same message.
#include <variant>

#include "common/frame_codec.hpp"
#include "fuzz/fuzz_util.hpp"

namespace {
constexpr const char* harness = "frame_decode";
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::uint8_t> bytes(data, size);
  for (int frames = 0; frames < 64; ++frames) {
    const auto result = wire::decode(bytes);
    if (std::holds_alternative<wire::need_more>(result)) {
      if (bytes.size() >= wire::frame_header_size) {
        const auto announced = wire::body_length(bytes.first(wire::frame_header_size));
        FUZZ_CHECK(harness, std::holds_alternative<std::size_t>(announced), "need_more for a header body_length refuses");
        FUZZ_CHECK(harness, wire::frame_header_size + std::get<std::size_t>(announced) > bytes.size(),
                   "need_more although the whole announced frame is there");
      }
      return 0;
    }
    if (const auto* error = std::get_if<wire::decode_error>(&result)) {
      FUZZ_CHECK(harness, !error->reason.empty(), "decode_error without a reason");
      return 0;
    }
    const auto& frame = std::get<wire::decoded>(result);
    FUZZ_CHECK(harness, frame.consumed > wire::frame_header_size && frame.consumed <= bytes.size(),
               "consumed out of range: " + std::to_string(frame.consumed) + " of " + std::to_string(bytes.size()));
    const auto announced = wire::body_length(bytes.first(wire::frame_header_size));
    FUZZ_CHECK(harness, std::holds_alternative<std::size_t>(announced) &&
                            std::get<std::size_t>(announced) + wire::frame_header_size == frame.consumed,
               "consumed is not header + announced length");
    FUZZ_CHECK(harness, frame.consumed - wire::frame_header_size <= wire::max_frame_body, "frame over the cap accepted");
    const auto& message = frame.message;
    FUZZ_CHECK(harness, message.is_object(), "decoded message is not an object");
    const auto type = message.find("type");
    FUZZ_CHECK(harness, type != message.end() && type->is_string(), "decoded message has no string type");
    fuzz::check_depth(harness, message, "wire::decode");

    // Exactly the frame's bytes decode to the same; one byte fewer needs more.
    const auto exact = wire::decode(bytes.first(frame.consumed));
    FUZZ_CHECK(harness, std::holds_alternative<wire::decoded>(exact) && std::get<wire::decoded>(exact).message == message,
               "the frame alone decodes differently");
    FUZZ_CHECK(harness, std::holds_alternative<wire::need_more>(wire::decode(bytes.first(frame.consumed - 1))),
               "a frame one byte short does not need more");

    // Round trip through encode (dump); NaN/inf become null, so compare dumps.
    std::vector<std::uint8_t> again;
    try {
      again = wire::encode(message);
    } catch (const std::length_error&) {
      again.clear();  // the dump may be longer than the input (e.g. 1e5 -> 100000.0): a refusal, fine
    }
    if (!again.empty()) {
      const auto back = wire::decode(again);
      const auto* redecoded = std::get_if<wire::decoded>(&back);
      FUZZ_CHECK(harness, redecoded != nullptr, "encode(decode(x)) does not decode");
      FUZZ_CHECK(harness, redecoded->consumed == again.size(), "re-encoded frame not consumed whole");
      FUZZ_CHECK(harness, redecoded->message.dump() == message.dump(), "encode/decode round trip changed the message");
    }
    bytes = bytes.subspan(frame.consumed);
  }
  return 0;
}
