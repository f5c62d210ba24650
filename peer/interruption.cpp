#include "peer/interruption.hpp"

#include <cstring>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

namespace peer {

interruption& interruption::process() {
  // Never destroyed: its timer belongs to an event loop that is gone by the time statics die.
  static auto* instance = new interruption;
  return *instance;
}

void interruption::raise(int signal) {
  if (signal_ == 0) signal_ = signal;
  if (raised_) raised_->notify_all();
}

std::string interruption::reason() const {
  const char* name = sigabbrev_np(signal_);
  return std::string("interrupted by SIG") + (name ? name : std::to_string(signal_).c_str());
}

net::awaitable<void> interruption::wait() {
  const auto ex = co_await asio::this_coro::executor;
  if (!raised_ || raised_executor_ != ex) {  // (tests run one event loop after another)
    raised_.emplace(ex);
    raised_executor_ = ex;
  }
  while (!raised()) co_await raised_->wait();
}

void interruption::track(const std::shared_ptr<session::session>& s) {
  std::erase_if(sessions_, [](const auto& weak) { return weak.expired(); });
  sessions_.push_back(s);
}

net::awaitable<void> interruption::close_sessions() {
  std::vector<std::shared_ptr<session::session>> live;
  for (auto& weak : sessions_) {
    if (auto s = weak.lock(); s && s->end_reason().empty()) live.push_back(std::move(s));
  }
  const auto why = reason();
  for (auto& s : live) s->close(why);
  if (!live.empty()) spdlog::info("{}: closing {} session(s)", why, live.size());
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer deadline(co_await asio::this_coro::executor, close_wait);
  auto all_ended = [&]() -> net::awaitable<void> {
    for (auto& s : live) co_await s->wait_ended();
  };
  co_await (all_ended() || deadline.async_wait(net::use_nothrow));
}

}  // namespace peer
