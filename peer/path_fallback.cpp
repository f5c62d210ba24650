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

/// The latest loss of the path.
struct path_loss {
  std::string reason;
  std::string from;  ///< the path lost: relay or direct
  net::clock::time_point at = net::clock::now();
  std::string describe() const { return "the " + from + " path was lost (" + reason + ")"; }
};

/// Joins the relay pair `attempt` names and resumes the session on it; "" or why not.
net::awaitable<std::string> resume_on_relay(std::shared_ptr<session::session> secure, std::shared_ptr<path_life> life,
                                            attempt_info attempt, asio::ip::address server, std::shared_ptr<path_loss> loss) {
  net::tcp::socket socket(secure->executor());
  const net::tcp::endpoint relay(attempt.ports_host(server), attempt.relay_port);
  auto why = co_await join_relay(socket, relay, attempt.relay_token, partner_wait);
  if (!why.empty()) co_return why;
  std::vector<std::uint8_t> nothing_yet;
  why = co_await secure->resume_on(std::move(socket), std::move(nothing_yet), proof_timeout);
  if (!why.empty()) co_return why;
  const auto reason = loss->describe();
  spdlog::info("the session with {} is on the relay again, {} ms after {}", life->peer, net::ms_since(loss->at), reason);
  life->events.emit({{"event", "path_changed"},
                     {"peer", life->peer},
                     {"from", loss->from},
                     {"to", "relay"},
                     {"remote", net::to_string(relay)},
                     {"family", net::family_name(relay.address())},
                     {"elapsed_ms", net::ms_since(life->started)},
                     {"lost_ms", net::ms_since(loss->at)},
                     {"reason", reason + "; resumed on the relay"}});
  life->path = "relay";
  if (life->changed) life->changed(session_origin{"relay", reason, net::to_string(relay)});
  co_return "";
}

/// A relay pair for the session from the server, then the resume.
net::awaitable<std::string> ask_for_relay(std::shared_ptr<session::session> secure, std::shared_ptr<path_life> life,
                                          std::shared_ptr<path_loss> loss) {
  nlohmann::json request{{"type", "connect"}, {"target", life->peer}, {"path", "relay"}, {"resume", secure->tag()}};
  auto reply = co_await life->server.request(std::move(request));
  if (!reply) co_return "the server is gone";
  if (reply->value("type", "") == "error") co_return "the server refused: " + reply->value("message", "no reason given");
  attempt_info attempt;
  try {
    attempt = parse_attempt(*reply);
  } catch (const std::exception& e) {
    co_return e.what();
  }
  co_return co_await resume_on_relay(secure, life, std::move(attempt), life->server_address, loss);
}

/// The responder's part, on the server's "resume".
net::awaitable<void> answer_resume(std::shared_ptr<session::session> secure, std::shared_ptr<path_life> life,
                                   attempt_info attempt, asio::ip::address server, std::shared_ptr<path_loss> loss) {
  const auto why = co_await resume_on_relay(secure, life, std::move(attempt), server, loss);
  // (The session stays lost; its resume_wait ends it if the initiator does not try again.)
  if (!why.empty()) spdlog::warn("could not resume the session with {} on the relay: {}", life->peer, why);
}

net::awaitable<void> watch_path(std::shared_ptr<session::session> secure, std::shared_ptr<path_life> life) {
  auto loss = std::make_shared<path_loss>();
  std::weak_ptr<session::session> weak = secure;
  const auto take_resume = [weak, life, loss](const nlohmann::json& message, const asio::ip::address& server,
                                              const server_link::detached_sender& send) {
    auto s = weak.lock();
    if (!s || !s->is_open()) {
      send({{"type", "decline"}, {"attempt", message.value("attempt", "")}, {"reason", "the session has ended"}});
      return;
    }
    attempt_info attempt;
    try {
      attempt = parse_attempt(message);
    } catch (const std::exception& e) {
      spdlog::warn("ignoring a resume for the session with {}: {}", life->peer, e.what());
      return;
    }
    if (!s->path_lost()) *loss = path_loss{"the peer lost it", life->path};
    if (s->initiator()) {
      // The initiator's own request makes the pair both sides join; the other side asking only
      // tells us the path is gone.
      s->give_up_path("the peer gave up our path");
      return;
    }
    asio::co_spawn(s->executor(), answer_resume(s, life, std::move(attempt), server, loss),
                   net::log_escaped("resume with " + life->peer));
  };
  const auto route = resume_router::listen(secure->tag(), take_resume);
  for (;;) {
    const auto why = co_await secure->wait_path_lost();
    if (why.empty()) co_return;  // the session ended
    if (why != "the peer gave up our path") *loss = path_loss{why, life->path};
    const auto lost = loss->describe();
    spdlog::warn("{} to {}; resuming on the relay", lost, life->peer);
    life->events.emit({{"event", "path_lost"}, {"peer", life->peer}, {"path", loss->from}, {"reason", loss->reason}});
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
    const auto failure = co_await ask_for_relay(secure, life, loss);
    // (The responder's own request may fail while the initiator's resumed the session.)
    if (!failure.empty() && secure->is_open() && secure->path_lost()) {
      secure->abandon(lost + " and the session could not resume on the relay: " + failure);
      co_return;
    }
  }
}

}  // namespace

void fall_back_when_lost(const std::shared_ptr<session::session>& secure, std::shared_ptr<path_life> life) {
  if (!secure || !secure->resumable()) return;
  asio::co_spawn(secure->executor(), watch_path(secure, std::move(life)), net::log_escaped("path watch"));
}

}  // namespace peer
