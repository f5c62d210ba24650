#include "peer/link_tending.hpp"

#include <asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "peer/exit_codes.hpp"
#include "peer/nat_probe.hpp"

namespace peer {
namespace {

/// The longest punch an initiator may ask of us (unless our own --punch-timeout is longer):
/// attempts are taken one at a time, so nobody may hold us for the initiator's 600 s maximum.
constexpr std::chrono::milliseconds max_incoming_punch{30'000};

}  // namespace

net::awaitable<void> open_and_register(server_link& link, const peer_config& config, const event_sink& events,
                                       const identity::key_pair& keys, bool probe) {
  co_await link.open(config.servers, config.token, &keys);
  if (!config.id.empty()) {
    const auto observed = co_await link.register_id(config.id);
    events.emit({{"event", "registered"}, {"id", config.id}, {"observed", observed}});
  }
  if (probe) co_await report_nat(link, /*follow=*/false);
}

net::awaitable<incoming_connection> next_incoming(server_link& link, const peer_config& config, const event_sink& events) {
  for (;;) {
    auto event = co_await link.next_event();
    if (!event) throw command_error(exit_server, "lost the server (" + link.close_reason() + ")");
    if (event->value("type", "") != "attempt") continue;
    incoming_connection in;
    in.started = net::clock::now();
    in.attempt = parse_attempt(*event);
    events.emit({{"event", "incoming"}, {"peer", in.attempt.peer}});
    in.attempt.punch_timeout = std::min(in.attempt.punch_timeout, std::max(config.punch_timeout, max_incoming_punch));
    in.result = co_await run_attempt(link, in.attempt, config.punch_timeout);
    co_return in;
  }
}

net::awaitable<void> tend_link_while_busy(server_link& link, const event_sink& events) {
  while (auto event = co_await link.next_event()) {
    try {
      if (event->value("type", "") == "attempt") decline_attempt(link, *event, "busy with another connection");
    } catch (const nlohmann::json::exception& e) {
      // A garbled event must not cancel the work running beside this loop.
      spdlog::warn("ignoring a malformed message from the server: {}", e.what());
    }
  }
  events.emit({{"event", "server_lost"}, {"message", link.close_reason()}});
  asio::steady_timer forever(co_await asio::this_coro::executor, net::clock::time_point::max());
  co_await forever.async_wait(net::use_nothrow);
}

}  // namespace peer
