// Short names for the Asio pieces every layer uses.
#pragma once
#include <chrono>

#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

namespace net {

using tcp = asio::ip::tcp;
using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
template <typename T = void>
using awaitable = asio::awaitable<T>;

/// Completion token that returns (error_code, results...) instead of throwing: expected failures
/// (EOF, refused, timeout, cancelled) are handled where they happen.
inline constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);

/// Milliseconds since an arbitrary epoch, for log lines and RTT stamps.
inline long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now().time_since_epoch()).count();
}

/// Whole milliseconds from `since` until now.
inline long long ms_since(clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - since).count();
}

}  // namespace net
