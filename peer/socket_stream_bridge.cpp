#include "peer/socket_stream_bridge.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/write.hpp>

namespace peer {
namespace {

/// Bytes read from the local socket at a time (sealed as records of up to 64 KiB each).
constexpr std::size_t chunk_size = 256 * 1024;

net::awaitable<void> socket_to_stream(net::tcp::socket& socket, std::shared_ptr<session::stream> stream,
                                      socket_bridge_result& result) {
  std::vector<std::uint8_t> buffer(chunk_size);
  for (;;) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), net::use_nothrow);
    if (ec == asio::error::eof) {
      const auto error = stream->shutdown_send();
      if (!error.empty() && result.error.empty()) result.error = error;
      result.to_stream_finished = error.empty();
      co_return;
    }
    if (ec) {
      if (result.error.empty()) result.error = "local connection: " + ec.message();
      stream->reset(result.error);
      co_return;
    }
    // (GCC 12 mishandles a co_await result destroyed inside an if condition: keep it in a local.)
    const auto error = co_await stream->write(std::span(buffer).first(n));
    if (!error.empty()) {
      if (result.error.empty()) result.error = error;
      std::error_code ignored;
      socket.shutdown(net::tcp::socket::shutdown_both, ignored);
      co_return;
    }
    result.to_stream += n;
  }
}

net::awaitable<void> stream_to_socket(net::tcp::socket& socket, std::shared_ptr<session::stream> stream,
                                      socket_bridge_result& result) {
  // The stream's own buffers go to the socket in one gathered write: no copy in between.
  std::vector<std::vector<std::uint8_t>> taken;
  std::vector<asio::const_buffer> pieces;
  std::error_code ignored;
  for (;;) {
    auto chunk = co_await stream->readable();
    if (!chunk.error.empty()) {
      if (result.error.empty()) result.error = chunk.error;
      socket.shutdown(net::tcp::socket::shutdown_both, ignored);  // ends the other direction too
      co_return;
    }
    if (chunk.eof) {
      socket.shutdown(net::tcp::socket::shutdown_send, ignored);
      result.from_stream_finished = true;
      co_return;
    }
    stream->take_buffered(taken);
    pieces.clear();
    for (const auto& piece : taken) pieces.emplace_back(piece.data(), piece.size());
    auto [ec, n] = co_await asio::async_write(socket, pieces, net::use_nothrow);
    stream->recycle(taken);
    if (ec) {
      if (result.error.empty()) result.error = "local connection: " + ec.message();
      stream->reset(result.error);
      co_return;
    }
    result.from_stream += n;
  }
}

}  // namespace

net::awaitable<socket_bridge_result> bridge_socket(net::tcp::socket socket, std::shared_ptr<session::stream> stream) {
  using namespace asio::experimental::awaitable_operators;
  socket_bridge_result result;
  std::error_code ignored;
  socket.set_option(net::tcp::no_delay(true), ignored);
  // A reset or the session's end must end the bridge even after one direction finished cleanly
  // (a read of a stream whose peer has half-closed never sees it).
  auto watch = [&]() -> net::awaitable<void> {
    co_await stream->wait_failed();
    if (result.error.empty()) result.error = stream->error();
  };
  co_await ((socket_to_stream(socket, stream, result) && stream_to_socket(socket, stream, result)) || watch());
  socket.close(ignored);
  // Both directions reached their end: whatever came after (a reset as the programs closed) is no failure.
  if (result.to_stream_finished && result.from_stream_finished) result.error.clear();
  co_return result;
}

}  // namespace peer
