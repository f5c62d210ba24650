#include "peer/reconnect_loop.hpp"

#include <optional>
#include <random>

#include "peer/exit_codes.hpp"

namespace peer {
namespace {

constexpr auto first_backoff = std::chrono::milliseconds(1000);
constexpr auto max_backoff = std::chrono::milliseconds(30000);

}  // namespace

net::awaitable<void> keep_connected(const event_sink& events, connected_period period) {
  auto ex = co_await asio::this_coro::executor;
  std::mt19937 rng(std::random_device{}());
  auto backoff = first_backoff;
  bool ever_worked = false;
  for (;;) {
    bool worked = false;
    std::string why;
    std::optional<std::chrono::milliseconds> told_when;  // the server said when to try again
    const auto link = std::make_shared<server_link>(ex);
    try {
      co_await period(link, worked);
      why = "lost the server";
    } catch (const retry_later_error& e) {
      if (!ever_worked && !worked) throw;
      why = e.what();
      told_when = e.after();
    } catch (const command_error& e) {
      // Before anything worked, a refusal or an unreachable server is the user's to fix now;
      // afterwards the server may be restarting, so keep trying.
      if (!ever_worked && !worked) throw;
      why = e.what();
    } catch (const std::exception& e) {
      why = e.what();
    }
    // Our account was refused: no retry can help until the operator acts.
    if (link->account_refusal()) throw command_error(exit_server, "the server refused our account: " + *link->account_refusal());
    ever_worked = ever_worked || worked;
    if (worked) backoff = first_backoff;
    // Jitter of +-25% so many peers do not reconnect in lockstep after a server restart.
    std::uniform_real_distribution<double> jitter(0.75, 1.25);
    auto wait = std::chrono::milliseconds(static_cast<long long>(backoff.count() * jitter(rng)));
    if (told_when) {
      // Our ID is held by a node whose lease runs out then (if that node is gone): just after
      // it, spread over 50-250 ms, and the backoff does not grow meanwhile.
      wait = *told_when + std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 250)(rng));
    }
    events.emit({{"event", "reconnecting"}, {"message", why}, {"in_ms", wait.count()}});
    asio::steady_timer timer(ex, wait);
    co_await timer.async_wait(net::use_nothrow);
    if (!told_when) backoff = std::min(max_backoff, backoff * 2);
  }
}

}  // namespace peer
