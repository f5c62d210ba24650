#include "transfer/wire.hpp"

#include "common/json_fields.hpp"
#include "session/stream.hpp"

#include <cstring>

namespace transfer {
namespace {

constexpr std::size_t buffer_size = 256 * 1024;

}  // namespace

transfer_error stream_failure(const std::string& reason) {
  // The kind is the first word of the other side's reset reason, right after the session's own
  // words (or at the start): never a match further in, where a file name may say anything.
  std::string_view rest = reason;
  if (rest.starts_with(session::peer_reset_prefix)) rest.remove_prefix(std::strlen(session::peer_reset_prefix));
  for (const auto& [prefix, kind] : {std::pair{refusal_prefix, failure_kind::refused}, std::pair{busy_prefix, failure_kind::busy},
                                     std::pair{failure_prefix, failure_kind::failed}}) {
    if (rest.starts_with(prefix)) return transfer_error(std::string(rest.substr(std::strlen(prefix))), kind);
  }
  return transfer_error(reason);
}

std::string reset_reason(const transfer_error& error) {
  switch (error.kind()) {
    case failure_kind::refused: return refusal_prefix + std::string(error.what());
    case failure_kind::busy: return busy_prefix + std::string(error.what());
    case failure_kind::failed: break;
  }
  return failure_prefix + std::string(error.what());
}

stream_reader::stream_reader(std::shared_ptr<session::stream> stream)
    : stream_(std::move(stream)), buffer_(buffer_size) {}

net::awaitable<void> stream_reader::fill(const char* what) {
  if (begin_ == end_) begin_ = end_ = 0;
  if (end_ == buffer_.size()) {  // compact: only a partial message can be left at the front
    std::memmove(buffer_.data(), buffer_.data() + begin_, available());
    end_ -= begin_;
    begin_ = 0;
  }
  const auto got = co_await stream_->read_some(std::span(buffer_).subspan(end_));
  if (!got.error.empty()) throw stream_failure(got.error);
  if (got.eof) throw transfer_error(std::string("the other side ended the stream in the middle of ") + what);
  end_ += got.size;
}

net::awaitable<nlohmann::json> stream_reader::read_message() {
  while (available() < 4) co_await fill("a message");
  const auto* p = buffer_.data() + begin_;
  const std::size_t size = (std::size_t(p[0]) << 24) | (std::size_t(p[1]) << 16) | (std::size_t(p[2]) << 8) | p[3];
  if (size == 0 || size > max_message_size) {
    throw transfer_error("malformed transfer message: length " + std::to_string(size) + " (at most " +
                         std::to_string(max_message_size) + ")");
  }
  while (available() < 4 + size) co_await fill("a message");
  const auto* text = reinterpret_cast<const char*>(buffer_.data() + begin_ + 4);
  auto message = wire::parse_bounded(std::string_view(text, size)).value;
  begin_ += 4 + size;
  if (!message.is_object() || !message.contains("type") || !message["type"].is_string()) {
    throw transfer_error("malformed transfer message: not a JSON object with a type");
  }
  co_return message;
}

net::awaitable<std::span<const std::uint8_t>> stream_reader::read_data(std::size_t max) {
  if (available() == 0) co_await fill("file data");
  const auto n = std::min(max, available());
  const std::span<const std::uint8_t> data(buffer_.data() + begin_, n);
  begin_ += n;
  co_return data;
}

net::awaitable<void> stream_reader::expect_end() {
  if (available() != 0) throw transfer_error("unexpected data after the last message");
  const auto got = co_await stream_->read_some(buffer_);
  if (!got.error.empty()) throw stream_failure(got.error);
  if (!got.eof) throw transfer_error("unexpected data after the last message");
}

net::awaitable<void> write_message(session::stream& stream, const nlohmann::json& message) {
  const auto text = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > max_message_size) throw transfer_error("a transfer message would exceed 64 KiB");
  std::vector<std::uint8_t> frame(4 + text.size());
  const auto size = static_cast<std::uint32_t>(text.size());
  frame[0] = size >> 24;
  frame[1] = size >> 16;
  frame[2] = size >> 8;
  frame[3] = size;
  std::memcpy(frame.data() + 4, text.data(), text.size());
  co_await write_data(stream, frame);
}

net::awaitable<void> write_data(session::stream& stream, std::span<const std::uint8_t> data) {
  const auto error = co_await stream.write(data);
  if (!error.empty()) throw stream_failure(error);
}

std::string string_field(const nlohmann::json& message, const char* key) {
  auto it = message.find(key);
  if (it == message.end() || !it->is_string()) throw transfer_error(std::string("transfer message without a string '") + key + "'");
  return it->get<std::string>();
}

std::uint64_t size_field(const nlohmann::json& message, const char* key) {
  auto it = message.find(key);
  if (it == message.end() || !it->is_number_unsigned()) {
    throw transfer_error(std::string("transfer message without a size '") + key + "'");
  }
  return it->get<std::uint64_t>();
}

}  // namespace transfer
