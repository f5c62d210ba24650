// Session multiplexing frames (session/mux_frame.cpp): decode_frame on a record's plaintext, the
// payload readers, and re-encoding: a frame that decodes must encode back to the same bytes.
#include "fuzz/fuzz_util.hpp"
#include "session/mux_frame.hpp"

namespace {
constexpr const char* harness = "mux_frame";
using session::frame_kind;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> plaintext(data, size);
  const auto frame = session::decode_frame(plaintext);
  if (!frame) return 0;
  FUZZ_CHECK(harness, size >= session::frame_header_size, "decoded a frame shorter than its header");
  FUZZ_CHECK(harness, frame->payload.data() == data + session::frame_header_size &&
                          frame->payload.size() == size - session::frame_header_size,
             "payload does not point at the record's tail");
  const auto header = session::frame_header(frame->kind, frame->stream);
  FUZZ_CHECK(harness, std::equal(header.begin(), header.end(), data), "frame_header differs from the decoded header");

  std::vector<std::uint8_t> again;
  switch (frame->kind) {
    case frame_kind::window:
      FUZZ_CHECK(harness, frame->payload.size() == 4, "window payload not 4 bytes");
      again = session::encode_u32_frame(frame->kind, frame->stream, session::payload_u32(*frame));
      break;
    case frame_kind::ping:
    case frame_kind::pong:
    case frame_kind::ack:
      FUZZ_CHECK(harness, frame->payload.size() == 8, "ping/pong/ack payload not 8 bytes");
      again = session::encode_u64_frame(frame->kind, frame->stream, session::payload_u64(*frame));
      break;
    case frame_kind::open:
    case frame_kind::reset:
    case frame_kind::close:
      FUZZ_CHECK(harness, frame->payload.size() <= session::max_text_payload, "text payload over the cap");
      again = session::encode_frame(frame->kind, frame->stream, session::payload_text(*frame));
      break;
    case frame_kind::fin:
    case frame_kind::migrate:
      FUZZ_CHECK(harness, frame->payload.empty(), "fin or migrate with a payload");
      again = session::encode_frame(frame->kind, frame->stream);
      break;
    case frame_kind::data:
      FUZZ_CHECK(harness, !frame->payload.empty() && frame->payload.size() <= session::max_data_payload,
                 "data payload size out of range");
      again = session::encode_frame(frame->kind, frame->stream, frame->payload);
      break;
    default:
      fuzz::fail(harness, "decode_frame returned an unknown kind " + std::to_string(static_cast<int>(frame->kind)));
  }
  FUZZ_CHECK(harness, again.size() == size && std::equal(again.begin(), again.end(), data),
             "re-encoding a decoded frame gives other bytes");
  std::vector<std::uint8_t> appended;
  session::put_frame_header(appended, frame->kind, frame->stream);
  FUZZ_CHECK(harness, std::equal(appended.begin(), appended.end(), data), "put_frame_header differs");
  return 0;
}
