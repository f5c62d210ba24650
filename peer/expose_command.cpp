#include "peer/expose_command.hpp"

#include <random>

#include <asio/co_spawn.hpp>
#include <spdlog/spdlog.h>

#include "common/connect.hpp"
#include "common/endpoint.hpp"
#include "common/json_fields.hpp"
#include "common/spawn.hpp"
#include "peer/exit_codes.hpp"
#include "peer/reconnect_loop.hpp"
#include "peer/secure_session.hpp"
#include "peer/relay_join.hpp"
#include "peer/server_link.hpp"
#include "relay/splice_pump.hpp"

namespace peer {

namespace {

constexpr auto connect_timeout = std::chrono::seconds(5);

/// One public client: connect the local service, then join it to the client through the relay.
net::awaitable<void> serve_client(std::shared_ptr<server_link> link, net::tcp::endpoint relay, std::string token,
                                  std::string from, expose_route route) {
  auto ex = co_await asio::this_coro::executor;
  const auto local_name = net::to_string(route.local);
  net::tcp::socket local(ex);
  if (auto error = co_await net::connect_within(local, route.local, connect_timeout)) {
    spdlog::warn("expose: {} -> {}: local service unreachable: {}", from, local_name, error.message());
    link->send({{"type", "proxy_failed"}, {"token", token}, {"reason", local_name + ": " + error.message()}});
    co_return;
  }
  net::tcp::socket joined(ex);
  if (auto why = co_await join_relay(joined, relay, token, connect_timeout); !why.empty()) {
    spdlog::warn("expose: {}: {}", from, why);
    link->send({{"type", "proxy_failed"}, {"token", token}, {"reason", why}});
    co_return;
  }
  local.set_option(net::tcp::no_delay(true));
  joined.set_option(net::tcp::no_delay(true));
  spdlog::info("expose: {} -> {} open", from, local_name);
  auto stats = co_await relay::pump(joined, local, relay::pump_options{});
  spdlog::info("expose: {} -> {} closed ({}): {} bytes in, {} bytes out", from, local_name, relay::to_string(stats.end),
               stats.a_to_b, stats.b_to_a);
}

/// One connected period: request every port, then serve announcements until the link drops.
net::awaitable<void> expose_once(const peer_config& config, const event_sink& events, const identity::key_pair& keys,
                                 std::shared_ptr<server_link> link, bool& worked) {
  auto ex = co_await asio::this_coro::executor;
  co_await link->open(config.server, config.token, &keys);
  co_await link->register_id(config.id);
  std::map<std::uint16_t, expose_route> by_port;
  for (const auto& route : config.routes) {
    const nlohmann::json request{{"type", "expose"}, {"port", route.remote_port}};
    auto reply = co_await link->request(request);
    if (reply.value("type", "") != "exposed") {
      const auto code = reply.value("code", "");
      const auto message = "port " + std::to_string(route.remote_port) + ": " + reply.value("message", "refused");
      if (code == "port_taken") throw std::runtime_error(message);  // maybe our previous session: retry
      throw command_error(exit_server, message);
    }
    by_port[route.remote_port] = route;
    events.emit({{"event", "exposed"},
                 {"port", route.remote_port},
                 {"local", net::to_string(route.local)},
                 {"server", net::to_string(net::host_port{config.server.host, route.remote_port})}});
  }
  worked = true;
  while (auto event = co_await link->next_event()) {
    if (event->value("type", "") != "proxy") continue;
    std::uint16_t port = 0, relay_port = 0;
    std::string token, from;
    try {
      port = static_cast<std::uint16_t>(wire::int_field(*event, "port", 0, 0, 65535));
      relay_port = static_cast<std::uint16_t>(wire::int_field(*event, "relay_port", 0, 0, 65535));
      token = wire::string_field(*event, "token");
      from = wire::string_field(*event, "from", "?");
    } catch (const wire::field_error& e) {
      spdlog::warn("ignoring a malformed proxy announcement from the server: {}", e.what());
      continue;
    }
    auto route = by_port.find(port);
    if (route == by_port.end()) continue;
    const net::tcp::endpoint relay(link->server_endpoint().address(), relay_port);
    asio::co_spawn(ex, serve_client(link, relay, token, from, route->second), net::log_escaped("expose client"));
  }
  throw std::runtime_error("lost the server (" + link->close_reason() + ")");
}

}  // namespace

net::awaitable<int> run_expose(const peer_config& config, const event_sink& events) {
  if (config.routes.empty()) {
    throw command_error(exit_usage, "expose needs --local HOST:PORT --remote-port N (or \"expose\" routes in --config)");
  }
  if (config.id.empty()) throw command_error(exit_usage, "expose needs an ID: --id NAME (or PEER_ID)");
  const auto keys = load_identity(config, events);
  co_await keep_connected(events, [&config, &events, keys](std::shared_ptr<server_link> link, bool& worked) {
    return expose_once(config, events, keys, std::move(link), worked);
  });
  co_return exit_ok;
}

}  // namespace peer
