#include "rendezvous/relay_service.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/write.hpp>
#include <spdlog/spdlog.h>

#include "common/endpoint.hpp"
#include "common/frame_reader.hpp"
#include "common/spawn.hpp"
#include "rendezvous/listener.hpp"
#include "rendezvous/server_context.hpp"

namespace rendezvous {

using namespace asio::experimental::awaitable_operators;

namespace {

/// Registered peer IDs never contain '@': only they get a traffic account that outlives them.
bool is_peer_id(const std::string& name) { return name.find('@') == std::string::npos; }
/// Public clients of exposed ports are capped per address on accept, not per name.
bool is_public_client(const std::string& name) { return name.rfind("client@", 0) == 0; }
/// A client of an exposed port and its exposer: counted apart, with limits of their own.
bool is_exposed_pair(const std::array<std::string, 2>& names) {
  return is_public_client(names[0]) || is_public_client(names[1]);
}

/// How long a public client of an exposed port waits for the exposing peer to join it.
constexpr auto client_wait = std::chrono::seconds(30);

double seconds_since(net::clock::time_point start) {
  return std::chrono::duration<double>(net::clock::now() - start).count();
}

}  // namespace

std::array<std::string, 2> relay_service::issue_for_attempt(const std::string& initiator, const std::string& responder,
                                                            std::chrono::seconds lifetime, std::array<std::string, 2> payers) {
  return tokens_.issue({initiator, responder}, net::clock::now() + lifetime, std::move(payers));
}

std::optional<std::string> relay_service::issue_for_client(relay_half client, const std::string& client_name,
                                                           const std::string& exposer, const std::string& payer,
                                                           std::string& why) {
  if (!admit_pair({client_name, exposer}, why)) return std::nullopt;
  return tokens_.issue_with({client_name, exposer}, net::clock::now() + client_wait, 0, std::move(client), {"", payer});
}

std::optional<std::string> relay_service::refusal_for(const std::string& payer) const {
  if (payer.empty() || !metering_.refusal) return std::nullopt;
  return metering_.refusal(payer);
}

void relay_service::cancel(const std::string& token, const std::string& reason) {
  if (auto half = tokens_.cancel(token)) {
    spdlog::info("relay: closed a waiting connection: {}", reason);
    if (half->speaks_frames) {
      refuse_now(half->socket, "peer_gone", reason);
    } else {
      std::error_code ignored;
      half->socket.close(ignored);
    }
  }
}

bool relay_service::admit_pair(const std::array<std::string, 2>& names, std::string& why) const {
  // Clients of exposed ports have their own limits (expose_service), checked when they arrived.
  if (is_exposed_pair(names)) return true;
  if (static_cast<int>(live_.size() - live_exposed_) >= config_.max_relay_pairs) {
    why = "the server relays its maximum of " + std::to_string(config_.max_relay_pairs) + " pairs";
    return false;
  }
  for (const auto& name : names) {
    auto it = live_per_peer_.find(name);
    if (!is_public_client(name) && it != live_per_peer_.end() && it->second >= config_.max_relay_pairs_per_peer) {
      why = name + " already has " + std::to_string(it->second) + " relayed pairs (the limit)";
      return false;
    }
  }
  return true;
}

net::awaitable<void> relay_service::serve(net::tcp::socket socket, admission_ticket ticket) {
  net::socket_registry::entry registration(short_lived_, socket);
  ticket.on_evict([&socket](const std::string& why) { refuse_now(socket, "evicted", why); });
  std::error_code ec;
  const auto who = net::to_string(net::unmapped(socket.remote_endpoint(ec)));
  asio::steady_timer timer(executor_, ticket.handshake_time());
  auto first = co_await (wire::read_exact_frame(socket) || timer.async_wait(net::use_nothrow));
  if (first.index() == 1) {
    log_.log(spdlog::level::warn, "relay: silent connections",
             fmt::format("relay {}: closed: no token within {:g} s", who, ticket.handshake_time().count() / 1000.0));
    co_return;
  }
  auto& hello = std::get<0>(first);
  if (hello.error) co_return;  // the client went away before asking
  std::string token;
  if (hello.message && hello.message->value("type", nlohmann::json()) == "pool" && pool_handler_) {
    // (The slot stays counted until the proof is in: a crowd of unproven ones is a handshake flood.)
    const auto why = co_await pool_handler_(*hello.message, std::move(socket), net::clock::now() + ticket.handshake_time());
    if (!why.empty()) {
      log_.log(spdlog::level::warn, "relay: refused pool connections", "relay " + who + ": refused a pool connection: " + why);
    }
    co_return;
  }
  if (hello.message && hello.message->value("type", nlohmann::json()) == "relay") {
    const auto& m = *hello.message;
    if (m.contains("token") && m["token"].is_string()) token = m["token"].get<std::string>();
  }
  if (token.empty()) {
    ++stats_.protocol_errors;
    const auto why = hello.protocol_error.empty() ? std::string("expected a relay token") : hello.protocol_error;
    log_.log(spdlog::level::warn, "relay: refused requests", "relay " + who + ": refused: " + why);
    refuse_now(socket, "bad_relay_request", why);
    co_return;
  }

  ticket.handshake_done();
  auto claim = tokens_.claim(token, relay_half{std::move(socket), true, std::move(ticket), token}, net::clock::now());
  switch (claim.outcome) {
    case relay::claim_outcome::waiting:
      spdlog::debug("relay {}: {} <-> {}: first half here, waiting for the other", who, claim.names[0], claim.names[1]);
      if (first_half_waiting_) first_half_waiting_(token);
      co_return;
    case relay::claim_outcome::paired: {
      std::string why;
      if (!admit_pair(claim.names, why)) {
        ++stats_.relay_refusals;
        spdlog::warn("relay: refused {} <-> {}: {}", claim.names[0], claim.names[1], why);
        refuse_pair(*claim.pair, "relay_full", why);
        co_return;
      }
      asio::co_spawn(executor_, run_pair(std::move(*claim.pair), claim.names, claim.payers), net::log_escaped("relay pair"));
      co_return;
    }
    default: {
      ++stats_.relay_refusals;
      const std::string why = relay::to_string(claim.outcome);
      log_.log(spdlog::level::warn, "relay: refused tokens", "relay " + who + ": refused: " + why);
      refuse_now(claim.rejected->socket, "bad_relay_token", why);
      co_return;
    }
  }
}

void relay_service::refuse_pair(std::array<relay_half, 2>& halves, const std::string& code, const std::string& why) {
  // (At once, not awaited: a peer that reads nothing must not hold the pair's sockets where
  // stop() cannot reach them. The frame is small enough for any send buffer.)
  for (auto& half : halves) {
    if (half.speaks_frames) {
      refuse_now(half.socket, code, why);
    } else {
      std::error_code ignored;
      half.socket.close(ignored);
    }
  }
}

bool relay_service::refuse_over_quota(std::array<relay_half, 2>& halves, const std::array<std::string, 2>& names,
                                      const std::array<std::string, 2>& payers) {
  for (int side = 0; side < 2; ++side) {
    const auto why = refusal_for(payers[side]);
    if (!why) continue;
    ++stats_.relay_refusals;
    log_.log(spdlog::level::warn, "relay: refused over quota",
             fmt::format("relay: refused {} <-> {}: {}", names[0], names[1], *why));
    refuse_pair(halves, "quota_exceeded", *why);
    return true;
  }
  return false;
}

void relay_service::start_pair(std::array<relay_half, 2> halves, std::array<std::string, 2> names,
                               std::array<std::string, 2> payers) {
  asio::co_spawn(executor_, run_pair(std::move(halves), std::move(names), std::move(payers)), net::log_escaped("relay pair"));
}

net::awaitable<void> relay_service::run_pair(std::array<relay_half, 2> halves, std::array<std::string, 2> names,
                                             std::array<std::string, 2> payers) {
  if (refuse_over_quota(halves, names, payers)) co_return;
  live_pair pair{&halves, names, payers, is_exposed_pair(names)};
  // Bookkeeping undone on every way out, exceptions included.
  struct registration_guard {
    relay_service& service;
    std::list<live_pair*>::iterator registration;
    ~registration_guard() {
      auto& pair = **registration;
      service.charge(pair);  // the last bytes
      service.live_.erase(registration);
      service.live_exposed_ -= pair.exposed ? 1 : 0;
      for (const auto& name : pair.names) {
        if (--service.live_per_peer_[name] == 0) service.live_per_peer_.erase(name);
      }
    }
  } bookkeeping{*this, live_.insert(live_.end(), &pair)};
  for (const auto& name : names) ++live_per_peer_[name];
  const bool exposed = pair.exposed;
  live_exposed_ += exposed ? 1 : 0;
  peer_pairs_total_ += exposed ? 0 : 1;
  // A client of an exposed port is one pair per HTTP connection: its lines at debug.
  const auto per_pair_level = exposed ? spdlog::level::debug : spdlog::level::info;
  const auto started = net::clock::now();

  bool ready = true;
  for (auto& half : halves) {
    if (!half.speaks_frames) continue;
    const nlohmann::json ok{{"type", "relay_ok"}};
    if (co_await wire::write_frame(half.socket, ok)) ready = false;
  }
  relay::pump_stats result;
  if (ready) {
    spdlog::debug("relay: {} <-> {} joined", names[0], names[1]);
    relay::pump_options options;
    options.idle_timeout = std::chrono::seconds(config_.relay_idle_timeout_s);
    options.live = &pair.progress;
    result = co_await relay::pump(halves[0].socket, halves[1].socket, options);
  } else {
    result.end = relay::pump_end::reset;
    result.detail = "could not confirm the pairing";
  }

  const std::uint64_t sent[2] = {result.a_to_b, result.b_to_a};
  std::string totals;
  for (int side = 0; side < 2; ++side) {
    if (!is_peer_id(names[side])) continue;
    const auto& account = add_traffic(names[side], sent[side], sent[1 - side]);
    totals += fmt::format("; {} in total: sent {}, received {} over {} pair(s)", names[side], account.sent,
                          account.received, account.pairs);
  }
  bytes_relayed_ += result.a_to_b + result.b_to_a;
  if (exposed) count_exposed(result.a_to_b + result.b_to_a);
  const bool upgraded = halves[0].upgraded || halves[1].upgraded;
  peer_pairs_upgraded_ += upgraded ? 1 : 0;
  const auto why = pair.closed_why.empty() ? std::string(relay::to_string(result.end)) : "closed: " + pair.closed_why;
  spdlog::log(pair.closed_why.empty() ? per_pair_level : spdlog::level::warn,
              "relay: {} <-> {} ended after {:.1f} s ({}{}{}): {} sent {} bytes, {} sent {} bytes{}", names[0], names[1],
              seconds_since(started), upgraded ? "upgraded to direct, " : "", why,
              result.detail.empty() ? "" : ": " + result.detail, names[0], result.a_to_b, names[1], result.b_to_a, totals);
}

void relay_service::charge(live_pair& pair) {
  const std::uint64_t moved[2] = {pair.progress.a_to_b, pair.progress.b_to_a};
  const std::uint64_t delta = (moved[0] - pair.metered[0]) + (moved[1] - pair.metered[1]);
  pair.metered[0] = moved[0];
  pair.metered[1] = moved[1];
  if (delta == 0 || !metering_.charge) return;
  // Each peer of the pair is charged what the relay carried for it: both directions (an
  // unregistered one, "anonymous@...", to its account under no ID; a public client to nobody).
  // Two IDs of one account on one pair: each ID's row has the bytes, the account is billed once.
  bool billed[2] = {false, false};
  for (int side = 0; side < 2; ++side) {
    const bool peer = is_peer_id(pair.names[side]);
    if (!peer && pair.payers[side].empty()) continue;
    const bool bill = !(side == 1 && billed[0] && pair.payers[1] == pair.payers[0]);
    metering_.charge(pair.payers[side], peer ? pair.names[side] : "", pair.exposed, delta, bill);
    billed[side] = true;
  }
}

void relay_service::meter_live() {
  for (auto* pair : live_) charge(*pair);
  for (auto* client : carried_) {
    const auto moved = *client->sent_by_exposer + *client->received_by_exposer;
    if (metering_.charge && moved > client->metered) metering_.charge(client->payer, client->exposer, true, moved - client->metered, true);
    client->metered = moved;
  }
  if (metering_.refusal) close_pairs_where(metering_.refusal);
}

void relay_service::close_pairs_where(const std::function<std::optional<std::string>(const std::string& payer)>& why) {
  std::error_code ignored;
  for (auto* pair : live_) {
    if (!pair->closed_why.empty()) continue;
    for (const auto& payer : pair->payers) {
      if (payer.empty()) continue;
      if (auto reason = why(payer)) {
        pair->closed_why = std::move(*reason);
        for (auto& half : *pair->halves) half.socket.close(ignored);
        break;
      }
    }
  }
  for (auto* client : carried_) {
    if (!client->closed_why.empty() || client->payer.empty()) continue;
    if (auto reason = why(client->payer)) {
      client->closed_why = std::move(*reason);
      client->close(client->closed_why);
    }
  }
}

traffic_account relay_service::traffic_of(const std::string& id) const {
  const auto it = accounts_.find(id);
  auto traffic = it == accounts_.end() ? traffic_account{} : it->second;
  for (const auto* pair : live_) {
    const std::uint64_t sent[2] = {pair->progress.a_to_b, pair->progress.b_to_a};
    for (int side = 0; side < 2; ++side) {
      if (pair->names[side] != id) continue;
      traffic.sent += sent[side];
      traffic.received += sent[1 - side];
    }
  }
  for (const auto* client : carried_) {
    if (client->exposer != id) continue;
    traffic.sent += *client->sent_by_exposer;
    traffic.received += *client->received_by_exposer;
  }
  return traffic;
}

std::uint64_t relay_service::live_bytes() const {
  std::uint64_t bytes = 0;
  for (const auto* pair : live_) bytes += pair->progress.a_to_b + pair->progress.b_to_a;
  for (const auto* client : carried_) bytes += *client->sent_by_exposer + *client->received_by_exposer;
  return bytes;
}

void relay_service::note_upgraded(const std::string& token) {
  if (token.empty()) return;
  for (auto* pair : live_) {
    for (auto& half : *pair->halves) {
      if (half.token == token) half.upgraded = true;
    }
  }
}

void relay_service::carrying(carried_client& client) { carried_.push_back(&client); }

void relay_service::carried_ended(carried_client& client) {
  carried_.remove(&client);
  const auto sent = *client.sent_by_exposer, received = *client.received_by_exposer;
  if (metering_.charge && sent + received > client.metered) {
    metering_.charge(client.payer, client.exposer, true, sent + received - client.metered, true);
  }
  add_traffic(client.exposer, sent, received);
  bytes_relayed_ += sent + received;
  count_exposed(sent + received);
}

const traffic_account& relay_service::add_traffic(const std::string& id, std::uint64_t sent, std::uint64_t received) {
  auto& account = accounts_[id];
  account.sent += sent;
  account.received += received;
  ++account.pairs;
  return account;
}

void relay_service::count_exposed(std::uint64_t bytes) {
  exposed_bytes_ += bytes;
  ++exposed_served_;
}

void relay_service::expire(net::clock::time_point now) {
  for (auto& [half, names] : tokens_.expire(now)) {
    spdlog::info("relay: {} <-> {}: token expired with one side waiting; closed it", names[0], names[1]);
    std::error_code ignored;
    half.socket.close(ignored);
  }
}

void relay_service::stop() {
  std::error_code ignored;
  for (auto* pair : live_) {
    for (auto& half : *pair->halves) half.socket.close(ignored);
  }
  for (auto& [half, names] : tokens_.expire(net::clock::time_point::max())) half.socket.close(ignored);
}

}  // namespace rendezvous
