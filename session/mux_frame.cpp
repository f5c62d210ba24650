#include "session/mux_frame.hpp"

namespace session {
namespace {

void put_be(std::vector<std::uint8_t>& out, std::uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

std::uint64_t get_be(std::span<const std::uint8_t> in) {
  std::uint64_t value = 0;
  for (auto byte : in) value = (value << 8) | byte;
  return value;
}

/// Whether `size` is a legal payload size for `kind`.
bool payload_size_ok(frame_kind kind, std::size_t size) {
  switch (kind) {
    case frame_kind::data: return size > 0 && size <= max_data_payload;
    case frame_kind::open:
    case frame_kind::reset:
    case frame_kind::close: return size <= max_text_payload;
    case frame_kind::fin:
    case frame_kind::migrate: return size == 0;
    case frame_kind::window: return size == 4;
    case frame_kind::ping:
    case frame_kind::pong:
    case frame_kind::ack: return size == 8;
  }
  return false;
}

}  // namespace

std::array<std::uint8_t, 5> frame_header(frame_kind kind, std::uint32_t stream) {
  return {static_cast<std::uint8_t>(kind), static_cast<std::uint8_t>(stream >> 24), static_cast<std::uint8_t>(stream >> 16),
          static_cast<std::uint8_t>(stream >> 8), static_cast<std::uint8_t>(stream)};
}

void put_frame_header(std::vector<std::uint8_t>& out, frame_kind kind, std::uint32_t stream) {
  const auto header = frame_header(kind, stream);
  out.insert(out.end(), header.begin(), header.end());
}

std::vector<std::uint8_t> encode_frame(frame_kind kind, std::uint32_t stream, std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> out;
  out.reserve(frame_header_size + payload.size());
  put_frame_header(out, kind, stream);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::vector<std::uint8_t> encode_frame(frame_kind kind, std::uint32_t stream, const std::string& text) {
  const auto clipped = text.substr(0, max_text_payload);
  return encode_frame(kind, stream, std::span(reinterpret_cast<const std::uint8_t*>(clipped.data()), clipped.size()));
}

std::vector<std::uint8_t> encode_u32_frame(frame_kind kind, std::uint32_t stream, std::uint32_t value) {
  std::vector<std::uint8_t> out;
  put_frame_header(out, kind, stream);
  put_be(out, value, 4);
  return out;
}

std::vector<std::uint8_t> encode_u64_frame(frame_kind kind, std::uint32_t stream, std::uint64_t value) {
  std::vector<std::uint8_t> out;
  put_frame_header(out, kind, stream);
  put_be(out, value, 8);
  return out;
}

std::optional<mux_frame> decode_frame(std::span<const std::uint8_t> plaintext) {
  if (plaintext.size() < frame_header_size) return std::nullopt;
  const auto kind = static_cast<frame_kind>(plaintext[0]);
  if (plaintext[0] < 1 || plaintext[0] > static_cast<std::uint8_t>(frame_kind::ack)) return std::nullopt;
  mux_frame frame;
  frame.kind = kind;
  frame.stream = static_cast<std::uint32_t>(get_be(plaintext.subspan(1, 4)));
  frame.payload = plaintext.subspan(frame_header_size);
  if (!payload_size_ok(kind, frame.payload.size())) return std::nullopt;
  return frame;
}

std::uint32_t payload_u32(const mux_frame& frame) { return static_cast<std::uint32_t>(get_be(frame.payload)); }
std::uint64_t payload_u64(const mux_frame& frame) { return get_be(frame.payload); }
std::string payload_text(const mux_frame& frame) { return {frame.payload.begin(), frame.payload.end()}; }

}  // namespace session
