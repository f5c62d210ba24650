#include "peer/online_command.hpp"

#include <algorithm>

#include <asio/co_spawn.hpp>
#include <spdlog/spdlog.h>

#include "common/connect.hpp"
#include "common/spawn.hpp"
#include "peer/exit_codes.hpp"
#include "peer/expose_routes.hpp"
#include "peer/link_tending.hpp"
#include "peer/nat_probe.hpp"
#include "peer/reconnect_loop.hpp"
#include "peer/path_upgrade.hpp"
#include "peer/secure_session.hpp"
#include "session/socket_stream_bridge.hpp"
#include "peer/transfer_serving.hpp"

namespace peer {
namespace {

constexpr auto target_connect_timeout = std::chrono::seconds(10);
/// Streams a peer may open on one session before we accept them.
constexpr std::size_t online_accept_backlog = 256;

bool allowed(const peer_config& config, const net::host_port& target) {
  return std::any_of(config.allow.begin(), config.allow.end(), [&](const net::host_port& entry) {
    return entry.host == target.host && entry.port == target.port;
  });
}

/// A string field of a peer's stream description, clipped so it cannot flood our log.
std::string meta_text(const nlohmann::json& meta, const char* key) {
  if (!meta.is_object() || !meta.contains(key) || !meta[key].is_string()) return "";
  return meta[key].get<std::string>().substr(0, 256);
}

/// One stream a peer opened: a file transfer into the inbox, a forward to an allowed target, or a
/// refusal it can read.
net::awaitable<void> serve_stream(const peer_config& config, const event_sink& events, std::string peer, std::string path,
                                  std::shared_ptr<session::stream> stream) {
  const auto kind = meta_text(stream->meta(), "kind");
  if (kind == "transfer") {
    co_await serve_transfer(config, events, peer, path, stream, /*live_line=*/false);
    co_return;
  }
  if (kind != "forward") {
    spdlog::warn("{}: refused a '{}' stream: not offered here", peer, kind);
    const auto hint = kind == "stdio" ? " (name one of its --allow targets: peer connect " + config.id + " --target HOST:PORT)" : "";
    stream->reset(std::string(session::refused_prefix) + config.id + " runs `peer online`, which does not serve '" + kind +
                  "' streams" + hint);
    co_return;
  }
  const auto target_text = meta_text(stream->meta(), "target");
  const auto target = net::parse_host_port(target_text);
  if (!target || !allowed(config, *target)) {
    spdlog::warn("{}: refused a forward to {}: not in --allow", peer, target_text);
    stream->reset(std::string(session::refused_prefix) + "forwarding to " + target_text + " is not allowed by " + config.id +
                  " (see its --allow)");
    co_return;
  }
  net::tcp::socket socket(co_await asio::this_coro::executor);
  if (auto error = co_await net::connect_within(socket, *target, target_connect_timeout)) {
    spdlog::warn("{}: forward to {} failed: {}", peer, target_text, error.message());
    stream->reset("cannot reach " + target_text + ": " + error.message());
    co_return;
  }
  const auto result = co_await session::bridge_socket(std::move(socket), stream);
  // One line per forwarded connection: at debug, or a busy box's log grows by the connection.
  spdlog::debug("{}: forward to {} ended ({} bytes in, {} out){}", peer, target_text, result.from_stream,
                result.to_stream, result.error.empty() ? "" : ": " + result.error);
}

/// Serves the streams of one session until it ends.
net::awaitable<void> serve_session(const peer_config& config, const event_sink& events, std::string peer, std::string path,
                                   std::shared_ptr<session::session> secure) {
  auto ex = co_await asio::this_coro::executor;
  while (auto stream = co_await secure->accept_stream()) {
    asio::co_spawn(ex, serve_stream(config, events, peer, path, std::move(stream)), net::log_escaped("stream from " + peer));
  }
  co_await secure->wait_ended();
  const nlohmann::json ended{{"event", "session_ended"}, {"peer", peer}, {"clean", secure->clean()},
                             {"message", secure->end_reason()}};
  events.emit(ended);
}

/// One connected period: register, then take attempts one at a time until the link is lost.
net::awaitable<void> online_once(const peer_config& config, const event_sink& events, const identity::key_pair& keys,
                                 std::shared_ptr<server_link> link, bool& worked) {
  auto ex = co_await asio::this_coro::executor;
  co_await open_and_register(*link, config, events, keys, /*probe=*/false);
  if (!config.routes.empty()) {
    co_await claim_routes(*link, config, events);
    serve_routes(link, config);  // clients are served even while an attempt is punching
  }
  worked = true;  // registered: from now on a lost server is worth reconnecting to
  co_await report_nat(*link, /*follow=*/true);
  for (;;) {  // next_incoming throws when the server is lost
    auto [attempt, result, started] = co_await next_incoming(*link, config, events);
    if (!result.connection) {
      spdlog::warn("connection from {} failed: {}", attempt.peer, result.failure);
      continue;
    }
    try {
      auto secure = co_await open_secure_session(result, attempt, keys, config, online_accept_backlog);
      const auto origin = origin_of(result);
      events.emit(connected_event(attempt.peer, origin, *secure, started));
      follow_session_path(secure, result, attempt.peer, events, started);
      asio::co_spawn(ex, serve_session(config, events, attempt.peer, origin.path, secure),
                     net::log_escaped("session " + attempt.peer));
    } catch (const command_error& e) {
      spdlog::warn("connection from {} refused: {}", attempt.peer, e.what());
    }
  }
}

}  // namespace

net::awaitable<int> run_online(const peer_config& config, const event_sink& events) {
  if (config.id.empty()) throw command_error(exit_usage, "online needs an ID: --id NAME (or PEER_ID)");
  if (!config.inbox.empty() && !config.accept_any && config.accept_from.empty()) {
    throw command_error(exit_usage, "--inbox needs --accept-from ID,... (or --accept-any): whose files to take");
  }
  if (config.allow.empty() && config.inbox.empty() && config.routes.empty()) {
    spdlog::warn("no --allow targets, no --inbox and no --expose routes: every forward and transfer will be refused");
  }
  const auto keys = load_identity(config, events);
  co_await keep_connected(events, [&config, &events, keys](std::shared_ptr<server_link> link, bool& worked) {
    return online_once(config, events, keys, std::move(link), worked);
  });
  co_return exit_ok;
}

}  // namespace peer
