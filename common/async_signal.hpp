// A one-waiter wake-up flag for coroutines on one thread: notify() before or during wait() wakes it.
#pragma once
#include <asio/steady_timer.hpp>

#include "common/net.hpp"

namespace net {

/// Wakes a single waiting coroutine; a notify with nobody waiting is remembered.
class async_signal {
 public:
  explicit async_signal(const asio::any_io_executor& ex) : timer_(ex) {}

  /// Wakes the waiter (or the next wait).
  void notify() {
    pending_ = true;
    timer_.cancel();
  }

  /// Waits for a notify or the deadline; returns true if notified.
  awaitable<bool> wait(clock::time_point deadline = clock::time_point::max()) {
    if (!pending_) {
      timer_.expires_at(deadline);
      co_await timer_.async_wait(use_nothrow);
    }
    const bool notified = pending_;
    pending_ = false;
    co_return notified;
  }

 private:
  asio::steady_timer timer_;
  bool pending_ = false;
};

}  // namespace net
