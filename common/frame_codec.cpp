#include "common/frame_codec.hpp"

#include <stdexcept>

#include "common/json_fields.hpp"

namespace wire {

std::variant<std::size_t, decode_error> body_length(std::span<const std::uint8_t> header) {
  const std::size_t length = (std::size_t{header[0]} << 24) | (std::size_t{header[1]} << 16) |
                             (std::size_t{header[2]} << 8) | std::size_t{header[3]};
  if (length > max_frame_body) {
    return decode_error{"frame of " + std::to_string(length) + " bytes exceeds the " +
                        std::to_string(max_frame_body) + "-byte limit"};
  }
  if (length == 0) return decode_error{"empty frame"};
  return length;
}

decode_result decode(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < frame_header_size) return need_more{};
  const auto announced = body_length(bytes);
  if (auto* error = std::get_if<decode_error>(&announced)) return *error;
  const std::size_t length = std::get<std::size_t>(announced);
  if (bytes.size() < frame_header_size + length) return need_more{};

  auto body = bytes.subspan(frame_header_size, length);
  auto parsed = parse_bounded(std::string_view(reinterpret_cast<const char*>(body.data()), body.size()));
  if (!parsed.error.empty()) return decode_error{"frame body is " + parsed.error};
  auto& message = parsed.value;
  if (!message.is_object()) return decode_error{"frame body is not a JSON object"};
  auto type = message.find("type");
  if (type == message.end() || !type->is_string()) {
    return decode_error{"frame has no string \"type\" field"};
  }
  return decoded{std::move(message), frame_header_size + length};
}

std::vector<std::uint8_t> encode(const nlohmann::json& message) {
  const std::string body = message.dump();
  if (body.size() > max_frame_body) {
    throw std::length_error("message of " + std::to_string(body.size()) + " bytes exceeds the frame limit");
  }
  std::vector<std::uint8_t> out(frame_header_size + body.size());
  const auto n = static_cast<std::uint32_t>(body.size());
  out[0] = static_cast<std::uint8_t>(n >> 24);
  out[1] = static_cast<std::uint8_t>(n >> 16);
  out[2] = static_cast<std::uint8_t>(n >> 8);
  out[3] = static_cast<std::uint8_t>(n);
  std::copy(body.begin(), body.end(), out.begin() + frame_header_size);
  return out;
}

}  // namespace wire
