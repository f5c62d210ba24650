#include "relay/splice_pump.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <asio/experimental/awaitable_operators.hpp>

namespace relay {

using namespace asio::experimental::awaitable_operators;

const char* to_string(pump_end end) {
  switch (end) {
    case pump_end::both_closed: return "both sides closed";
    case pump_end::reset: return "a side failed";
    case pump_end::idle: return "idle timeout";
    case pump_end::stopped: return "stopped";
  }
  return "?";
}

namespace {

/// A pipe that closes itself.
class pipe_pair {
 public:
  explicit pipe_pair(int capacity) {
    if (::pipe2(fds_, O_CLOEXEC | O_NONBLOCK) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    ::fcntl(fds_[1], F_SETPIPE_SZ, capacity);  // best effort: a smaller pipe still works
    capacity_ = ::fcntl(fds_[1], F_GETPIPE_SZ);
  }
  ~pipe_pair() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  pipe_pair(const pipe_pair&) = delete;
  pipe_pair& operator=(const pipe_pair&) = delete;
  int read_end() const { return fds_[0]; }
  int write_end() const { return fds_[1]; }
  std::size_t capacity() const { return static_cast<std::size_t>(capacity_); }

 private:
  int fds_[2] = {-1, -1};
  int capacity_ = 0;
};

/// Shared by both directions and the idle watchdog of one pair.
struct pair_state {
  net::clock::time_point last_activity = net::clock::now();
  bool failed = false;
  bool stopped_by_idle = false;
  std::string detail;
};

/// One direction: `from` -> pipe -> `to`, then shutdown(to, SHUT_WR) at EOF.
net::awaitable<void> pump_direction(net::tcp::socket& from, net::tcp::socket& to, std::uint64_t& bytes,
                                    pair_state& state, int pipe_bytes, net::tcp::socket& other_for_reset) {
  pipe_pair pipe(pipe_bytes);
  const int in = from.native_handle();
  const int out = to.native_handle();
  const auto fail = [&](const std::string& what) {
    if (!state.failed) state.detail = what;
    state.failed = true;
    std::error_code ignored;
    from.close(ignored);
    other_for_reset.close(ignored);
  };
  for (;;) {
    const ssize_t got = ::splice(in, nullptr, pipe.write_end(), nullptr, pipe.capacity(), SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (got == 0) {
      std::error_code ignored;
      to.shutdown(net::tcp::socket::shutdown_send, ignored);  // propagate the half-close
      co_return;
    }
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) {
        fail(std::string("receive: ") + std::strerror(errno));
        co_return;
      }
      auto [ec] = co_await from.async_wait(net::tcp::socket::wait_read, net::use_nothrow);
      if (ec) co_return;  // closed by the other direction, the watchdog, or a stop
      continue;
    }
    state.last_activity = net::clock::now();
    std::size_t left = static_cast<std::size_t>(got);
    while (left > 0) {
      const ssize_t put = ::splice(pipe.read_end(), nullptr, out, nullptr, left, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (put > 0) {
        left -= static_cast<std::size_t>(put);
        bytes += static_cast<std::uint64_t>(put);
        state.last_activity = net::clock::now();
        continue;
      }
      if (put < 0 && errno == EINTR) continue;
      if (put < 0 && errno != EAGAIN) {
        fail(std::string("send: ") + std::strerror(errno));
        co_return;
      }
      // The receiver is slow: wait for room. Nothing more is read meanwhile (backpressure).
      auto [ec] = co_await to.async_wait(net::tcp::socket::wait_write, net::use_nothrow);
      if (ec) co_return;
    }
  }
}

net::awaitable<void> watch_idle(net::tcp::socket& a, net::tcp::socket& b, pair_state& state,
                                std::chrono::milliseconds idle_timeout) {
  asio::steady_timer timer(a.get_executor());
  for (;;) {
    timer.expires_at(state.last_activity + idle_timeout);
    co_await timer.async_wait(net::use_nothrow);
    if (!a.is_open() && !b.is_open()) co_return;
    if (net::clock::now() >= state.last_activity + idle_timeout) {
      state.stopped_by_idle = true;
      std::error_code ignored;
      a.close(ignored);
      b.close(ignored);
      co_return;
    }
  }
}

}  // namespace

net::awaitable<pump_stats> pump(net::tcp::socket& a, net::tcp::socket& b, pump_options options) {
  pump_stats stats;
  pair_state state;
  a.native_non_blocking(true);
  b.native_non_blocking(true);
  // Small request/response traffic must not wait on Nagle at the relay hop.
  std::error_code ignored_option;
  a.set_option(net::tcp::no_delay(true), ignored_option);
  b.set_option(net::tcp::no_delay(true), ignored_option);
  co_await ((pump_direction(a, b, stats.a_to_b, state, options.pipe_bytes, b) &&
             pump_direction(b, a, stats.b_to_a, state, options.pipe_bytes, a)) ||
            watch_idle(a, b, state, options.idle_timeout));
  if (state.failed) {
    stats.end = pump_end::reset;
    stats.detail = state.detail;
  } else if (state.stopped_by_idle) {
    stats.end = pump_end::idle;
  } else if (!a.is_open() || !b.is_open()) {
    stats.end = pump_end::stopped;
  }
  std::error_code ignored;
  a.close(ignored);
  b.close(ignored);
  co_return stats;
}

}  // namespace relay
