// Reads whole frames from a TCP socket, keeping any bytes that arrive after the last frame.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "common/frame_codec.hpp"
#include "common/net.hpp"

namespace wire {

/// Outcome of one read: a message, or why there is none (socket error or undecodable bytes).
struct read_result {
  std::optional<nlohmann::json> message;
  std::error_code error;      ///< set when the socket failed or closed (asio::error::eof)
  std::string protocol_error;  ///< set when the bytes can never form a frame
};

/// Why a read gave no message, for a log line or an error.
inline std::string describe(const read_result& r) {
  return r.protocol_error.empty() ? (r.error ? r.error.message() : std::string("closed")) : r.protocol_error;
}

/// Buffers socket bytes and hands out frames; bounded to one maximal frame plus one read.
class frame_reader {
 public:
  frame_reader() = default;
  /// Starts with bytes an earlier reader already took from the socket.
  explicit frame_reader(std::vector<std::uint8_t> received) : buffer_(std::move(received)) {}
  /// Reads until one frame is whole (or the socket or codec fails).
  net::awaitable<read_result> read(net::tcp::socket& socket);
  /// For callback-driven readers: adds bytes taken from the socket...
  void feed(std::span<const std::uint8_t> bytes);
  /// ...and hands out the next whole frame: a message, a protocol error, or neither (need more).
  read_result next();
  /// Reads what the socket has now without waiting (into the thread's scratch buffer) and feeds
  /// it; returns the socket's error (would_block when it had nothing).
  std::error_code feed_from(net::tcp::socket& socket);
  /// Bytes received after the last decoded frame (e.g. the start of a raw data stream).
  std::vector<std::uint8_t> take_leftover();

 private:
  void release_if_idle();
  std::vector<std::uint8_t> buffer_;
  std::size_t start_ = 0;  ///< first unconsumed byte in buffer_
};

/// Reads exactly one frame and not a byte more, so raw data that follows stays in the socket
/// (used where the stream turns into spliced bytes right after one frame).
net::awaitable<read_result> read_exact_frame(net::tcp::socket& socket);

/// Writes one frame; returns the socket error, if any.
net::awaitable<std::error_code> write_frame(net::tcp::socket& socket, const nlohmann::json& message);

/// Writes one frame now if the socket's send buffer takes it without waiting (best effort, for a
/// refusal or eviction notice right before a close); the socket is left non-blocking.
void write_frame_now(net::tcp::socket& socket, const nlohmann::json& message);

}  // namespace wire
