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
#include "peer/interruption.hpp"
#include "peer/relay_join.hpp"
#include "relay/splice_pump.hpp"
#include "session/expose_channel.hpp"
#include "session/session.hpp"
#include "session/socket_stream_bridge.hpp"

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

/// The live connections of a pool or of the channels, shared by the keeper and each connection.
struct pool_state {
  explicit pool_state(const asio::any_io_executor& ex) : changed(ex) {}
  int live = 0;       ///< connecting, or idle (a pool's) or open (a channel) at the server
  int failures = 0;   ///< in a row: connections that never got going
  net::async_event changed;
  std::vector<std::shared_ptr<session::session>> channels;  ///< open channels, closed when the link goes
};

/// Sleeps while every connection is there: woken when one is used or lost (checked first, so no
/// wake-up is missed), or after 10 s to see whether the link is still there. One that keeps
/// failing backs off (up to 5 s).
net::awaitable<void> wait_and_back_off(pool_state& state) {
  co_await state.changed.wait(net::clock::now() + std::chrono::seconds(10));
  if (state.failures > 0) {
    asio::steady_timer pause(co_await asio::this_coro::executor,
                             std::chrono::milliseconds(std::min(5000, 100 << std::min(state.failures, 6))));
    co_await pause.async_wait(net::use_nothrow);
  }
}

/// What pool connections and channels prove themselves with.
struct pool_access {
  net::tcp::endpoint relay;
  std::string owner;
  std::string secret;
  int max_pool = 64;     ///< idle pool connections the server keeps for us
  int max_channels = 0;  ///< channels the server carries for us (0: it has none)
};

/// Shows the relay port this connection is one of `access.owner`'s: true once it is idle in the
/// pool there, or (`channel`) a channel.
net::awaitable<bool> enter_pool(net::tcp::socket& joined, const pool_access& access, bool channel) {
  const auto connect_error = co_await net::connect_within(joined, access.relay, connect_timeout);
  if (connect_error) co_return false;
  nlohmann::json hello{{"type", "pool"}, {"owner", access.owner}};
  if (channel) hello["channel"] = true;
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

/// enter_pool within a join slot: the relay port counts our connections that have not proved
/// themselves yet, per address.
net::awaitable<bool> enter_in_turn(net::tcp::socket& socket, const pool_access& access, bool channel) {
  auto slot = co_await join_slot::take();
  co_return co_await enter_pool(socket, access, channel);
}

/// One idle connection in the server's pool: waits for its client, then serves it.
net::awaitable<void> pool_connection(std::shared_ptr<const pool_access> access, std::shared_ptr<const route_map> routes,
                                     std::shared_ptr<pool_state> state) {
  auto ex = co_await asio::this_coro::executor;
  const auto opened = net::clock::now();
  net::tcp::socket joined(ex);
  nlohmann::json client;
  bool got_client = co_await enter_in_turn(joined, *access, false);
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

/// Opens our pool at the server: what our pool connections and channels prove themselves with,
/// or null (the link is gone, or the server keeps no pool for us).
net::awaitable<std::shared_ptr<const pool_access>> open_pool(std::weak_ptr<server_link> weak, std::string owner) {
  auto link = weak.lock();
  if (!link) co_return nullptr;
  const nlohmann::json request{{"type", "pool_open"}};
  nlohmann::json reply;
  try {
    reply = co_await link->request(request);
  } catch (const command_error&) {
    co_return nullptr;  // the link is gone; the next connected period opens a new pool
  }
  if (reply.value("type", "") != "pool_open") {
    spdlog::info("expose: the server keeps no connection pool for us ({}); clients are announced instead",
                 reply.value("message", "?"));
    co_return nullptr;
  }
  const auto relay_port = static_cast<std::uint16_t>(wire::int_field(reply, "relay_port", 0, 1, 65535));
  auto access = std::make_shared<pool_access>(
      pool_access{{link->server_endpoint().address(), relay_port}, owner, wire::string_field(reply, "secret")});
  access->max_pool = static_cast<int>(wire::int_field(reply, "max", 64, 0, 1024));
  // A server from before channels does not offer them: its clients come through the pool or
  // announcements instead.
  access->max_channels = static_cast<int>(wire::int_field(reply, "channels", 0, 0, 64));
  co_return access;
}

/// One client the server carries on a channel: connect the local service, then bridge.
net::awaitable<void> serve_channel_client(std::shared_ptr<session::stream> stream, std::shared_ptr<const route_map> routes) {
  auto ex = co_await asio::this_coro::executor;
  std::uint16_t port = 0;
  std::string from;
  try {
    port = static_cast<std::uint16_t>(wire::int_field(stream->meta(), "port", 0, 0, 65535));
    from = wire::string_field(stream->meta(), "from", "?");
  } catch (const wire::field_error& e) {
    stream->reset(std::string(session::refused_prefix) + "malformed client stream: " + e.what());
    co_return;
  }
  const auto route = routes->find(port);
  if (route == routes->end()) {
    stream->reset(std::string(session::refused_prefix) + "port " + std::to_string(port) + " is not exposed by us");
    co_return;
  }
  const auto local_name = net::to_string(route->second.local);
  net::tcp::socket local(ex);
  if (const auto error = co_await connect_service(local, route->second, from)) {
    stream->reset("local service " + local_name + " unreachable: " + error.message());
    co_return;
  }
  spdlog::debug("expose: {} -> {} open", from, local_name);
  const auto result = co_await session::bridge_socket(std::move(local), stream);
  spdlog::debug("expose: {} -> {} closed{}: {} bytes in, {} bytes out", from, local_name,
                result.error.empty() ? "" : " (" + result.error + ")", result.from_stream, result.to_stream);
}

/// One channel: proved at the relay port, then a session on which the server opens a stream per
/// client, until either side ends it.
net::awaitable<void> channel_connection(std::shared_ptr<const pool_access> access, std::shared_ptr<const route_map> routes,
                                        std::shared_ptr<pool_state> state) {
  auto ex = co_await asio::this_coro::executor;
  const auto opened = net::clock::now();
  net::tcp::socket socket(ex);
  if (co_await enter_in_turn(socket, *access, true)) {
    auto channel = std::make_shared<session::session>(std::move(socket), session::unprotected, /*initiator=*/false,
                                                      std::vector<std::uint8_t>{}, session::expose_channel_options());
    state->channels.push_back(channel);
    interruption::process().track(channel);  // a signal closes it with a close record, as a peer session
    auto serve_streams = [&]() -> net::awaitable<void> {
      while (auto stream = co_await channel->accept_stream()) {
        asio::co_spawn(ex, serve_channel_client(std::move(stream), routes), net::log_escaped("expose channel client"));
      }
    };
    using namespace asio::experimental::awaitable_operators;
    co_await (channel->run() && serve_streams());
    spdlog::debug("expose: a channel to the server ended: {}", channel->end_reason());
    std::erase(state->channels, channel);
  }
  --state->live;
  // A channel that lasted is no failure when it ends; one that never got going is.
  const bool worked = net::clock::now() - opened >= std::chrono::seconds(10);
  state->failures = worked ? 0 : state->failures + 1;
  state->changed.notify_all();
}

/// Makes one pool connection or channel and serves it to its end.
using connection_task = net::awaitable<void> (*)(std::shared_ptr<const pool_access>, std::shared_ptr<const route_map>,
                                                 std::shared_ptr<pool_state>);

/// Keeps `count` connections made by `task` live while the link lives, then closes any channel
/// among them.
net::awaitable<void> keep_live(std::weak_ptr<server_link> weak, std::shared_ptr<const pool_access> access,
                               std::shared_ptr<const route_map> routes, int count, connection_task task) {
  auto ex = co_await asio::this_coro::executor;
  auto state = std::make_shared<pool_state>(ex);
  for (;;) {
    if (auto link = weak.lock(); !link || !link->is_open()) break;
    while (state->live < count) {
      ++state->live;
      asio::co_spawn(ex, task(access, routes, state), net::log_escaped("expose connection"));
    }
    co_await wait_and_back_off(*state);
  }
  for (const auto& channel : state->channels) channel->close("the exposing peer's server link ended");
}

/// Opens the pool, then keeps our channels and pool connections while the link lives.
net::awaitable<void> keep_server_connections(std::weak_ptr<server_link> weak, std::string owner,
                                             std::shared_ptr<const route_map> routes, int channels, int pool) {
  auto access = co_await open_pool(weak, owner);
  if (!access) co_return;
  auto ex = co_await asio::this_coro::executor;
  if (channels > 0 && access->max_channels == 0) {
    spdlog::info("expose: the server carries no channels; clients come through {}",
                 pool > 0 ? "the pool" : "announcements (a round trip each)");
  }
  channels = std::min(channels, access->max_channels);
  if (channels > 0) {
    asio::co_spawn(ex, keep_live(weak, access, routes, channels, channel_connection), net::log_escaped("expose channels"));
  }
  if (pool > 0) co_await keep_live(weak, access, routes, std::min(pool, access->max_pool), pool_connection);
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
                 {"server", net::to_string(net::host_port{link.server().host, route.remote_port})}});
  }
}

