#include "common/frame_reader.hpp"

#include <asio/read.hpp>
#include <asio/write.hpp>

namespace wire {

net::awaitable<read_result> frame_reader::read(net::tcp::socket& socket) {
  constexpr std::size_t read_chunk = 16 * 1024;
  for (;;) {
    auto pending = std::span<const std::uint8_t>(buffer_).subspan(start_);
    auto result = decode(pending);
    if (auto* frame = std::get_if<decoded>(&result)) {
      start_ += frame->consumed;
      co_return read_result{std::move(frame->message), {}, {}};
    }
    if (auto* error = std::get_if<decode_error>(&result)) co_return read_result{std::nullopt, {}, error->reason};

    // Compact before growing so the buffer never holds more than one frame plus one chunk.
    if (start_ > 0) {
      buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(start_));
      start_ = 0;
    }
    const std::size_t used = buffer_.size();
    buffer_.resize(used + read_chunk);
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer_.data() + used, read_chunk), net::use_nothrow);
    buffer_.resize(used + n);
    if (ec) co_return read_result{std::nullopt, ec, {}};
  }
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

}  // namespace wire
