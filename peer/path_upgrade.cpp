#include "peer/path_upgrade.hpp"

#include <asio/co_spawn.hpp>
#include <spdlog/spdlog.h>

#include "common/endpoint.hpp"
#include "common/spawn.hpp"
#include "peer/path_fallback.hpp"
#include "session/path_proof.hpp"

namespace peer {
namespace {

/// How long the two sides may take to prove the new path, and to move onto it.
constexpr auto proof_timeout = std::chrono::milliseconds(5000);
constexpr auto move_timeout = std::chrono::milliseconds(10000);

net::awaitable<void> follow_upgrade(std::shared_ptr<session::session> secure, std::shared_ptr<direct_upgrade> upgrade,
                                    std::shared_ptr<path_life> life) {
  const auto& peer = life->peer;
  while (!upgrade->done) co_await upgrade->settled.wait();
  if (!upgrade->connection || !secure->is_open() || !secure->path_keys()) co_return;
  auto punched = std::move(*upgrade->connection);
  upgrade->connection.reset();
  const auto keys = *secure->path_keys();
  std::error_code ec;
  punched.socket.set_option(net::tcp::no_delay(true), ec);  // the proof is three small writes each way
  auto why = co_await session::prove_path(punched.socket, keys, std::move(punched.leftover), proof_timeout);
  if (!why.empty()) {
    spdlog::warn("staying on the relay with {}: the punched path failed its proof: {}", peer, why);
    co_return;
  }
  // Proved on both sides, so both move: the server hears it before the relay pair closes, and
  // logs its end as an upgrade (if our link to it is still there).
  upgrade->tell_server({{"type", "upgraded"}, {"relay_token", upgrade->relay_token}});
  why = co_await secure->move_to(std::move(punched.socket), move_timeout);
  if (!why.empty()) {
    // (A session that closed cleanly meanwhile lost nothing: no warning for that.)
    spdlog::log(secure->clean() ? spdlog::level::debug : spdlog::level::warn,
                "the move to the direct path to {} did not complete: {}", peer, why);
    co_return;
  }
  const auto remote = net::to_string(punched.remote);
  spdlog::info("the session with {} is now direct ({}), {} ms after the attempt began", peer, remote,
               net::ms_since(upgrade->started));
  // (One clock with "connected": both count from the user's request.)
  life->path = "direct";
  life->events.emit({{"event", "path_changed"},
               {"peer", peer},
               {"from", "relay"},
               {"to", "direct"},
               {"remote", remote},
               {"family", net::family_name(punched.remote.address())},
               {"elapsed_ms", net::ms_since(life->started)},
               {"reason", "punched a direct path"}});
  if (life->changed) life->changed(session_origin{"direct", "", remote});
}

}  // namespace

void follow_session_path(const std::shared_ptr<session::session>& secure, const attempt_result& attempt,
                         const std::string& peer, const event_sink& events, net::clock::time_point started,
                         path_changed_fn changed) {
  if (!secure) return;
  auto life = std::make_shared<path_life>(
      path_life{peer, events, started, std::move(changed), attempt.path, attempt.server, attempt.server_address});
  fall_back_when_lost(secure, life);
  if (!attempt.upgrade) return;
  asio::co_spawn(secure->executor(), follow_upgrade(secure, attempt.upgrade, life), net::log_escaped("path upgrade with " + peer));
}

}  // namespace peer
