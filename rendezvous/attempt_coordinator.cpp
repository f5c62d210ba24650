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

}  // namespace

nlohmann::json side_reports::candidates() const {
  std::vector<net::tcp::endpoint> all;
  for (const auto& report : received) {
    all.push_back(report.mapped);
    all.insert(all.end(), report.private_endpoints.begin(), report.private_endpoints.end());
  }
  std::stable_partition(all.begin(), all.end(), [](const net::tcp::endpoint& e) { return e.address().is_v6(); });
  nlohmann::json list = nlohmann::json::array();
  std::vector<net::tcp::endpoint> listed;
  for (const auto& endpoint : all) {
    if (std::find(listed.begin(), listed.end(), endpoint) != listed.end()) continue;
    listed.push_back(endpoint);
    list.push_back(net::to_string(endpoint));
  }
  return list;
}

std::string side_reports::mapped() const {
  std::string text;
  for (const auto& report : received) text += (text.empty() ? "" : ", ") + net::to_string(report.mapped);
  return text;
}

attempt_side attempt_side::here(const std::shared_ptr<client_session>& session) {
  attempt_side side;
  side.session = session;
  side.name = session->display_name();
  side.key = session->key();
  return side;
}

std::optional<std::string> attempt_coordinator::refuse(const client_session& initiator,
                                                       const std::string& responder) const {
  if (attempts_.size() >= max_attempts) return "the server has too many connect attempts in flight";
  std::size_t mine = 0, to_target = 0, dispatched_to_target = 0;
  for (const auto& [id, a] : attempts_) {
    const bool from_me = a.sides[0].session.lock().get() == &initiator;
    const bool to_them = a.sides[1].name == responder;  // an ID is registered once cluster-wide
    mine += from_me ? 1 : 0;
    to_target += from_me && to_them ? 1 : 0;
    // Only attempts the responder was told of occupy it; the others cost it nothing.
    dispatched_to_target += to_them && a.dispatched ? 1 : 0;
  }
  if (mine >= max_attempts_per_initiator) return "too many of your connect attempts in flight";
  if (to_target >= max_attempts_per_pair) {
    return "you already have " + std::to_string(to_target) + " connect attempts to " + responder + " in flight";
  }
  if (dispatched_to_target >= max_attempts_per_responder) return "too many connect attempts to that peer in flight";
  return std::nullopt;
}

std::string attempt_coordinator::start(const std::shared_ptr<client_session>& initiator, attempt_side responder,
                                       long long request, const plan& how) {
  attempt a;
  a.id = crypto::random_hex(8);
  a.token = crypto::random_hex(16);
  a.sides[0] = attempt_side::here(initiator);
  a.sides[1] = std::move(responder);
  a.expires = net::clock::now() + how.timeout;
  a.relay_tokens = how.relay_tokens;
  // A new connection (not a resumed session's) reports how it ended, if there is room to wait.
  // (By when: the attempt, the initiator's punch, and a minute for the relay and the handshake.)
  const auto now = net::clock::now();
  const auto report_by = now + how.timeout + std::chrono::milliseconds(how.punch_timeout_ms) + std::chrono::seconds(60);
  const bool report = how.resume.empty() && outcomes_.started(a.id, initiator.get(), now, report_by);
  for (int side = 0; side < 2; ++side) {
    nlohmann::json message{{"type", "attempt"},        {"attempt", a.id},         {"token", a.token},
                           {"role", nat::to_string(side == 0 ? nat::role::initiator : nat::role::responder)}, {"peer", a.sides[1 - side].name}, {"path", how.path},
                           {"hole_port", how.hole_port}, {"relay_port", how.relay_port},
                           {"relay_token", how.relay_tokens[side]}, {"punch_timeout_ms", how.punch_timeout_ms}};
    if (side == 0) message["req"] = request;
    if (side == 0 && report) message["report"] = true;
    if (!how.hole_hosts.empty()) message["hole_hosts"] = how.hole_hosts;
    // The other side's proven identity key: the session handshake accepts no other.
    if (const auto& key = a.sides[1 - side].key) message["peer_key"] = identity::to_hex(*key);
    if (!how.reason.empty()) message["reason"] = how.reason;
    if (!how.resume.empty()) {
      // Not a new connection: the responder hands it to the session of that tag.
      message["resume"] = how.resume;
      if (side == 1) message["type"] = "resume";
    }
    // A responder on another node reaches our ports at our address, not at its own node's.
    if (a.sides[side].remote()) message["server_host"] = how.host;
    if (side == 0) initiator->send(message);
    else a.responder_message = std::move(message);  // sent once the initiator commits
  }
  spdlog::info("attempt {}: {} -> {}{} started (path {}{})", a.id, a.sides[0].name, a.sides[1].name,
               a.sides[1].remote() ? " on node " + a.sides[1].node : "", how.path,
               how.reason.empty() ? "" : ": " + how.reason);
  auto id = a.id;
  a.relay_only = how.path == "relay";  // then kept only to count against the caps
  if (a.relay_only) by_initiator_relay_token_.emplace(a.relay_tokens[0], id);
  attempts_.emplace(id, std::move(a));
  return id;
}

