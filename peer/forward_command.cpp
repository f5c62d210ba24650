#include "peer/forward_command.hpp"

#include <asio/co_spawn.hpp>
#include <spdlog/spdlog.h>

#include "common/peer_id.hpp"
#include "common/spawn.hpp"
#include "peer/exit_codes.hpp"
#include "peer/nat_probe.hpp"
#include "peer/secure_session.hpp"
#include "peer/session_pool.hpp"
#include "peer/socket_stream_bridge.hpp"

namespace peer {
namespace {

/// One local connection: a stream to the peer (on the shared session), bridged to it.
net::awaitable<void> forward_one(session_pool& pool, const peer_config& config, std::string peer,
                                 net::tcp::socket local) {
  const auto from = net::to_string(local.remote_endpoint());
  const auto target = net::to_string(*config.forward_target);
  std::shared_ptr<session::stream> stream;
  try {
    nlohmann::json meta{{"kind", "forward"}, {"target", target}};
    stream = co_await pool.open_stream(peer, std::move(meta));
  } catch (const command_error& e) {
    spdlog::warn("forward from {}: no stream to {}: {}", from, peer, e.what());
    co_return;  // closing `local` tells the local client at once
  }
  const auto result = co_await bridge_socket(std::move(local), stream);
  if (result.error.empty()) {
    spdlog::info("forward from {} to {} via {} done ({} bytes out, {} in)", from, target, peer, result.to_stream,
                 result.from_stream);
  } else {
    spdlog::warn("forward from {} to {} via {} ended: {}", from, target, peer, result.error);
  }
}

}  // namespace

net::awaitable<int> run_forward(const peer_config& config, const event_sink& events, const std::string& target_peer) {
  if (!wire::is_valid_peer_id(target_peer)) throw command_error(exit_usage, "'" + target_peer + "' is not a valid peer ID");
  if (!config.forward_listen || !config.forward_target) {
    throw command_error(exit_usage, "forward needs --listen [HOST:]PORT and --target HOST:PORT");
  }
  auto ex = co_await asio::this_coro::executor;
  const auto keys = load_identity(config, events);
  server_link link(ex);
  co_await link.open(config.server, config.token, &keys);
  if (!config.id.empty()) {
    const auto observed = co_await link.register_id(config.id);
    events.emit({{"event", "registered"}, {"id", config.id}, {"observed", observed}});
  }
  if (config.path == "auto") co_await probe_and_report(link);

  net::tcp::acceptor acceptor(ex);
  try {
    const net::tcp::endpoint at(asio::ip::make_address(config.forward_listen->host), config.forward_listen->port);
    acceptor.open(at.protocol());
    acceptor.set_option(net::tcp::acceptor::reuse_address(true));
    acceptor.bind(at);
    acceptor.listen();
  } catch (const std::exception& e) {
    throw command_error(exit_usage, "cannot listen on " + net::to_string(*config.forward_listen) + ": " + e.what());
  }
  const nlohmann::json forwarding{{"event", "forwarding"},
                                  {"listen", net::to_string(acceptor.local_endpoint())},
                                  {"peer", target_peer},
                                  {"target", net::to_string(*config.forward_target)}};
  events.emit(forwarding);
  session_pool pool(link, keys, config);
  for (;;) {
    auto [ec, local] = co_await acceptor.async_accept(net::use_nothrow);
    if (ec) {
      spdlog::warn("forward: accept failed: {}", ec.message());
      asio::steady_timer pause(ex, std::chrono::milliseconds(100));
      co_await pause.async_wait(net::use_nothrow);
      continue;
    }
    asio::co_spawn(ex, forward_one(pool, config, target_peer, std::move(local)), net::log_escaped("forward"));
  }
}

}  // namespace peer
