// A many-waiter wake-up for coroutines on one thread: notify_all() wakes everyone waiting now.
// Waiters re-check their condition in a loop; on one thread nothing can slip in between the
// check and the wait, so no wake-up is lost.
#pragma once
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>

#include "common/net.hpp"

namespace net {

/// Wakes every coroutine waiting at the time of notify_all(); not remembered otherwise.
class async_event {
 public:
  explicit async_event(const asio::any_io_executor& ex) : timer_(ex, clock::time_point::max()) {}

  /// Wakes all current waiters.
  void notify_all() { timer_.cancel(); }

  /// Waits for a notify_all() or the deadline; returns false if the deadline passed.
  awaitable<bool> wait(clock::time_point deadline = clock::time_point::max()) {
    if (deadline == clock::time_point::max()) {
      co_await timer_.async_wait(use_nothrow);
      co_return true;
    }
    // A deadline needs a timer of its own: the shared timer's expiry belongs to every waiter.
    asio::steady_timer limit(timer_.get_executor(), deadline);
    using namespace asio::experimental::awaitable_operators;
    auto which = co_await (timer_.async_wait(use_nothrow) || limit.async_wait(use_nothrow));
    co_return which.index() == 0;
  }

 private:
  asio::steady_timer timer_;
};

}  // namespace net