void attempt_coordinator::tell(const attempt_side& side, const nlohmann::json& message) {
  if (!side.remote()) {
    if (auto session = side.session.lock()) session->send(message);
    return;
  }
  post_(side.node, {{"kind", "deliver"}, {"to", side.name}, {"message", message}, {"sent_ms", net::now_ms()}});
}

void attempt_coordinator::dispatch(attempt& a) {
  if (a.dispatched) return;
  a.dispatched = true;
  by_initiator_relay_token_.erase(a.relay_tokens[0]);
  tell(a.sides[1], a.responder_message);
  a.responder_message = nlohmann::json();
  spdlog::debug("attempt {}: {} committed; {} told", a.id, a.sides[0].name, a.sides[1].name);
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
  spdlog::debug("attempt {}: {} is at {}", a.id, a.sides[side].name, net::to_string(report.mapped));
  auto& reports = a.reports[side];
  if (reports.complete()) return true;  // (a report more than announced changes nothing)
  reports.received.push_back(std::move(report));
  if (side == 0) dispatch(a);
  if (!a.reports[0].complete() || !a.reports[1].complete()) return true;

  long long rtt[2] = {0, 0};
  for (int s = 0; s < 2; ++s) {
    if (a.sides[s].remote()) {
      rtt[s] = a.sides[s].rtt_ms;
      continue;
    }
    auto session = a.sides[s].session.lock();
    if (!session) {
      fail(a, "peer_gone", a.sides[s].name + " went away");
      attempts_.erase(it);
      return true;
    }
    rtt[s] = session->rtt_ms();
  }
  // Start both when the later of the two instructions has arrived, so the SYNs cross
  // (each instruction takes about half that side's round trip to arrive).
  const long long latest = std::max(rtt[0], rtt[1]) / 2;
  for (int s = 0; s < 2; ++s) {
    const long long delay = base_delay_ms + latest - rtt[s] / 2;
    tell(a.sides[s], {{"type", "punch"},
                      {"attempt", a.id},
                      {"candidates", a.reports[1 - s].candidates()},
                      {"observed", net::to_string(a.reports[s].received.front().mapped)},
                      {"delay_ms", delay}});
  }
  spdlog::info("attempt {}: punching {} ({}) <-> {} ({})", a.id, a.sides[0].name, a.reports[0].mapped(),
               a.sides[1].name, a.reports[1].mapped());
  attempts_.erase(it);
  return true;
}

void attempt_coordinator::decline(const std::string& attempt_id, const client_session& responder,
                                  const std::string& reason) {
  if (auto there = elsewhere_.find(attempt_id); there != elsewhere_.end()) {
    if (there->second.responder.lock().get() != &responder) return;
    post_(there->second.node, {{"kind", "declined"}, {"attempt", attempt_id}, {"id", responder.id()}, {"reason", reason}});
    elsewhere_.erase(there);
    return;
  }
  auto it = attempts_.find(attempt_id);
  if (it == attempts_.end() || it->second.sides[1].remote() || it->second.sides[1].session.lock().get() != &responder) return;
  end_declined(it, reason);
}

void attempt_coordinator::end_declined(std::map<std::string, attempt>::iterator it, const std::string& reason) {
  attempt& a = it->second;
  spdlog::info("attempt {}: {} declined: {}", a.id, a.sides[1].name, reason);
  ++failures_["peer_busy"];
  outcomes_.failed(a.id);
  tell(a.sides[0], {{"type", "attempt_failed"},
                    {"attempt", a.id},
                    {"code", "peer_busy"},
                    {"reason", a.sides[1].name + " declined the connection: " + reason}});
  cancel_relay_(a.relay_tokens, a.sides[1].name + " declined");
  attempts_.erase(it);
}

