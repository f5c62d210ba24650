#include "peer/expose_command.hpp"

#include <spdlog/spdlog.h>

#include "peer/attempt_runner.hpp"
#include "peer/exit_codes.hpp"
#include "peer/expose_routes.hpp"
#include "peer/reconnect_loop.hpp"
#include "peer/secure_session.hpp"
#include "peer/server_link.hpp"

namespace peer {

namespace {

/// One connected period: claim every port, then serve the clients the server announces until the link drops.
net::awaitable<void> expose_once(const peer_config& config, const event_sink& events, const identity::key_pair& keys,
                                 std::shared_ptr<server_link> link, bool& worked) {
  co_await link->open(config.servers, config.token, &keys);
  co_await link->register_id(config.id);
  co_await claim_routes(*link, config, events);
  serve_routes(link, config);
  worked = true;
  while (auto event = co_await link->next_event()) {
    if (event->value("type", "") == "attempt") decline_attempt(*link, *event, "this ID only exposes ports (peer expose)");
  }
  throw std::runtime_error("lost the server (" + link->close_reason() + ")");
}

}  // namespace

net::awaitable<int> run_expose(const peer_config& config, const event_sink& events) {
  if (config.routes.empty()) {
    throw command_error(exit_usage, "expose needs --local HOST:PORT --remote-port N, or --expose LOCAL_HOST:PORT=REMOTE_PORT (or \"expose\" routes in --config)");
  }
  if (config.id.empty()) throw command_error(exit_usage, "expose needs an ID: --id NAME (or PEER_ID)");
  const auto keys = load_identity(config, events);
  co_await keep_connected(events, [&config, &events, keys](std::shared_ptr<server_link> link, bool& worked) {
    return expose_once(config, events, keys, std::move(link), worked);
  });
  co_return exit_ok;
}

}  // namespace peer