void serve_routes(const std::shared_ptr<server_link>& link, const peer_config& config) {
  route_map by_port;
  for (const auto& route : config.routes) by_port[route.remote_port] = route;
  if (config.expose_channels > 0 || config.expose_pool > 0) {
    asio::co_spawn(link->executor(),
                   keep_server_connections(link, config.id, std::make_shared<const route_map>(by_port),
                                           config.expose_channels, config.expose_pool),
                   net::log_escaped("expose connection keeper"));
  }
  // Weak: the handler lives in the link, and must not keep it alive.
  std::weak_ptr<server_link> weak = link;
  link->on_event("proxy", [weak, by_port](const nlohmann::json& event) {
    auto link = weak.lock();
    if (!link) return;
    std::uint16_t port = 0, relay_port = 0;
    std::string token, from;
    // A client that reached another node of a cluster waits at that node's relay.
    auto relay_host = link->server_endpoint().address();
    try {
      port = static_cast<std::uint16_t>(wire::int_field(event, "port", 0, 0, 65535));
      relay_port = static_cast<std::uint16_t>(wire::int_field(event, "relay_port", 0, 0, 65535));
      token = wire::string_field(event, "token");
      from = wire::string_field(event, "from", "?");
      if (const auto host = wire::string_field(event, "relay_host"); !host.empty()) {
        std::error_code ec;
        relay_host = asio::ip::make_address(host, ec);
        if (ec || relay_host.is_unspecified() || relay_host.is_multicast()) throw wire::field_error("relay_host is not an address");
      }
    } catch (const wire::field_error& e) {
      spdlog::warn("ignoring a malformed proxy announcement from the server: {}", e.what());
      return;
    }
    auto route = by_port.find(port);
    if (route == by_port.end()) return;
    const net::tcp::endpoint relay(relay_host, relay_port);
    asio::co_spawn(link->executor(), serve_client(link, relay, token, from, route->second), net::log_escaped("expose client"));
  });
}

}  // namespace peer
