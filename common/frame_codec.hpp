// Wire codec: a frame is a u32 big-endian body length followed by a JSON object body.
// Pure functions, no I/O: the caller owns the bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace wire {

/// Largest body a frame may carry; a bigger length prefix is an error, never an allocation.
inline constexpr std::size_t max_frame_body = 64 * 1024;
/// Size of the length prefix.
inline constexpr std::size_t frame_header_size = 4;

/// Not enough bytes yet for a whole frame.
struct need_more {};
/// One whole frame: the message and how many input bytes it used.
struct decoded {
  nlohmann::json message;
  std::size_t consumed;
};
/// The bytes can never become a valid frame; the stream must be dropped.
struct decode_error {
  std::string reason;
};
using decode_result = std::variant<need_more, decoded, decode_error>;

/// The body length a 4-byte header announces, or why it can never start a frame.
std::variant<std::size_t, decode_error> body_length(std::span<const std::uint8_t> header);

/// Decodes the first frame in `bytes`. The body must be a JSON object with a string "type".
decode_result decode(std::span<const std::uint8_t> bytes);

/// Encodes a message as one frame; throws std::length_error if the body is over the cap.
std::vector<std::uint8_t> encode(const nlohmann::json& message);

}  // namespace wire
