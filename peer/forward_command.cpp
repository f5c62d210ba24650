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
#include "session/socket_stream_bridge.hpp"

namespace peer {
namespace {

/// Announces a session the pool just made, and its end when it comes.
net::awaitable<void> announce_session(const event_sink& events, std::string peer, session_origin origin,
                                      std::shared_ptr<session::session> secure, net::clock::time_point started) {
  events.emit(connected_event(peer, origin, *secure, started));
  co_await secure->wait_ended();
  events.emit({{"event", "session_ended"}, {"peer", peer}, {"clean", secure->clean()}, {"message", secure->end_reason()}});
}

/// One local connection: a stream to the peer (on the shared session), bridged to it. Sets
/// `server_lost` when no stream could be had because the server link is gone.
net::awaitable<void> forward_one(session_pool& pool, server_link& link, const peer_config& config, const event_sink& events,
                                 std::string peer, net::tcp::socket local, bool& server_lost, net::tcp::acceptor& acceptor) {
  std::error_code ec;
  const auto endpoint = local.remote_endpoint(ec);
  if (ec) co_return;  // the client already left
  const auto started = net::clock::now();
  const auto from = net::to_string(endpoint);
  const auto target = net::to_string(*config.forward_target);
  std::shared_ptr<session::stream> stream;
  try {
    bool reused = true;
    auto secure = co_await pool.session_to(peer, &reused, started);
    if (!reused) {
      asio::co_spawn(co_await asio::this_coro::executor, announce_session(events, peer, pool.origin(peer), secure, started),
                     net::log_escaped("forward session events"));
    }
    nlohmann::json meta{{"kind", "forward"}, {"target", target}};
    stream = open_stream_on(*secure, peer, std::move(meta));
  } catch (const command_error& e) {
    spdlog::warn("forward from {}: no stream to {}: {}", from, peer, e.what());
    if (!link.is_open()) {
      server_lost = true;
      acceptor.cancel();  // wakes the accept loop, which ends the command
    }
    co_return;  // closing `local` tells the local client at once
  }
  spdlog::debug("forward from {} to {} via {} open", from, target, peer);
  const auto result = co_await session::bridge_socket(std::move(local), stream);
  // Per connection, at debug: a connection is its programs' business (one that resets, or an iperf3
  // closing with data in flight, is theirs to report); a dying session is logged as a warning by it.
  // A target the peer refused or could not reach (reset before any byte came back) is ours to fix.
  const bool never_opened = result.from_stream == 0 && stream->error().starts_with(session::peer_reset_prefix);
  if (never_opened) {
    spdlog::warn("forward from {} to {} via {}: {}", from, target, peer, result.error);
  } else {
    spdlog::debug("forward from {} to {} via {} ended ({} bytes out, {} in){}", from, target, peer, result.to_stream,
                  result.from_stream, result.error.empty() ? "" : ": " + result.error);
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
  co_await link.open(config.servers, config.token, &keys);
  if (config.wants_nat_verdict()) co_await report_nat(link, /*follow=*/true);
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
    asio::co_spawn(ex, forward_one(pool, link, config, events, target_peer, std::move(local), server_lost, acceptor),
                   net::log_escaped("forward"));
  }
  throw command_error(exit_server, "lost the server (" + link.close_reason() + "): no new connections can be carried");
}

}  // namespace peer
