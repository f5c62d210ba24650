// The file-transfer wire on one session stream: length-prefixed JSON messages ([u32 length,
// big-endian][JSON], at most 64 KiB) between runs of raw file bytes whose length a message gave.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <nlohmann/json.hpp>

#include "session/stream.hpp"
#include "transfer/transfer_error.hpp"

namespace transfer {

inline constexpr std::size_t max_message_size = 64 * 1024;

/// Reads messages and raw bytes from a stream through one buffer. Every read throws
/// transfer_error when the stream fails, ends early, or a message is malformed or oversized.
class stream_reader {
 public:
  explicit stream_reader(std::shared_ptr<session::stream> stream);

  /// The next message, which must be a JSON object with a string "type".
  net::awaitable<nlohmann::json> read_message();
  /// Between 1 and `max` bytes of raw data, valid until the next read.
  net::awaitable<std::span<const std::uint8_t>> read_data(std::size_t max);
  /// Waits for the other side's end of data; throws if anything else arrives.
  net::awaitable<void> expect_end();

 private:
  /// Fills the buffer with at least one more byte; `what` names what was being read.
  net::awaitable<void> fill(const char* what);
  std::size_t available() const { return end_ - begin_; }

  std::shared_ptr<session::stream> stream_;
  std::vector<std::uint8_t> buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

/// Sends one message; throws transfer_error if the stream failed.
net::awaitable<void> write_message(session::stream& stream, const nlohmann::json& message);
/// Sends raw bytes; throws transfer_error if the stream failed.
net::awaitable<void> write_data(session::stream& stream, std::span<const std::uint8_t> data);

/// A field of a message, checked: throws transfer_error naming the field when it is missing or
/// of another type.
std::string string_field(const nlohmann::json& message, const char* key);
std::uint64_t size_field(const nlohmann::json& message, const char* key);

}  // namespace transfer