std::map<std::string, attempt>::iterator attempt_coordinator::remote_attempt(const std::string& attempt_id,
                                                                             const std::string& node,
                                                                             const std::string& id) {
  auto it = attempts_.find(attempt_id);
  if (it == attempts_.end()) return it;
  const auto& responder = it->second.sides[1];
  // Only the responder's own node speaks for it.
  return responder.remote() && responder.node == node && responder.name == id ? it : attempts_.end();
}

void attempt_coordinator::coordinated_elsewhere(const std::string& attempt_id, const std::string& node,
                                                const std::shared_ptr<client_session>& session,
                                                std::chrono::seconds lifetime) {
  if (elsewhere_.size() >= max_attempts && !elsewhere_.contains(attempt_id)) return;  // declines then go unheard: it times out
  elsewhere_[attempt_id] = elsewhere{node, session, net::clock::now() + lifetime};
}

void attempt_coordinator::delivered(const std::string& attempt_id, const std::string& node, long long rtt_ms,
                                    long long sent_ms) {
  auto it = attempts_.find(attempt_id);
  if (it == attempts_.end() || it->second.sides[1].node != node) return;
  // The instruction crosses Redis once more than the peer's own round trip covers.
  const long long between_nodes = std::clamp(net::now_ms() - sent_ms, 0LL, 2000LL);
  it->second.sides[1].rtt_ms = std::clamp(rtt_ms, 0LL, 10000LL) + between_nodes;
}

void attempt_coordinator::declined_elsewhere(const std::string& attempt_id, const std::string& node,
                                             const std::string& id, const std::string& reason) {
  auto it = remote_attempt(attempt_id, node, id);
  if (it != attempts_.end()) end_declined(it, reason);
}

void attempt_coordinator::gone_elsewhere(const std::string& attempt_id, const std::string& node, const std::string& id,
                                         const std::string& reason) {
  auto it = remote_attempt(attempt_id, node, id);
  if (it == attempts_.end()) return;
  fail(it->second, "peer_gone", reason);
  cancel_relay_(it->second.relay_tokens, reason);
  by_initiator_relay_token_.erase(it->second.relay_tokens[0]);
  attempts_.erase(it);
}

void attempt_coordinator::expire(net::clock::time_point now) {
  outcomes_.expire(now);
  std::erase_if(elsewhere_, [now](const auto& entry) { return entry.second.expires <= now; });
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
      fail(it->second, "timeout", it->second.sides[0].name + " did not join its own attempt in time");
      cancel_relay_(it->second.relay_tokens, "the attempt expired");
      by_initiator_relay_token_.erase(it->second.relay_tokens[0]);
      it = attempts_.erase(it);
      continue;
    }
    std::string missing;
    for (int side = 0; side < 2; ++side) {
      if (!it->second.reports[side].complete()) missing += (missing.empty() ? "" : " and ") + it->second.sides[side].name;
    }
    fail(it->second, "timeout", "no hole-assist report from " + missing + " in time");
    it = attempts_.erase(it);
  }
}

void attempt_coordinator::forget(const client_session& session) {
  for (auto it = elsewhere_.begin(); it != elsewhere_.end();) {
    if (it->second.responder.lock().get() != &session) {
      ++it;
      continue;
    }
    post_(it->second.node, {{"kind", "gone"}, {"attempt", it->first}, {"id", session.id()},
                            {"reason", session.display_name() + " went away"}});
    it = elsewhere_.erase(it);
  }
  for (auto it = attempts_.begin(); it != attempts_.end();) {
    const auto is = [&session](const attempt_side& side) { return !side.remote() && side.session.lock().get() == &session; };
    const bool involved = is(it->second.sides[0]) || is(it->second.sides[1]);
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
  // (After the attempts in flight were failed and counted: what it had not reported is unknown.)
  outcomes_.initiator_gone(&session);
}

void attempt_coordinator::fail(attempt& a, const std::string& code, const std::string& reason) {
  if (a.relay_only && a.dispatched) return;
  if (failures_.size() < 16 || failures_.contains(code)) ++failures_[code];  // (a handful of codes; bounded anyway)
  outcomes_.failed(a.id);
  // An attempt its responder never heard of is a requester's own business (and spam's): info only.
  spdlog::log(a.dispatched ? spdlog::level::warn : spdlog::level::info, "attempt {}: {} -> {} failed: {}", a.id,
              a.sides[0].name, a.sides[1].name, reason);
  for (int side = 0; side < 2; ++side) {
    if (side == 1 && !a.dispatched) continue;  // never told of it
    tell(a.sides[side], {{"type", "attempt_failed"}, {"attempt", a.id}, {"code", code}, {"reason", reason}});
  }
}

}  // namespace rendezvous
