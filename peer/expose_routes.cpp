#include "peer/expose_routes.hpp"

#include <map>
#include <optional>
#include <utility>

#include <asio/co_spawn.hpp>
#include <spdlog/spdlog.h>

#include "common/async_event.hpp"
#include "common/connect.hpp"
#include "common/json_fields.hpp"
#include "common/log_limiter.hpp"
#include "common/spawn.hpp"
#include "peer/exit_codes.hpp"
#include "peer/relay_join.hpp"
#include "relay/splice_pump.hpp"

namespace peer {
namespace {

constexpr auto connect_timeout = std::chrono::seconds(5);
/// Clients being connected and joined at once: the relay port counts one address's connections
/// that have not shown their token yet (64 by default), so a burst of a thousand clients is
/// joined a few dozen at a time.
constexpr int max_joins_in_flight = 32;

/// Waits for a join slot; the slot is freed when the holder is destroyed.
class join_slot {
 public:
  static net::awaitable<join_slot> take() {
    auto& state = shared(co_await asio::this_coro::executor);
    while (state.in_flight >= max_joins_in_flight) co_await state.freed->wait();
    ++state.in_flight;
    co_return join_slot(state);
  }
  join_slot(join_slot&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  join_slot(const join_slot&) = delete;
  ~join_slot() { release(); }
  void release() {
    if (!state_) return;
    --state_->in_flight;
    state_->freed->notify_all();
    state_ = nullptr;
  }

 private:
  struct slots {
    int in_flight = 0;
    std::optional<net::async_event> freed;
  };
  static slots& shared(const asio::any_io_executor& ex) {
    static auto* state = new slots;  // one process, one event loop (never destroyed: see interruption)
    if (!state->freed) state->freed.emplace(ex);
    return *state;
  }
  explicit join_slot(slots& state) : state_(&state) {}
  slots* state_;
};

/// A failing local service fails every client: one line per cause per 10 s, then a count.
logging::log_limiter& client_failures() {
  static logging::log_limiter limiter;
  limiter.flush();
  return limiter;
}

/// One public client: connect the local service, then join it to the client through the relay.
net::awaitable<void> serve_client(std::shared_ptr<server_link> link, net::tcp::endpoint relay, std::string token,
                                  std::string from, expose_route route) {
  auto ex = co_await asio::this_coro::executor;
  auto slot = co_await join_slot::take();
  const auto local_name = net::to_string(route.local);
  net::tcp::socket local(ex);
  if (auto error = co_await net::connect_within(local, route.local, connect_timeout)) {
    client_failures().log(spdlog::level::warn, "expose: local service unreachable",
                          "expose: " + from + " -> " + local_name + ": local service unreachable: " + error.message());
    link->send({{"type", "proxy_failed"}, {"token", token}, {"reason", local_name + ": " + error.message()}});
    co_return;
  }
  net::tcp::socket joined(ex);
  if (auto why = co_await join_relay(joined, relay, token, connect_timeout); !why.empty()) {
    client_failures().log(spdlog::level::warn, "expose: relay join failed", "expose: " + from + ": " + why);
    link->send({{"type", "proxy_failed"}, {"token", token}, {"reason", why}});
    co_return;
  }
  slot.release();
  std::error_code ignored;
  local.set_option(net::tcp::no_delay(true), ignored);
  joined.set_option(net::tcp::no_delay(true), ignored);
  // Per-client lines at debug: a busy web service would write two lines a request at info.
  spdlog::debug("expose: {} -> {} open", from, local_name);
  auto stats = co_await relay::pump(joined, local, relay::pump_options{});
  spdlog::debug("expose: {} -> {} closed ({}): {} bytes in, {} bytes out", from, local_name, relay::to_string(stats.end),
                stats.a_to_b, stats.b_to_a);
}

}  // namespace

net::awaitable<void> claim_routes(server_link& link, const peer_config& config, const event_sink& events) {
  for (const auto& route : config.routes) {
    const nlohmann::json request{{"type", "expose"}, {"port", route.remote_port}};
    auto reply = co_await link.request(request);
    if (reply.value("type", "") != "exposed") {
      // Taken by another peer, outside the server's expose_ports, or unbindable there: no retry
      // will change that (after a reconnect, keep_connected retries anyway: it may be our own
      // previous session the server has not seen die yet).
      throw command_error(exit_server, "the server refused to expose port " + std::to_string(route.remote_port) + ": " +
                                           reply.value("message", "no reason given"));
    }
    events.emit({{"event", "exposed"},
                 {"port", route.remote_port},
                 {"local", net::to_string(route.local)},
                 {"server", net::to_string(net::host_port{config.server.host, route.remote_port})}});
  }
}

void serve_routes(const std::shared_ptr<server_link>& link, const std::vector<expose_route>& routes) {
  std::map<std::uint16_t, expose_route> by_port;
  for (const auto& route : routes) by_port[route.remote_port] = route;
  // Weak: the handler lives in the link, and must not keep it alive.
  std::weak_ptr<server_link> weak = link;
  link->on_event("proxy", [weak, by_port](const nlohmann::json& event) {
    auto link = weak.lock();
    if (!link) return;
    std::uint16_t port = 0, relay_port = 0;
    std::string token, from;
    try {
      port = static_cast<std::uint16_t>(wire::int_field(event, "port", 0, 0, 65535));
      relay_port = static_cast<std::uint16_t>(wire::int_field(event, "relay_port", 0, 0, 65535));
      token = wire::string_field(event, "token");
      from = wire::string_field(event, "from", "?");
    } catch (const wire::field_error& e) {
      spdlog::warn("ignoring a malformed proxy announcement from the server: {}", e.what());
      return;
    }
    auto route = by_port.find(port);
    if (route == by_port.end()) return;
    const net::tcp::endpoint relay(link->server_endpoint().address(), relay_port);
    asio::co_spawn(link->executor(), serve_client(link, relay, token, from, route->second), net::log_escaped("expose client"));
  });
}

}  // namespace peer
