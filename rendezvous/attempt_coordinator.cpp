#include "rendezvous/attempt_coordinator.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/identity.hpp"
#include "common/endpoint.hpp"
#include "nat/punch_handshake.hpp"
#include "rendezvous/client_session.hpp"

namespace rendezvous {
namespace {

/// Slack added to every start so both instructions have surely arrived.
constexpr long long base_delay_ms = 50;
/// Open attempts one peer may have started, to one target, one peer may be asked to join, and in all.
constexpr std::size_t max_attempts_per_initiator = 4;
constexpr std::size_t max_attempts_per_pair = 2;
constexpr std::size_t max_attempts_per_responder = 16;
constexpr std::size_t max_attempts = 10000;

nlohmann::json candidates_of(const hole_report& report) {
  nlohmann::json list = nlohmann::json::array();
  list.push_back(net::to_string(report.mapped));
  for (const auto& endpoint : report.private_endpoints) {
    if (endpoint != report.mapped) list.push_back(net::to_string(endpoint));
  }
  return list;
}

}  // namespace

std::optional<std::string> attempt_coordinator::refuse(const client_session& initiator,
                                                       const client_session& responder) const {
  if (attempts_.size() >= max_attempts) return "the server has too many connect attempts in flight";
  std::size_t mine = 0, to_target = 0, dispatched_to_target = 0;
  for (const auto& [id, a] : attempts_) {
    const bool from_me = a.sides[0].lock().get() == &initiator;
    const bool to_them = a.sides[1].lock().get() == &responder;
    mine += from_me ? 1 : 0;
    to_target += from_me && to_them ? 1 : 0;
    // Only attempts the responder was told of occupy it; the others cost it nothing.
    dispatched_to_target += to_them && a.dispatched ? 1 : 0;
  }
  if (mine >= max_attempts_per_initiator) return "too many of your connect attempts in flight";
  if (to_target >= max_attempts_per_pair) {
    return "you already have " + std::to_string(to_target) + " connect attempts to " + responder.display_name() + " in flight";
  }
  if (dispatched_to_target >= max_attempts_per_responder) return "too many connect attempts to that peer in flight";
  return std::nullopt;
}

std::string attempt_coordinator::start(const std::shared_ptr<client_session>& initiator,
                                       const std::shared_ptr<client_session>& responder, long long request,
                                       const plan& how) {
  attempt a;
  a.id = crypto::random_hex(8);
  a.token = crypto::random_hex(16);
  a.sides[0] = initiator;
  a.sides[1] = responder;
  a.names[0] = initiator->display_name();
  a.names[1] = responder->display_name();
  a.expires = net::clock::now() + how.timeout;
  a.relay_tokens = how.relay_tokens;
  for (int side = 0; side < 2; ++side) {
    nlohmann::json message{{"type", "attempt"},        {"attempt", a.id},         {"token", a.token},
                           {"role", nat::to_string(side == 0 ? nat::role::initiator : nat::role::responder)}, {"peer", a.names[1 - side]}, {"path", how.path},
                           {"hole_port", how.hole_port}, {"relay_port", how.relay_port},
                           {"relay_token", how.relay_tokens[side]}, {"punch_timeout_ms", how.punch_timeout_ms}};
    if (side == 0) message["req"] = request;
    // The other side's proven identity key: the session handshake accepts no other.
    if (const auto& key = (side == 0 ? responder : initiator)->key()) message["peer_key"] = identity::to_hex(*key);
    if (!how.reason.empty()) message["reason"] = how.reason;
    if (side == 0) initiator->send(message);
    else a.responder_message = std::move(message);  // sent once the initiator commits
  }
  spdlog::info("attempt {}: {} -> {} started (path {}{})", a.id, a.names[0], a.names[1], how.path,
               how.reason.empty() ? "" : ": " + how.reason);
  auto id = a.id;
  a.relay_only = how.path == "relay";  // then kept only to count against the caps
  if (a.relay_only) by_initiator_relay_token_.emplace(a.relay_tokens[0], id);
  attempts_.emplace(id, std::move(a));
  return id;
}

void attempt_coordinator::dispatch(attempt& a) {
  if (a.dispatched) return;
  a.dispatched = true;
  by_initiator_relay_token_.erase(a.relay_tokens[0]);
  if (auto responder = a.sides[1].lock()) responder->send(a.responder_message);
  a.responder_message = nlohmann::json();
  spdlog::debug("attempt {}: {} committed; {} told", a.id, a.names[0], a.names[1]);
}

void attempt_coordinator::relay_half_waiting(const std::string& token) {
  auto found = by_initiator_relay_token_.find(token);
  if (found == by_initiator_relay_token_.end()) return;
  auto it = attempts_.find(found->second);
  by_initiator_relay_token_.erase(found);
  if (it != attempts_.end()) dispatch(it->second);
}

std::optional<std::string> attempt_coordinator::token(const std::string& attempt_id) const {
  auto it = attempts_.find(attempt_id);
  if (it == attempts_.end()) return std::nullopt;
  return it->second.token;
}

bool attempt_coordinator::report(const std::string& attempt_id, int side, hole_report report) {
  auto it = attempts_.find(attempt_id);
  if (it == attempts_.end()) return false;
  attempt& a = it->second;
  if (side == 1 && !a.dispatched) return false;  // nobody told it: not a responder we know
  spdlog::debug("attempt {}: {} is at {}", a.id, a.names[side], net::to_string(report.mapped));
  a.reports[side] = std::move(report);
  if (side == 0) dispatch(a);
  if (!a.reports[0] || !a.reports[1]) return true;

  auto first = a.sides[0].lock();
  auto second = a.sides[1].lock();
  if (!first || !second) {
    fail(a, "peer_gone", "a peer went away");
    attempts_.erase(it);
    return true;
  }
  // Start both when the later of the two instructions has arrived, so the SYNs cross
  // (each instruction takes about half that side's round trip to arrive).
  const long long rtt[2] = {first->rtt_ms(), second->rtt_ms()};
  const long long latest = std::max(rtt[0], rtt[1]) / 2;
  for (int s = 0; s < 2; ++s) {
    const long long delay = base_delay_ms + latest - rtt[s] / 2;
    (s == 0 ? first : second)
        ->send({{"type", "punch"},
                {"attempt", a.id},
                {"candidates", candidates_of(*a.reports[1 - s])},
                {"observed", net::to_string(a.reports[s]->mapped)},
                {"delay_ms", delay}});
  }
  spdlog::info("attempt {}: punching {} ({}) <-> {} ({})", a.id, a.names[0], net::to_string(a.reports[0]->mapped),
               a.names[1], net::to_string(a.reports[1]->mapped));
  attempts_.erase(it);
  return true;
}

void attempt_coordinator::decline(const std::string& attempt_id, const client_session& responder,
                                  const std::string& reason) {
  auto it = attempts_.find(attempt_id);
  if (it == attempts_.end() || it->second.sides[1].lock().get() != &responder) return;
  attempt& a = it->second;
  spdlog::info("attempt {}: {} declined: {}", a.id, a.names[1], reason);
  if (auto initiator = a.sides[0].lock()) {
    initiator->send({{"type", "attempt_failed"},
                     {"attempt", a.id},
                     {"code", "peer_busy"},
                     {"reason", a.names[1] + " declined the connection: " + reason}});
  }
  cancel_relay_(a.relay_tokens, a.names[1] + " declined");
  attempts_.erase(it);
}

void attempt_coordinator::expire(net::clock::time_point now) {
  for (auto it = attempts_.begin(); it != attempts_.end();) {
    if (it->second.expires > now) {
      ++it;
      continue;
    }
    if (it->second.relay_only && it->second.dispatched) {
      it = attempts_.erase(it);
      continue;
    }
    if (!it->second.dispatched) {
      // The initiator asked and never followed through: only it is told; nothing waits on the tokens.
      fail(it->second, "timeout", it->second.names[0] + " did not join its own attempt in time");
      cancel_relay_(it->second.relay_tokens, "the attempt expired");
      by_initiator_relay_token_.erase(it->second.relay_tokens[0]);
      it = attempts_.erase(it);
      continue;
    }
    std::string missing;
    for (int side = 0; side < 2; ++side) {
      if (!it->second.reports[side]) missing += (missing.empty() ? "" : " and ") + it->second.names[side];
    }
    fail(it->second, "timeout", "no hole-assist report from " + missing + " in time");
    it = attempts_.erase(it);
  }
}

void attempt_coordinator::forget(const client_session& session) {
  for (auto it = attempts_.begin(); it != attempts_.end();) {
    const bool involved = it->second.sides[0].lock().get() == &session || it->second.sides[1].lock().get() == &session;
    if (!involved) {
      ++it;
      continue;
    }
    fail(it->second, "peer_gone", session.display_name() + " went away");
    // Nobody may wait at the relay for a side that is gone.
    cancel_relay_(it->second.relay_tokens, session.display_name() + " went away");
    by_initiator_relay_token_.erase(it->second.relay_tokens[0]);
    it = attempts_.erase(it);
  }
}

void attempt_coordinator::fail(attempt& a, const std::string& code, const std::string& reason) {
  if (a.relay_only && a.dispatched) return;
  // An attempt its responder never heard of is a requester's own business (and spam's): info only.
  spdlog::log(a.dispatched ? spdlog::level::warn : spdlog::level::info, "attempt {}: {} -> {} failed: {}", a.id,
              a.names[0], a.names[1], reason);
  for (int side = 0; side < 2; ++side) {
    if (side == 1 && !a.dispatched) continue;  // never told of it
    if (auto session = a.sides[side].lock()) {
      session->send({{"type", "attempt_failed"}, {"attempt", a.id}, {"code", code}, {"reason", reason}});
    }
  }
}

}  // namespace rendezvous
