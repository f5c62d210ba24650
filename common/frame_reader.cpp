#include "common/frame_reader.hpp"

#include <asio/read.hpp>
#include <asio/write.hpp>

namespace wire {

namespace {

/// Bytes read from a socket at a time, into one buffer shared by every reader on the thread.
constexpr std::size_t read_chunk = 16 * 1024;

}  // namespace

net::awaitable<read_result> frame_reader::read(net::tcp::socket& socket) {
  for (;;) {
    auto result = next();
    if (result.message || !result.protocol_error.empty()) co_return result;
    // Wait for bytes without a buffer of our own: an idle connection (a peer between heartbeats)
    // holds no read memory, and bytes land in the thread's scratch buffer, of which only what
    // is left of a partial frame is kept.
    auto [wait_ec] = co_await socket.async_wait(net::tcp::socket::wait_read, net::use_nothrow);
    if (wait_ec) co_return read_result{std::nullopt, wait_ec, {}};
    const auto ec = feed_from(socket);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) co_return read_result{std::nullopt, ec, {}};
  }
}

void frame_reader::feed(std::span<const std::uint8_t> bytes) {
  // Compact before growing so the buffer never holds more than one frame plus one chunk.
  if (start_ > 0) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(start_));
    start_ = 0;
  }
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

read_result frame_reader::next() {
  auto pending = std::span<const std::uint8_t>(buffer_).subspan(start_);
  auto result = decode(pending);
  if (auto* frame = std::get_if<decoded>(&result)) {
    start_ += frame->consumed;
    if (start_ == buffer_.size()) release_if_idle();
    return read_result{std::move(frame->message), {}, {}};
  }
  if (auto* error = std::get_if<decode_error>(&result)) return read_result{std::nullopt, {}, error->reason};
  return read_result{};
}

std::error_code frame_reader::feed_from(net::tcp::socket& socket) {
  thread_local std::vector<std::uint8_t> scratch(read_chunk);
  std::error_code ec;
  socket.non_blocking(true, ec);
  const std::size_t n = ec ? 0 : socket.read_some(asio::buffer(scratch), ec);
  if (n > 0) feed(std::span(scratch).first(n));
  return ec;
}

void frame_reader::release_if_idle() {
  // Everything handed out: keep no capacity a later burst left behind.
  start_ = 0;
  if (buffer_.capacity() > 512) std::vector<std::uint8_t>().swap(buffer_);
  else buffer_.clear();
}

std::vector<std::uint8_t> frame_reader::take_leftover() {
  std::vector<std::uint8_t> rest(buffer_.begin() + static_cast<std::ptrdiff_t>(start_), buffer_.end());
  buffer_.clear();
  start_ = 0;
  return rest;
}

net::awaitable<read_result> read_exact_frame(net::tcp::socket& socket) {
  std::vector<std::uint8_t> bytes(frame_header_size);
  auto [ec, n] = co_await asio::async_read(socket, asio::buffer(bytes), net::use_nothrow);
  if (ec) co_return read_result{std::nullopt, ec, {}};
  const auto announced = body_length(bytes);
  if (auto* error = std::get_if<decode_error>(&announced)) co_return read_result{std::nullopt, {}, error->reason};
  const std::size_t length = std::get<std::size_t>(announced);
  bytes.resize(frame_header_size + length);
  auto [body_ec, body_n] =
      co_await asio::async_read(socket, asio::buffer(bytes.data() + frame_header_size, length), net::use_nothrow);
  if (body_ec) co_return read_result{std::nullopt, body_ec, {}};
  auto result = decode(bytes);
  if (auto* error = std::get_if<decode_error>(&result)) co_return read_result{std::nullopt, {}, error->reason};
  co_return read_result{std::move(std::get<decoded>(result).message), {}, {}};
}

net::awaitable<std::error_code> write_frame(net::tcp::socket& socket, const nlohmann::json& message) {
  auto bytes = encode(message);
  auto [ec, n] = co_await asio::async_write(socket, asio::buffer(bytes), net::use_nothrow);
  co_return ec;
}

void write_frame_now(net::tcp::socket& socket, const nlohmann::json& message) {
  std::error_code ec;
  socket.non_blocking(true, ec);
  if (!ec) socket.write_some(asio::buffer(encode(message)), ec);
}

}  // namespace wire
