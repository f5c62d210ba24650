#include "peer/secure_session.hpp"

#include "common/endpoint.hpp"

#include <algorithm>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "common/spawn.hpp"
#include "peer/exit_codes.hpp"
#include "peer/interruption.hpp"

namespace peer {
namespace {

constexpr auto handshake_timeout = std::chrono::seconds(10);

}  // namespace

nlohmann::json connected_event(const std::string& peer, const session_origin& origin, const session::session& secure,
                               net::clock::time_point started) {
  nlohmann::json connected{{"event", "connected"},
                           {"peer", peer},
                           {"path", origin.path},
                           {"remote", origin.remote},
                           {"elapsed_ms", net::ms_since(started)},
                           {"peer_key", identity::fingerprint(secure.peer_key())},
                           {"cipher", session::to_string(secure.aead())}};
  if (!origin.why_relay.empty()) connected["reason"] = origin.why_relay;
  // The family of the path (to the peer, or to the relay): IPv6 wins where both punch.
  if (const auto remote = net::parse_endpoint(origin.remote)) connected["family"] = net::family_name(remote->address());
  return connected;
}

identity::key_pair load_identity(const peer_config& config, const event_sink& events) {
  try {
    const auto file = config.identity_file.empty() ? identity::default_path() : std::filesystem::path(config.identity_file);
    bool created = false;
    auto keys = identity::load_or_create(file, &created);
    if (created) {
      spdlog::info("created a new identity in {}", file.string());
      events.emit({{"event", "identity_created"}, {"file", file.string()}, {"fingerprint", identity::fingerprint(keys.pub)}});
    }
    return keys;
  } catch (const identity::identity_error& e) {
    throw command_error(exit_usage, e.what());
  }
}

session_origin origin_of(const attempt_result& attempt) {
  return {attempt.path, attempt.why_relay, attempt.connection ? net::to_string(attempt.connection->remote) : ""};
}

net::awaitable<std::shared_ptr<session::session>> open_secure_session(attempt_result& attempt, const attempt_info& info,
                                                                      const identity::key_pair& me,
                                                                      const peer_config& config,
                                                                      std::size_t accept_backlog) {
  auto& connection = *attempt.connection;
  const bool initiator = info.mine == nat::role::initiator;
  session::peer_expectation expect{info.peer_key, config.expect_key, info.peer};
  if (!info.peer_key) spdlog::warn("the server vouched for no key of {}: trusting the key it presents", info.peer);
  auto shaken = co_await session::run_handshake(connection.socket, std::move(connection.leftover), me, initiator, expect,
                                                net::clock::now() + handshake_timeout);
  report_outcome(attempt.server, info, shaken.keys ? attempt.path : std::string());
  if (!shaken.keys) {
    std::error_code ignored;
    connection.socket.close(ignored);
    if (shaken.key_refused) throw command_error(exit_peer_key, "refusing " + info.peer + ": " + shaken.failure);
    throw command_error(exit_failure, "secure session with " + info.peer + " failed: " + shaken.failure);
  }
  spdlog::info("secure session with {} (key {}, {})", info.peer, identity::fingerprint(shaken.keys->peer),
               session::to_string(shaken.keys->aead));
  session::session_options options;
  options.dead_after = config.dead_after;
  options.accept_backlog = accept_backlog;
  options.keepalive_interval = std::min(options.keepalive_interval, config.dead_after / 3);
  // A dead path is noticed within a sixth of --dead-after and replaced by a relay pair within a
  // third; --path direct never goes to the relay, so there the path's death ends the session.
  if (config.path != "direct") {
    options.lost_after = std::max<std::chrono::milliseconds>(config.dead_after / 6, std::chrono::milliseconds(200));
    options.resume_wait = std::max<std::chrono::milliseconds>(config.dead_after / 3, std::chrono::milliseconds(1000));
  }
  auto s = std::make_shared<session::session>(std::move(connection.socket), *shaken.keys, initiator,
                                              std::move(shaken.leftover), options);
  asio::co_spawn(co_await asio::this_coro::executor, s->run(), net::log_escaped("session with " + info.peer));
  interruption::process().track(s);  // a signal closes it with a close record
  co_return s;
}

std::shared_ptr<session::stream> open_stream_on(session::session& s, const std::string& peer, nlohmann::json meta) {
  std::string why;
  auto stream = s.open_stream(std::move(meta), &why);
  if (!stream) throw command_error(exit_failure, "cannot open a stream to " + peer + ": " + why);
  return stream;
}

net::awaitable<void> close_session(const std::shared_ptr<session::session>& s, const std::string& reason,
                                   net::clock::duration limit) {
  s->close(reason);
  if (limit == net::clock::duration::max()) {
    co_await s->wait_ended();
    co_return;
  }
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer deadline(co_await asio::this_coro::executor, limit);
  co_await (s->wait_ended() || deadline.async_wait(net::use_nothrow));
}

}  // namespace peer
