#include "relay/splice_pump.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <memory>
#include <optional>
#include <vector>

#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

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
  explicit pipe_pair(int capacity) : requested_(capacity) {
    if (::pipe2(fds_, O_CLOEXEC | O_NONBLOCK) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
    ::fcntl(fds_[1], F_SETPIPE_SZ, capacity);  // best effort: a smaller pipe still works
    capacity_ = ::fcntl(fds_[1], F_GETPIPE_SZ);
    static bool warned = false;
    if (capacity_ < capacity && !warned) {
      // Typically the per-user pipe memory limit (fs.pipe-user-pages-soft) for a non-root server.
      spdlog::warn("relay: pipes get {} bytes instead of {}: throughput will suffer", capacity_, capacity);
      warned = true;
    }
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
  int requested() const { return requested_; }

 private:
  int requested_;
  int fds_[2] = {-1, -1};
  int capacity_ = 0;
};

/// Empty pipes of ended pairs, kept for the next ones: a pair then costs no pipe2/fcntl/close
/// calls (ten system calls per pair, which a busy exposed port makes a thousand times a second).
/// Per thread, since every pump of a thread runs on its event loop; at most 32 pipes (64
/// descriptors, within the server's fixed allowance).
class pipe_pool {
 public:
  static constexpr std::size_t keep_at_most = 32;
  std::unique_ptr<pipe_pair> take(int capacity) {
    while (!free_.empty()) {
      auto pipe = std::move(free_.back());
      free_.pop_back();
      if (pipe->requested() == capacity) return pipe;
    }
    return std::make_unique<pipe_pair>(capacity);
  }
  /// Keeps `pipe` if it is empty (a pair that failed may leave bytes in it) and there is room.
  void give(std::unique_ptr<pipe_pair> pipe) {
    int queued = 0;
    if (!pipe || free_.size() >= keep_at_most || ::ioctl(pipe->read_end(), FIONREAD, &queued) != 0 || queued != 0) return;
    free_.push_back(std::move(pipe));
  }

 private:
  std::vector<std::unique_ptr<pipe_pair>> free_;
};

pipe_pool& pipes() {
  thread_local pipe_pool pool;
  return pool;
}

/// Shared by both directions and the idle watchdog of one pair.
struct pair_state {
  net::clock::time_point last_activity = net::clock::now();
  bool failed = false;
  bool stopped_by_idle = false;
  std::string detail;
};

/// What one attempt to take bytes from a socket found.
struct input {
  enum { data, end, wait, retry, error } kind;
  std::size_t size = 0;
  bool in_buffer = false;  ///< the bytes are in the plain buffer (urgent data), not in the pipe
  int error_number = 0;
};

/// Moves what `fd` has into the pipe. splice() stops at TCP urgent data (and returns 0 there when
/// a FIN is queued behind it), so when the socket is readable yet nothing moved, recv() reads
/// through into `buffer` instead (SO_OOBINLINE is on): nothing is lost or stalled.
input take_input(int fd, const pipe_pair& pipe, std::vector<char>& buffer, bool woke_readable) {
  const ssize_t got = ::splice(fd, nullptr, pipe.write_end(), nullptr, pipe.capacity(), SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (got > 0) return {input::data, static_cast<std::size_t>(got)};
  if (got < 0 && errno == EINTR) return {input::retry};
  if (got < 0 && errno != EAGAIN) return {input::error, 0, false, errno};
  char probe;
  if (got == 0 && ::recv(fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT) == 0) return {input::end};
  if (got < 0 && !woke_readable) return {input::wait};
  buffer.resize(64 * 1024);
  const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
  if (n > 0) return {input::data, static_cast<std::size_t>(n), true};
  if (n == 0) return {input::end};
  if (errno == EAGAIN || errno == EINTR) return {input::wait};
  return {input::error, 0, false, errno};
}

/// One direction: `from` -> pipe -> `to`, then shutdown(to, SHUT_WR) at EOF.
net::awaitable<void> pump_direction(net::tcp::socket& from, net::tcp::socket& to, pipe_pair& pipe, std::uint64_t& bytes,
                                    pair_state& state) {
  const auto fail = [&](const char* what, int error_number) {
    if (!state.failed) state.detail = std::string(what) + ": " + std::strerror(error_number);
    state.failed = true;
    std::error_code ignored;
    from.close(ignored);
    to.close(ignored);
  };
  // Another coroutine (the other direction, the watchdog, a stop) may close either socket while
  // we wait; its descriptor number may then already belong to a new connection. So after every
  // wait: both still open, and descriptors read afresh.
  const auto both_open = [&] { return from.is_open() && to.is_open(); };
  std::vector<char> urgent_buffer;
  bool woke_readable = false;
  while (both_open()) {
    const auto in = take_input(from.native_handle(), pipe, urgent_buffer, woke_readable);
    woke_readable = false;
    switch (in.kind) {
      case input::retry:
        continue;
      case input::error:
        fail("receive", in.error_number);
        co_return;
      case input::end: {
        std::error_code ignored;
        to.shutdown(net::tcp::socket::shutdown_send, ignored);  // propagate the half-close
        co_return;
      }
      case input::wait: {
        auto [ec] = co_await from.async_wait(net::tcp::socket::wait_read, net::use_nothrow);
        if (ec) co_return;  // closed by the other direction, the watchdog, or a stop
        woke_readable = true;
        continue;
      }
      case input::data:
        break;
    }
    state.last_activity = net::clock::now();
    const char* plain = in.in_buffer ? urgent_buffer.data() : nullptr;
    for (std::size_t left = in.size; left > 0;) {
      if (!both_open()) co_return;
      const ssize_t put = plain ? ::send(to.native_handle(), plain, left, MSG_DONTWAIT | MSG_NOSIGNAL)
                                : ::splice(pipe.read_end(), nullptr, to.native_handle(), nullptr, left,
                                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (put > 0) {
        left -= static_cast<std::size_t>(put);
        if (plain) plain += put;
        bytes += static_cast<std::uint64_t>(put);
        state.last_activity = net::clock::now();
        continue;
      }
      if (put < 0 && errno == EINTR) continue;
      if (put < 0 && errno != EAGAIN) {
        fail("send", errno);
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
  // Cancelled at the end of every pair (the directions finished first): end quietly, not with an
  // exception per connection (asio's default for a cancelled coroutine).
  co_await asio::this_coro::throw_if_cancelled(false);
  asio::steady_timer timer(a.get_executor());
  for (;;) {
    timer.expires_at(state.last_activity + idle_timeout);
    co_await timer.async_wait(net::use_nothrow);
    if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) co_return;
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
  pump_stats own;
  pump_stats& stats = options.live ? *options.live : own;
  pair_state state;
  std::error_code ignored;
  a.native_non_blocking(true, ignored);
  b.native_non_blocking(true, ignored);
  for (auto* socket : {&a, &b}) {
    // Small request/response traffic must not wait on Nagle at the relay hop; urgent data is
    // relayed as ordinary bytes.
    socket->set_option(net::tcp::no_delay(true), ignored);
    socket->set_option(asio::socket_base::out_of_band_inline(true), ignored);
  }
  std::unique_ptr<pipe_pair> a_to_b, b_to_a;
  try {
    a_to_b = pipes().take(options.pipe_bytes);
    b_to_a = pipes().take(options.pipe_bytes);
  } catch (const std::system_error& e) {
    // Out of descriptors, say: this pair fails, the server goes on.
    stats.end = pump_end::reset;
    stats.detail = e.what();
  }
  if (a_to_b && b_to_a) {
    co_await ((pump_direction(a, b, *a_to_b, stats.a_to_b, state) && pump_direction(b, a, *b_to_a, stats.b_to_a, state)) ||
              watch_idle(a, b, state, options.idle_timeout));
    if (state.failed) {
      stats.end = pump_end::reset;
      stats.detail = state.detail;
    } else if (state.stopped_by_idle) {
      stats.end = pump_end::idle;
    } else if (!a.is_open() || !b.is_open()) {
      stats.end = pump_end::stopped;
    }
  }
  a.close(ignored);
  b.close(ignored);
  pipes().give(std::move(a_to_b));
  pipes().give(std::move(b_to_a));
  co_return stats;
}

}  // namespace relay
