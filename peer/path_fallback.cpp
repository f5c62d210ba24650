#include "peer/path_fallback.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "common/endpoint.hpp"
#include "common/peer_id.hpp"
#include "common/spawn.hpp"
#include "peer/relay_join.hpp"
#include "peer/resume_router.hpp"

namespace peer {

using namespace asio::experimental::awaitable_operators;

namespace {

/// How long one side waits at the relay for the other, and for the path proof on it.
constexpr auto partner_wait = std::chrono::milliseconds(10'000);
constexpr auto proof_timeout = std::chrono::milliseconds(5'000);
/// How long the session's responder waits for the initiator's resume before it asks itself
/// (which also tells it at once when the initiator is gone: the server knows no such peer).
constexpr auto responder_grace = std::chrono::milliseconds(1'000);
/// A responder's request that reaches the initiator this soon after a resume is a late echo of
/// the loss just repaired, not a new one.
constexpr auto echo_window = std::chrono::milliseconds(3'000);

/// What one session's watch knows about its path's losses.
struct watch_state {
  std::string reason;  ///< why the path was lost, the latest time
  std::string from;    ///< the path lost: relay or direct
  net::clock::time_point lost_at = net::clock::now();
  net::clock::time_point resumed_at;  ///< the last resume (epoch: none yet)
  bool answering = false;  ///< a responder's join of the initiator's pair is under way (one at a time)
  bool told_by_peer = false;  ///< the loss now noted came from the peer's resume, not from our session
  void lost(std::string why, std::string path, bool by_peer = false) {
    told_by_peer = by_peer;
    reason = std::move(why);
    from = std::move(path);
    lost_at = net::clock::now();
  }
  std::string describe() const { return "the " + from + " path was lost (" + reason + ")"; }
};

/// Why a resume did not happen; `peer_gone` when it cannot happen (the peer is not online, or
/// has no such session), as opposed to not yet.
struct resume_failure {
  std::string why;
  bool peer_gone = false;
};

/// Joins the relay pair `attempt` names and resumes the session on it.
net::awaitable<resume_failure> resume_on_relay(std::shared_ptr<session::session> secure, std::shared_ptr<path_life> life,
                                               attempt_info attempt, asio::ip::address server,
                                               std::shared_ptr<watch_state> state) {
  net::tcp::socket socket(secure->executor());
  const net::tcp::endpoint relay(attempt.ports_host(server), attempt.relay_port);
  auto why = co_await join_relay(socket, relay, attempt.relay_token, partner_wait);
  // (The relay refuses a half whose other side declined: it has no such session.)
  if (!why.empty()) co_return resume_failure{why, why.starts_with("the relay refused")};
  std::vector<std::uint8_t> nothing_yet;
  why = co_await secure->resume_on(std::move(socket), std::move(nothing_yet), proof_timeout);
  if (!why.empty()) co_return resume_failure{why};
  state->resumed_at = net::clock::now();
  const auto reason = state->describe();
  spdlog::info("the session with {} is on the relay again, {} ms after {}", life->peer, net::ms_since(state->lost_at), reason);
  life->events.emit({{"event", "path_changed"},
                     {"peer", life->peer},
                     {"from", state->from},
                     {"to", "relay"},
                     {"remote", net::to_string(relay)},
                     {"family", net::family_name(relay.address())},
                     {"elapsed_ms", net::ms_since(life->started)},
                     {"lost_ms", net::ms_since(state->lost_at)},
                     {"reason", reason + "; resumed on the relay"}});
  life->path = "relay";
  if (life->changed) life->changed(session_origin{"relay", reason, net::to_string(relay)});
  co_return resume_failure{};
}

/// A relay pair for the session from the server (through the link the attempt ran on, or the
/// one that replaced it), then the resume.
net::awaitable<resume_failure> ask_for_relay(std::shared_ptr<session::session> secure, std::shared_ptr<path_life> life,
                                             std::shared_ptr<watch_state> state) {
  auto link = resume_router::link_ref{life->server, life->server_address};
  if (!link.send.alive()) link = resume_router::current_link();
  nlohmann::json request{{"type", "connect"}, {"target", life->peer}, {"path", "relay"}, {"resume", secure->tag()}};
  auto reply = co_await link.send.request(std::move(request));
  if (!reply) co_return resume_failure{"the server is gone"};
  if (reply->value("type", "") == "error") {
    co_return resume_failure{"the server refused: " + reply->value("message", "no reason given"),
                             reply->value("code", "") == "unknown_peer"};
  }
  attempt_info attempt;
  try {
    attempt = parse_attempt(*reply);
  } catch (const std::exception& e) {
    co_return resume_failure{e.what()};
  }
  co_return co_await resume_on_relay(secure, life, std::move(attempt), link.server, state);
}

/// The responder's part, on the server's "resume".
net::awaitable<void> answer_resume(std::shared_ptr<session::session> secure, std::shared_ptr<path_life> life,
                                   attempt_info attempt, asio::ip::address server, std::shared_ptr<watch_state> state) {
  const auto failure = co_await resume_on_relay(secure, life, std::move(attempt), server, state);
  state->answering = false;
  // (The session stays lost; its resume_wait ends it if the initiator does not try again.)
  if (!failure.why.empty()) spdlog::warn("could not resume the session with {} on the relay: {}", life->peer, failure.why);
}

/// What to do with the server's "resume" for our session.
void take_resume(const std::weak_ptr<session::session>& weak, const std::shared_ptr<path_life>& life,
                 const std::shared_ptr<watch_state>& state, const nlohmann::json& message, const asio::ip::address& server,
                 const server_link::detached_sender& send) {
  const auto decline = [&](const std::string& reason) {
    send({{"type", "decline"}, {"attempt", message.value("attempt", "")}, {"reason", reason}});
  };
  auto s = weak.lock();
  if (!s || !s->is_open()) return decline("the session has ended");
  attempt_info attempt;
  try {
    attempt = parse_attempt(message);
  } catch (const std::exception& e) {
    spdlog::warn("ignoring a resume for the session with {}: {}", life->peer, e.what());
    return;
  }
  // Only the session's own peer, by the key the server knows it by, may move it.
  if (attempt.peer != life->peer || !attempt.peer_key || *attempt.peer_key != s->peer_key()) {
    spdlog::warn("refused a resume of the session with {} asked for by {}: not that session's peer", life->peer, attempt.peer);
    return decline("not the peer of that session");
  }
  if (s->initiator()) {
    // The initiator's own request makes the pair both sides join; the other side asking only
    // tells us the path is gone (unless we have just resumed: then it is late).
    if (!s->path_lost() && net::clock::now() - state->resumed_at > echo_window) {
      state->lost("the peer lost it", life->path, true);
      s->give_up_path("the peer lost it");
    }
    return;
  }
  if (state->answering) return;  // one join at a time; the initiator's next ask comes if this one fails
  if (!s->path_lost()) state->lost("the peer lost it", life->path, true);
  state->answering = true;
  asio::co_spawn(s->executor(), answer_resume(s, life, std::move(attempt), server, state),
                 net::log_escaped("resume with " + life->peer));
}

net::awaitable<void> watch_path(std::shared_ptr<session::session> secure, std::shared_ptr<path_life> life) {
  auto state = std::make_shared<watch_state>();
  std::weak_ptr<session::session> weak = secure;
  const auto route = resume_router::listen(
      secure->tag(), [weak, life, state](const nlohmann::json& message, const asio::ip::address& server,
                                         const server_link::detached_sender& send) {
        take_resume(weak, life, state, message, server, send);
      });
  for (;;) {
    const auto why = co_await secure->wait_path_lost();
    if (why.empty()) co_return;  // the session ended
    if (!state->told_by_peer) state->lost(why, life->path);  // (else the peer's word is the reason)
    state->told_by_peer = false;
    const auto lost = state->describe();
    spdlog::warn("{} to {}; resuming on the relay", lost, life->peer);
    life->events.emit({{"event", "path_lost"}, {"peer", life->peer}, {"path", state->from}, {"reason", state->reason}});
    if (!secure->initiator()) {
      // The initiator asks for the pair; only if its resume does not come do we ask ourselves.
      asio::steady_timer grace(secure->executor(), responder_grace);
      auto back = co_await (secure->wait_path_back() || grace.async_wait(net::use_nothrow));
      if (back.index() == 0) {
        if (!std::get<0>(back)) co_return;  // ended
        continue;
      }
      if (!wire::is_valid_peer_id(life->peer)) {
        // An unregistered initiator cannot be asked for by name: its resume, or resume_wait, decides.
        if (!co_await secure->wait_path_back()) co_return;
        continue;
      }
    }
    const auto failure = co_await ask_for_relay(secure, life, state);
    if (failure.why.empty() || !secure->is_open() || !secure->path_lost()) continue;
    // The initiator's failure is the end; the responder's own request is only a nudge (the
    // initiator never joins it), so only a peer that is gone ends the session early.
    if (secure->initiator() || failure.peer_gone) {
      secure->abandon(lost + " and the session could not resume on the relay: " + failure.why);
      co_return;
    }
    if (!co_await secure->wait_path_back()) co_return;  // (resume_wait bounds it)
  }
}

}  // namespace

void fall_back_when_lost(const std::shared_ptr<session::session>& secure, std::shared_ptr<path_life> life) {
  if (!secure || !secure->resumable()) return;
  asio::co_spawn(secure->executor(), watch_path(secure, std::move(life)), net::log_escaped("path watch"));
}

}  // namespace peer
