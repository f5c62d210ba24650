// The plaintext of one session record: a multiplexing frame [u8 kind][u32 BE stream][payload].
// A pure codec; the session enforces windows, stream states and limits.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace session {

enum class frame_kind : std::uint8_t {
  open = 1,    ///< payload: the stream's JSON metadata (what it is for)
  data = 2,    ///< payload: stream bytes, within the receiver's window
  fin = 3,     ///< no payload: the sender will send no more on this stream (half-close)
  reset = 4,   ///< payload: a reason; the stream is dead both ways
  window = 5,  ///< payload: u32 BE credit the receiver grants the sender
  ping = 6,    ///< stream 0; payload: u64 BE stamp echoed by pong
  pong = 7,
  close = 8,   ///< stream 0; payload: a reason; the last record of a session
  migrate = 9,  ///< stream 0; no payload: the last record on this path, the next one is on the new path
  ack = 10,     ///< stream 0; payload: u64 BE count of the peer's records opened so far (frees its resend buffer)
};

inline constexpr std::size_t frame_header_size = 5;
/// Largest data payload in one frame (a record carries header + payload).
inline constexpr std::size_t max_data_payload = 64 * 1024;
/// Largest payload of open, reset and close frames.
inline constexpr std::size_t max_text_payload = 4096;

struct mux_frame {
  frame_kind kind = frame_kind::data;
  std::uint32_t stream = 0;
  std::span<const std::uint8_t> payload;  ///< points into the decoded record
};

/// The frame header for `kind` on `stream` (the payload follows).
std::array<std::uint8_t, 5> frame_header(frame_kind kind, std::uint32_t stream);
/// Appends the frame header for `kind` on `stream` to `out` (the payload follows).
void put_frame_header(std::vector<std::uint8_t>& out, frame_kind kind, std::uint32_t stream);
/// Encodes a whole frame.
std::vector<std::uint8_t> encode_frame(frame_kind kind, std::uint32_t stream, std::span<const std::uint8_t> payload = {});
std::vector<std::uint8_t> encode_frame(frame_kind kind, std::uint32_t stream, const std::string& text);
std::vector<std::uint8_t> encode_u32_frame(frame_kind kind, std::uint32_t stream, std::uint32_t value);
std::vector<std::uint8_t> encode_u64_frame(frame_kind kind, std::uint32_t stream, std::uint64_t value);

/// Decodes a record's plaintext; nothing if the kind is unknown or a payload has the wrong size.
std::optional<mux_frame> decode_frame(std::span<const std::uint8_t> plaintext);
/// The u32 / u64 payload of window / ping / pong frames.
std::uint32_t payload_u32(const mux_frame& frame);
std::uint64_t payload_u64(const mux_frame& frame);
std::string payload_text(const mux_frame& frame);

}  // namespace session
