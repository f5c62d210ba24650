#include "peer/forward_command.hpp"

#include <asio/co_spawn.hpp>
#include <spdlog/spdlog.h>

#include "common/listen.hpp"
#include "common/peer_id.hpp"
#include "common/spawn.hpp"
#include "peer/exit_codes.hpp"
#include "peer/nat_probe.hpp"
#include "peer/secure_session.hpp"
#include "peer/session_pool.hpp"
#include "peer/socket_stream_bridge.hpp"

namespace peer {
namespace {

/// One local connection: a stream to the peer (on the shared session), bridged to it. Sets
/// `server_lost` when no stream could be had because the server link is gone.
net::awaitable<void> forward_one(session_pool& pool, server_link& link, const peer_config& config, std::string peer,
                                 net::tcp::socket local, bool& server_lost, net::tcp::acceptor& acceptor) {
  std::error_code ec;
  const auto endpoint = local.remote_endpoint(ec);
  if (ec) co_return;  // the client already left
  const auto from = net::to_string(endpoint);
  const auto target = net::to_string(*config.forward_target);
  std::shared_ptr<session::stream> stream;
  try {
    nlohmann::json meta{{"kind", "forward"}, {"target", target}};
    stream = co_await pool.open_stream(peer, std::move(meta));
  } catch (const command_error& e) {
    spdlog::warn("forward from {}: no stream to {}: {}", from, peer, e.what());
    if (!link.is_open()) {
      server_lost = true;
      acceptor.cancel();  // wakes the accept loop, which ends the command
    }
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

/// The local listener; throws command_error (exit 2) if the address cannot be used.
net::tcp::acceptor open_local_listener(const asio::any_io_executor& ex, const net::host_port& at_text) {
  net::tcp::acceptor acceptor(ex);
  std::error_code ec;
  const auto address = asio::ip::make_address(at_text.host, ec);
  if (!ec) ec = net::open_listener(acceptor, {address, at_text.port});
  if (ec) throw command_error(exit_usage, "cannot listen on " + net::to_string(at_text) + ": " + ec.message());
  return acceptor;
}

}  // namespace

net::awaitable<int> run_forward(const peer_config& config, const event_sink& events, const std::string& target_peer) {
  if (!wire::is_valid_peer_id(target_peer)) throw command_error(exit_usage, "'" + target_peer + "' is not a valid peer ID");
  if (!config.forward_listen || !config.forward_target) {
    throw command_error(exit_usage, "forward needs --listen [HOST:]PORT and --target HOST:PORT");
  }
  auto ex = co_await asio::this_coro::executor;
  auto acceptor = open_local_listener(ex, *config.forward_listen);  // a taken port fails at once
  const auto keys = load_identity(config, events);
  // forward never registers: an ID here would clash with `peer online` of the same user, and
  // nobody could connect to it anyway.
  server_link link(ex);
  co_await link.open(config.server, config.token, &keys);
  if (config.path == "auto") co_await probe_and_report(link);
  const nlohmann::json forwarding{{"event", "forwarding"},
                                  {"listen", net::to_string(acceptor.local_endpoint())},
                                  {"peer", target_peer},
                                  {"target", net::to_string(*config.forward_target)}};
  events.emit(forwarding);
  session_pool pool(link, keys, config);
  bool server_lost = false;
  while (!server_lost) {
    auto [ec, local] = co_await acceptor.async_accept(net::use_nothrow);
    if (server_lost) break;
    if (ec) {
      spdlog::warn("forward: accept failed: {}", ec.message());
      asio::steady_timer pause(ex, std::chrono::milliseconds(100));
      co_await pause.async_wait(net::use_nothrow);
      continue;
    }
    asio::co_spawn(ex, forward_one(pool, link, config, target_peer, std::move(local), server_lost, acceptor),
                   net::log_escaped("forward"));
  }
  throw command_error(exit_server, "lost the server (" + link.close_reason() + "): no new connections can be carried");
}

}  // namespace peer
