#include "peer/expose_routes.hpp"

#include <deque>
#include <map>
#include <optional>
#include <utility>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "common/async_event.hpp"
#include "common/connect.hpp"
#include "common/crypto.hpp"
#include "common/frame_reader.hpp"
#include "common/json_fields.hpp"
#include "common/log_limiter.hpp"
#include "common/spawn.hpp"
#include "peer/exit_codes.hpp"
#include "peer/relay_join.hpp"
#include "relay/splice_pump.hpp"

namespace peer {
namespace {

constexpr auto connect_timeout = std::chrono::seconds(5);
/// Clients being joined, and pool connections being proved, at once: the relay port counts one
/// address's connections that have not shown their token or proof yet (64 by default), so a burst
/// of a thousand clients is joined a few dozen at a time.
constexpr int max_joins_in_flight = 56;

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

/// Connects the local service for a client `from`; a failure is logged (rate-limited: a service
/// that is down fails every client) and returned.
net::awaitable<std::error_code> connect_service(net::tcp::socket& local, const expose_route& route, const std::string& from) {
  auto error = co_await net::connect_within(local, route.local, connect_timeout);
  if (error) {
    client_failures().log(spdlog::level::warn, "expose: local service unreachable",
                          "expose: " + from + " -> " + net::to_string(route.local) + ": local service unreachable: " +
                              error.message());
  }
  co_return error;
}

/// Pumps one client between `joined` (to it, through the server) and the local service.
net::awaitable<void> pump_client(net::tcp::socket joined, net::tcp::socket local, const std::string& from,
                                 const std::string& local_name) {
  std::error_code ignored;
  local.set_option(net::tcp::no_delay(true), ignored);
  joined.set_option(net::tcp::no_delay(true), ignored);
  // Per-client lines at debug: a busy web service would write two lines a request at info.
  spdlog::debug("expose: {} -> {} open", from, local_name);
  auto stats = co_await relay::pump(joined, local, relay::pump_options{});
  spdlog::debug("expose: {} -> {} closed ({}): {} bytes in, {} bytes out", from, local_name, relay::to_string(stats.end),
                stats.a_to_b, stats.b_to_a);
}

/// One public client: connect the local service, then join it to the client through the relay.
net::awaitable<void> serve_client(std::shared_ptr<server_link> link, net::tcp::endpoint relay, std::string token,
                                  std::string from, expose_route route) {
  auto ex = co_await asio::this_coro::executor;
  auto slot = co_await join_slot::take();
  const auto local_name = net::to_string(route.local);
  net::tcp::socket local(ex);
  if (auto error = co_await connect_service(local, route, from)) {
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
  co_await pump_client(std::move(joined), std::move(local), from, local_name);
}

using route_map = std::map<std::uint16_t, expose_route>;

/// The pool's live connections, shared by the keeper and each connection.
struct pool_state {
  explicit pool_state(const asio::any_io_executor& ex) : changed(ex) {}
  int live = 0;       ///< connecting or idle at the server
  int failures = 0;   ///< in a row: connections that never got a client
  net::async_event changed;
};

/// What pool connections prove themselves with.
struct pool_access {
  net::tcp::endpoint relay;
  std::string owner;
  std::string secret;
};

/// Shows the relay port this connection is one of `access.owner`'s pool: true once it is idle there.
net::awaitable<bool> enter_pool(net::tcp::socket& joined, const pool_access& access) {
  const auto connect_error = co_await net::connect_within(joined, access.relay, connect_timeout);
  if (connect_error) co_return false;
  const nlohmann::json hello{{"type", "pool"}, {"owner", access.owner}};
  const auto hello_error = co_await wire::write_frame(joined, hello);
  if (hello_error) co_return false;
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(joined.get_executor(), connect_timeout);
  auto challenge = co_await (wire::read_exact_frame(joined) || timer.async_wait(net::use_nothrow));
  if (challenge.index() == 1) co_return false;
  const auto& read = std::get<0>(challenge);
  if (!read.message || read.message->value("type", "") != "pool_challenge") co_return false;
  const auto nonce = read.message->value("nonce", "");
  const nlohmann::json proof{{"type", "pool_proof"}, {"proof", crypto::hmac_hex(access.secret, "pool " + nonce)}};
  const auto proof_error = co_await wire::write_frame(joined, proof);
  co_return !proof_error;
}

/// One idle connection in the server's pool: waits for its client, then serves it.
net::awaitable<void> pool_connection(std::shared_ptr<const pool_access> access, std::shared_ptr<const route_map> routes,
                                     std::shared_ptr<pool_state> state) {
  auto ex = co_await asio::this_coro::executor;
  const auto opened = net::clock::now();
  net::tcp::socket joined(ex);
  bool got_client = false;
  nlohmann::json client;
  {
    auto slot = co_await join_slot::take();  // the relay port counts our unproven connections
    got_client = co_await enter_pool(joined, *access);
  }
  if (got_client) {
    std::error_code ignored;
    joined.set_option(net::tcp::no_delay(true), ignored);
    auto read = co_await wire::read_exact_frame(joined);  // idle until a client (the server expires us)
    got_client = read.message && read.message->value("type", "") == "client";
    if (got_client) client = std::move(*read.message);
  }
  --state->live;  // used or lost: the keeper opens another
  // One the server let idle out (it expires them) is no failure; one that never got going is.
  const bool worked = got_client || net::clock::now() - opened >= std::chrono::seconds(10);
  state->failures = worked ? 0 : state->failures + 1;
  state->changed.notify_all();
  if (!got_client) co_return;
  std::uint16_t port = 0;
  std::string from;
  try {
    port = static_cast<std::uint16_t>(wire::int_field(client, "port", 0, 0, 65535));
    from = wire::string_field(client, "from", "?");
  } catch (const wire::field_error& e) {
    spdlog::warn("ignoring a malformed pool client from the server: {}", e.what());
    co_return;
  }
  const auto route = routes->find(port);
  if (route == routes->end()) co_return;
  net::tcp::socket local(ex);
  const auto error = co_await connect_service(local, route->second, from);
  if (error) co_return;  // closing the pool connection closes the client
  co_await pump_client(std::move(joined), std::move(local), from, net::to_string(route->second.local));
}

/// Opens our pool at the server, then keeps `size` connections in it while the link lives.
net::awaitable<void> keep_pool(std::weak_ptr<server_link> weak, std::string owner, std::shared_ptr<const route_map> routes,
                               int size) {
  auto ex = co_await asio::this_coro::executor;
  std::shared_ptr<const pool_access> access;
  {
    auto link = weak.lock();
    if (!link) co_return;
    const nlohmann::json request{{"type", "pool_open"}};
    nlohmann::json reply;
    try {
      reply = co_await link->request(request);
    } catch (const command_error&) {
      co_return;  // the link is gone; the next connected period opens a new pool
    }
    if (reply.value("type", "") != "pool_open") {
      spdlog::info("expose: the server keeps no connection pool for us ({}); clients are announced instead",
                   reply.value("message", "?"));
      co_return;
    }
    const auto relay_port = static_cast<std::uint16_t>(wire::int_field(reply, "relay_port", 0, 1, 65535));
    size = std::min(size, static_cast<int>(wire::int_field(reply, "max", size, 0, 1024)));
    access = std::make_shared<const pool_access>(
        pool_access{{link->server_endpoint().address(), relay_port}, owner, wire::string_field(reply, "secret")});
  }
  auto state = std::make_shared<pool_state>(ex);
  for (;;) {
    if (auto link = weak.lock(); !link || !link->is_open()) co_return;
    while (state->live < size) {
      ++state->live;
      asio::co_spawn(ex, pool_connection(access, routes, state), net::log_escaped("expose pool"));
    }
    // Sleep while the pool is full: woken when one is used or lost (checked first, so no wake-up
    // is missed), or after 10 s to see whether the link is still there.
    co_await state->changed.wait(net::clock::now() + std::chrono::seconds(10));
    // A pool that keeps failing backs off (up to 5 s).
    if (state->failures > 0) {
      asio::steady_timer pause(ex, std::chrono::milliseconds(std::min(5000, 100 << std::min(state->failures, 6))));
      co_await pause.async_wait(net::use_nothrow);
    }
  }
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

void serve_routes(const std::shared_ptr<server_link>& link, const peer_config& config) {
  route_map by_port;
  for (const auto& route : config.routes) by_port[route.remote_port] = route;
  if (config.expose_pool > 0) {
    asio::co_spawn(link->executor(), keep_pool(link, config.id, std::make_shared<const route_map>(by_port), config.expose_pool),
                   net::log_escaped("expose pool keeper"));
  }
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
