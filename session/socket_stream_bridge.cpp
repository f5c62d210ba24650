#include "session/socket_stream_bridge.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

namespace session {
namespace {

/// Bytes read from the local socket at a time (sealed as records of up to 64 KiB each): small
/// at first, since most connections are short (an HTTP request costs a small buffer, not a
/// large zero-filled one), and doubled each time a read fills it, for bulk transfers.
constexpr std::size_t first_chunk = 4 * 1024;
constexpr std::size_t largest_chunk = 256 * 1024;

net::awaitable<void> socket_to_stream(net::tcp::socket& socket, std::shared_ptr<stream> stream,
                                      socket_bridge_result& result) {
  std::vector<std::uint8_t> buffer(first_chunk);
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
    if (n == buffer.size() && buffer.size() < largest_chunk) buffer.resize(2 * buffer.size());
  }
}

net::awaitable<void> stream_to_socket(net::tcp::socket& socket, std::shared_ptr<stream> stream,
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

net::awaitable<socket_bridge_result> bridge_socket(net::tcp::socket socket, std::shared_ptr<stream> stream,
                                                   bridge_options options) {
  using namespace asio::experimental::awaitable_operators;
  socket_bridge_result own;
  socket_bridge_result& result = options.live ? *options.live : own;
  std::error_code ignored;
  socket.set_option(net::tcp::no_delay(true), ignored);
  // A reset or the session's end must end the bridge even after one direction finished cleanly
  // (a read of a stream whose peer has half-closed never sees it).
  auto watch = [&]() -> net::awaitable<void> {
    co_await stream->wait_failed();
    if (result.error.empty()) result.error = stream->error();
  };
  // Nothing moved either way for a whole period: the client went silent (checked once a period).
  auto idle_watch = [&]() -> net::awaitable<void> {
    asio::steady_timer timer(socket.get_executor());
    for (std::uint64_t seen = ~std::uint64_t{0};;) {
      timer.expires_after(options.idle_timeout);
      auto [ec] = co_await timer.async_wait(net::use_nothrow);
      if (ec) co_return;  // the bridge ended first
      const auto moved = result.to_stream + result.from_stream;
      if (moved == seen) break;
      seen = moved;
    }
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(options.idle_timeout).count();
    if (result.error.empty()) result.error = "idle for " + std::to_string(seconds) + " s";
    stream->reset(result.error);
  };
  auto both_ways = [&]() -> net::awaitable<void> {
    co_await (socket_to_stream(socket, stream, result) && stream_to_socket(socket, stream, result));
  };
  if (options.idle_timeout.count() > 0) {
    co_await (both_ways() || watch() || idle_watch());
  } else {
    co_await (both_ways() || watch());
  }
  socket.close(ignored);
  // Both directions reached their end: whatever came after (a reset as the programs closed) is no failure.
  if (result.to_stream_finished && result.from_stream_finished) result.error.clear();
  co_return result;
}

}  // namespace session
