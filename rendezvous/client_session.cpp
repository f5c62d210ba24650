#include "rendezvous/client_session.hpp"

#include <asio/co_spawn.hpp>
#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/endpoint.hpp"
#include "common/json_fields.hpp"
#include "common/peer_id.hpp"
#include "rendezvous/account_book.hpp"
#include "rendezvous/server_context.hpp"
#include "rendezvous/state_db.hpp"

namespace rendezvous {

namespace {

/// Client-supplied text echoed into replies and logs is clipped, so it can never push a reply
/// over the frame limit or flood the log.
std::string clip(const std::string& text, std::size_t limit = 64) {
  return text.size() <= limit ? text : text.substr(0, limit) + "...";
}

/// Messages a client starts (as opposed to answers to what the server sent it: declines,
/// proxy failures, error reports), which its request budget pays for.
bool is_request(const nlohmann::json& message) {
  const auto& type = message["type"].get_ref<const std::string&>();
  return type != "decline" && type != "proxy_failed" && type != "error";
}

/// Why `account` may not expose `port` (its own range is narrower than the server's), if it may not.
std::optional<expose_error> account_may_expose(const server_context& context, const std::string& account, int port) {
  const auto* a = context.accounts && !account.empty() ? context.accounts->find(account) : nullptr;
  if (a == nullptr || !a->expose_ports || (port >= a->expose_ports->first && port <= a->expose_ports->second)) return std::nullopt;
  return expose_error{"port_not_allowed", "account '" + account + "' may expose only ports " +
                                              std::to_string(a->expose_ports->first) + "-" + std::to_string(a->expose_ports->second)};
}

/// The most IDs a "peers" reply lists, keeping it far below the 64 KiB frame limit.
constexpr std::size_t max_listed_ids = 500;
/// Requests held while one waits for the directory; a client that pipelines more is closed.
constexpr std::size_t max_backlog = 64;

wire::channel_options channel_options_for(const server_config& config) {
  wire::channel_options options;
  options.silence_timeout = std::chrono::seconds(config.peer_timeout_s);
  options.heartbeat_interval = std::max(std::chrono::milliseconds(500), options.silence_timeout / 3);
  options.rtt_interval = std::chrono::seconds(60);  // peers ping us; we ping a talking peer only for its RTT
  return options;
}

}  // namespace

client_session::client_session(server_context& context, net::tcp::socket socket, admission_ticket ticket)
    : context_(context),
      channel_(std::make_shared<wire::message_channel>(std::move(socket), channel_options_for(context.config))),
      ticket_(std::move(ticket)),
      remote_(net::to_string(channel_->remote())) {
  ticket_.on_evict([channel = std::weak_ptr(channel_)](const std::string& why) {
    if (auto open = channel.lock()) {
      open->close_with_notice({{"type", "error"}, {"code", "evicted"}, {"message", why}}, wire::close_reason::closed_locally, why);
    }
  });
}

std::string client_session::display_name() const {
  if (!id_.empty()) return id_;
  return claimed_id_.empty() ? "anonymous@" + remote_ : claimed_id_;
}

long long client_session::rtt_ms() const {
  auto rtt = channel_->rtt();
  return rtt ? rtt->count() : 0;
}

void client_session::start() {
  registration_ = context_.sessions.insert(context_.sessions.end(), this);
  challenge_ = crypto::random_hex(16);
  const bool accounts = context_.accounts && context_.accounts->in_use();
  send({{"type", "hello"}, {"version", 1}, {"challenge", challenge_}, {"auth_required", !context_.config.token.empty() || accounts}});
  // A timer only until the handshake is done: an authenticated connection holds none of its own.
  handshake_timer_ = std::make_unique<asio::steady_timer>(context_.executor, ticket_.handshake_time());
  handshake_timer_->async_wait([weak = weak_from_this()](std::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->handshake_timer_ == nullptr || !self->channel_->is_open()) return;
    self->context_.log.log(spdlog::level::warn, "main: silent connections",
                           fmt::format("{}: closed: no handshake within {:g} s", self->remote_,
                                       self->ticket_.handshake_time().count() / 1000.0));
    self->channel_->close(wire::close_reason::closed_locally, "handshake timeout");
  });
  channel_->start([self = shared_from_this()](nlohmann::json& message) { self->on_message(message); },
                  [self = shared_from_this()] {
                    self->context_.sessions.erase(self->registration_);
                    self->leave();
                  });
}

void client_session::on_message(const nlohmann::json& message) {
  if (!channel_->is_open()) return;
  if (handshake_timer_) {
    handshake_timer_.reset();  // cancels its wait
    finish_handshake(message);
    return;
  }
  // Frames pipelined behind a refused auth are drained, never handled.
  if (!authenticated_) return;
  if (is_request(message) && !requests_.try_take()) {
    context_.log.log(spdlog::level::warn, "main: throttled clients",
                     display_name() + ": more than 20 requests a second: reading its requests more slowly");
    channel_->pause_reading(requests_.wait_time());
  }
  if (busy_) {
    if (backlog_.size() >= max_backlog) {
      ++context_.stats.protocol_errors;
      context_.log.log(spdlog::level::warn, "main: request backlog",
                       display_name() + ": closed: more than 64 requests sent without waiting for replies");
      close_with_error("too_many_requests", "more than 64 requests sent without waiting for replies");
      return;
    }
    backlog_.push_back(message);
    return;
  }
  dispatch(message);
}

void client_session::dispatch(const nlohmann::json& message) {
  try {
    handle(message);
  } catch (const wire::field_error& e) {
    // A field of the wrong type or out of range: refuse this request, keep the connection.
    refuse_bad_request(message, e.what(), e.what());
  } catch (const nlohmann::json::exception& e) {
    refuse_bad_request(message, e.what(), "malformed request fields");
  }
}

void client_session::refuse_bad_request(const nlohmann::json& message, const std::string& why, const std::string& reply) {
  ++context_.stats.protocol_errors;
  spdlog::warn("{}: bad request: {}", display_name(), why);
  reply_error(message, "bad_request", reply);
}

void client_session::run_in_order(net::awaitable<void> task) {
  busy_ = true;
  asio::co_spawn(context_.executor, std::move(task), [self = shared_from_this()](std::exception_ptr error) {
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        spdlog::error("{}: a request failed: {}", self->display_name(), e.what());
      }
    }
    self->busy_ = false;
    self->drain_backlog();
  });
}

net::awaitable<void> client_session::refusing_malformed(net::awaitable<void> task, nlohmann::json message) {
  try {
    co_await std::move(task);
  } catch (const wire::field_error& e) {
    refuse_bad_request(message, e.what(), e.what());
  } catch (const nlohmann::json::exception& e) {
    refuse_bad_request(message, e.what(), "malformed request fields");
  }
}

void client_session::drain_backlog() {
  while (!busy_ && !backlog_.empty() && channel_->is_open()) {
    auto message = std::move(backlog_.front());
    backlog_.pop_front();
    dispatch(message);
  }
}

void client_session::finish_handshake(const nlohmann::json& message) {
  const auto challenge = std::exchange(challenge_, std::string());
  if (!authenticate(message, challenge)) return;
  ticket_.handshake_done();
  if (context_.idle_clients >= context_.config.max_idle_clients) {
    context_.log.log(spdlog::level::warn, "main: full of clients without an ID",
                     fmt::format("{}: refused: {} connections without an ID (the limit)", remote_, context_.idle_clients));
    channel_->send_and_close({{"type", "error"}, {"code", "server_full"},
                              {"message", "the server has too many connections right now; try again later"}},
                             wire::close_reason::closed_locally, "server full");
    return;
  }
  authenticated_ = true;
  ++context_.idle_clients;
  send({{"type", "auth_ok"}});
}

bool client_session::authenticate(const nlohmann::json& message, const std::string& challenge) {
  try {
    return check_auth(message, challenge);
  } catch (const std::exception& e) {
    // Fields of the wrong type: a refusal the client can read, never the catch-all for bugs.
    ++context_.stats.protocol_errors;
    spdlog::warn("{}: refused: malformed auth message: {}", remote_, clip(e.what(), 120));
    channel_->send_and_close({{"type", "error"}, {"code", "bad_request"}, {"message", std::string("malformed auth message: ") + e.what()}},
                             wire::close_reason::closed_locally, "malformed auth");
    return false;
  }
}

bool client_session::check_auth(const nlohmann::json& message, const std::string& challenge) {
  if (message.value("type", "") != "auth") {
    ++context_.stats.protocol_errors;
    spdlog::warn("{}: refused: sent '{}' before authenticating", remote_, clip(message.value("type", "")));
    channel_->send_and_close({{"type", "error"}, {"code", "auth_required"}, {"message", "authenticate first"}},
                             wire::close_reason::closed_locally, "no auth");
    return false;
  }
  const auto& token = context_.config.token;
  const auto proof = wire::string_field(message, "proof");
  const bool token_proved = !token.empty() && crypto::proofs_equal(proof, crypto::hmac_hex(token, challenge));
  const bool accounts = context_.accounts && context_.accounts->in_use();
  // An account's token where the server keeps accounts (unless it is the server-wide token,
  // shaped like one); otherwise the server-wide token.
  if (message.contains("user") && accounts && !token_proved) {
    return check_account(message, challenge) && accept_key(message, challenge);
  }
  if (!token_proved && (!token.empty() || accounts)) {
    const bool keeps_none = message.contains("user") && !accounts;
    refuse_auth("auth_failed", keeps_none ? "wrong token (this server keeps no accounts)" : "wrong token",
                remote_ + ": refused: wrong token" + (keeps_none ? " (an account's, and this server keeps none)" : ""));
    return false;
  }
  anonymous_ = !token_proved;
  return accept_key(message, challenge);
}

bool client_session::check_account(const nlohmann::json& message, const std::string& challenge) {
  const auto name = wire::string_field(message, "user");
  const auto refusal = context_.accounts->check(name, challenge, wire::string_field(message, "user_sig"), unix_now());
  if (refusal) {
    refuse_auth(refusal->code, refusal->message, remote_ + ": refused account '" + clip(name) + "': " + refusal->message);
    return false;
  }
  account_ = name;
  account_verifier_ = context_.accounts->find(name)->verifier;
  return true;
}

void client_session::refuse_auth(const std::string& code, const std::string& message, const std::string& log_line) {
  ++context_.stats.auth_failures;
  context_.log.log(spdlog::level::warn, "main: refused authentications", log_line);
  channel_->send_and_close({{"type", "error"}, {"code", code}, {"message", message}}, wire::close_reason::closed_locally,
                           "auth refused: " + message);
}

bool client_session::accept_key(const nlohmann::json& message, const std::string& challenge) {
  if (!message.contains("key")) return true;  // a key is needed only to register
  const auto key_hex = wire::string_field(message, "key");
  const auto sig_hex = wire::string_field(message, "key_sig");
  const auto key = identity::public_key_from_hex(key_hex);
  if (key && identity::verify_hex(*key, identity::server_proof_message(challenge), sig_hex)) {
    key_ = key;
    return true;
  }
  ++context_.stats.auth_failures;
  spdlog::warn("{}: refused: its identity key proof does not verify", remote_);
  channel_->send_and_close({{"type", "error"}, {"code", "auth_failed"}, {"message", "identity key proof does not verify"}},
                           wire::close_reason::closed_locally, "key proof failed");
  return false;
}

void client_session::handle(const nlohmann::json& message) {
  const auto& type = message["type"].get_ref<const std::string&>();
  if (type == "register") {
    run_in_order(refusing_malformed(handle_register(message), message));
  } else if (type == "list") {
    run_in_order(refusing_malformed(handle_list(message), message));
  } else if (type == "connect") {
    run_in_order(refusing_malformed(handle_connect(message), message));
  } else if (type == "probe_info") {
    auto info = context_.probes.info();
    info["type"] = "probe_info";
    info["hosts"] = context_.public_hosts;  // to probe over the other family too
    info["observed"] = remote_;             // (a peer keys its cached NAT verdict by it)
    info["req"] = wire::request_number(message);
    send(info);
  } else if (type == "upgraded") {
    // The session on the relay pair this token joined moved to a direct path (its end is no loss).
    context_.relay.note_upgraded(wire::string_field(message, "relay_token"));
  } else if (type == "nat_report") {
    handle_nat_report(message);
  } else if (type == "expose") {
    run_in_order(refusing_malformed(handle_expose(message), message));
  } else if (type == "pool_open") {
    const auto secret = context_.exposes.pool_open(*this);
    if (!secret) return reply_error(message, "not_registered", "register an ID before opening a pool");
    send({{"type", "pool_open"}, {"req", wire::request_number(message)}, {"secret", *secret},
          {"relay_port", context_.config.relay_port}, {"max", context_.exposes.pool_per_owner()},
          {"channels", context_.exposes.channels_per_owner()}});
  } else if (type == "proxy_failed") {
    const auto token = wire::string_field(message, "token");
    const auto why = display_name() + " could not reach its service: " + clip(wire::string_field(message, "reason", "?"), 200);
    // A client another node forwarded waits at that node's relay: it is told instead.
    if (!context_.exposes.forwarded_failed(token, why)) context_.relay.cancel(token, why);
  } else if (type == "connected" || type == "connect_failed") {
    // The initiator's word on how its attempt ended (for the metrics only: nothing else trusts it).
    const auto outcome = type == "connected" ? wire::string_field(message, "path") : std::string("failed");
    context_.attempts.outcome_reported(wire::string_field(message, "attempt"), *this, outcome);
  } else if (type == "decline") {
    context_.attempts.decline(wire::string_field(message, "attempt"), *this, clip(wire::string_field(message, "reason", "declined"), 200));
  } else if (type == "error") {
    spdlog::warn("{}: reported an error: {}", display_name(), clip(wire::string_field(message, "message", "?"), 200));
  } else {
    ++context_.stats.protocol_errors;
    spdlog::warn("{}: unknown message type '{}'", display_name(), clip(type));
    reply_error(message, "unknown_type", "unknown message type '" + clip(type) + "'");
  }
}

net::awaitable<void> client_session::handle_register(nlohmann::json message) {
  auto self = shared_from_this();
  const auto id = wire::string_field(message, "id");
  if (!id_.empty()) {
    reply_error(message, "already_registered", "this connection is already " + id_);
    co_return;
  }
  if (!wire::is_valid_peer_id(id)) {
    reply_error(message, "invalid_id", "an ID is 1 to 64 of A-Z a-z 0-9 . _ -");
    co_return;
  }
  const auto duplicate = [&] {
    spdlog::warn("{}: refused duplicate registration of '{}'", remote_, id);
    reply_error(message, "duplicate_id", "ID '" + id + "' is already registered by a live peer");
  };
  if (context_.registry.contains(id) || context_.claiming.contains(id)) {
    duplicate();
    co_return;
  }
  if (static_cast<int>(context_.registry.size()) >= context_.config.max_peers) {
    context_.log.log(spdlog::level::warn, "register: server full",
                     fmt::format("{}: refused '{}': server full ({} peers, the limit)", remote_, id, context_.registry.size()));
    reply_error(message, "server_full", "the server has reached its peer limit");
    co_return;
  }
  // Held while the directory is asked: a second registration of the ID here is a duplicate.
  context_.claiming.insert(id);
  struct unclaim {
    server_context& context;
    const std::string& id;
    ~unclaim() { context.claiming.erase(id); }
  } held{context_, id};
  if (!co_await key_may_register(message, id)) co_return;
  registered_ms_ = unix_now() * 1000;
  auto claim = co_await context_.directory->claim(id, registration_info());
  if (!channel_->is_open()) {
    if (claim.taken) context_.directory->release(id);
    co_return;
  }
  if (!claim.taken && !claim.unavailable.empty()) {
    spdlog::warn("{}: cannot register '{}': {}", remote_, id, claim.unavailable);
    reply_error(message, "cluster_unavailable",
                "the server cannot reach its cluster store to register '" + id + "' right now; try again shortly");
    co_return;
  }
  if (!claim.taken) {
    spdlog::warn("{}: refused duplicate registration of '{}' (held on node {})", remote_, id, claim.holder);
    nlohmann::json refusal{{"type", "error"},
                           {"req", wire::request_number(message)},
                           {"code", "duplicate_id"},
                           {"message", "ID '" + id + "' is already registered by a live peer (on node " + clip(claim.holder) + ")"}};
    // If that node died, the ID is free when its lease lapses: a reconnecting peer retries then.
    if (claim.lease_left) refusal["retry_after_ms"] = claim.lease_left->count();
    send(refusal);
    co_return;
  }
  id_ = id;
  --context_.idle_clients;
  context_.registry.emplace(id_, shared_from_this());
  ++context_.stats.registrations;
  spdlog::info("{} registered from {} (key {})", id_, remote_, identity::fingerprint(*key_));
  send({{"type", "registered"}, {"req", wire::request_number(message)}, {"id", id_}, {"observed", remote_}});
}

net::awaitable<void> client_session::handle_list(nlohmann::json message) {
  auto self = shared_from_this();
  auto listed = co_await context_.directory->list(max_listed_ids);
  if (!listed.unavailable.empty()) {
    // Only this node's own peers can be listed: say so rather than fail.
    listed = {};
    listed.total = context_.registry.size();
    for (const auto& [id, session] : context_.registry) {
      if (listed.ids.size() == max_listed_ids) break;
      listed.ids.push_back(id);
    }
    listed.unavailable = "the cluster store is unreachable: only this node's peers are listed";
  }
  nlohmann::json reply{{"type", "peers"},
                       {"req", wire::request_number(message)},
                       {"ids", listed.ids},
                       {"total", listed.total},
                       {"truncated", listed.total > listed.ids.size()}};
  if (!listed.unavailable.empty()) reply["partial"] = listed.unavailable;
  send(reply);
}

net::awaitable<bool> client_session::key_may_register(nlohmann::json message, std::string id) {
  if (!key_) {
    ++context_.stats.key_refusals;
    spdlog::warn("{}: refused '{}': no identity key", remote_, id);
    reply_error(message, "key_required", "registering needs an identity key; this peer is too old for the server");
    co_return false;
  }
  // (A named argument: GCC 12 destroys a temporary aggregate passed into a coroutine twice.)
  pin_owner owner{account_};
  const auto pin = co_await context_.directory->check_or_pin(id, *key_, owner);
  if (pin.verdict == pin_verdict::unavailable) {
    spdlog::error("{}: cannot check the key pin of '{}': {}", remote_, id, pin.detail);
    if (context_.directory->node().empty()) {
      reply_error(message, "server_error", "the server cannot check ID pins right now");
    } else {
      reply_error(message, "cluster_unavailable",
                  "the server cannot reach its cluster store to check the pin of '" + id + "' right now; try again shortly");
    }
    co_return false;
  }
  if (pin.verdict == pin_verdict::conflicts) {
    ++context_.stats.key_refusals;
    spdlog::warn("{}: refused '{}': key {} is not the key pinned for that ID", remote_, id, identity::fingerprint(*key_));
    reply_error(message, "key_mismatch",
                "ID '" + id + "' belongs to another key; its owner must register it, or the server's operator "
                "can release it (rendezvous release-id " + id + ")");
    co_return false;
  }
  if (pin.verdict == pin_verdict::owned_by_other) {
    ++context_.stats.key_refusals;
    spdlog::warn("{}: refused '{}' to {}: another account owns that ID", remote_, id, account_.empty() ? "the server-wide token" : "account " + account_);
    reply_error(message, "id_owned", "ID '" + id + "' belongs to another account");
    co_return false;
  }
  if (pin.verdict == pin_verdict::over_id_limit) {
    const auto* a = context_.accounts ? context_.accounts->find(account_) : nullptr;
    const auto limit = a && a->max_ids ? std::to_string(*a->max_ids) + " IDs" : std::string("as many IDs as it may");
    spdlog::warn("{}: refused '{}': account {} owns its limit of {}", remote_, id, account_, limit);
    reply_error(message, "too_many_ids", "account '" + account_ + "' already owns " + limit +
                                             ", its limit (the operator can raise it, or release one: rendezvous release-id ID)");
    co_return false;
  }
  if (pin.verdict == pin_verdict::no_account) {
    reply_error(message, "account_removed", "account '" + account_ + "' was removed");
    co_return false;
  }
  if (pin.verdict == pin_verdict::pinned_now) {
    spdlog::info("pinned ID {} to key {}{}", id, identity::fingerprint(*key_), account_.empty() ? "" : " for account " + account_);
  }
  co_return true;
}

net::awaitable<bool> client_session::claim_id(nlohmann::json message) {
  const auto& as = message["as"];
  if (!as.is_string() || !wire::is_valid_peer_id(as.get<std::string>())) {
    reply_error(message, "invalid_id", "\"as\" must be a valid peer ID");
    co_return false;
  }
  const auto id = as.get<std::string>();
  if (id == claimed_id_) co_return true;
  if (!claimed_id_.empty()) {
    reply_error(message, "bad_request", "this connection already speaks as " + claimed_id_);
    co_return false;
  }
  // A live registration vouches for its key even after an operator released the pin.
  auto live = context_.registry.find(id);
  if (live != context_.registry.end() && live->second->key() != key_) {
    ++context_.stats.key_refusals;
    spdlog::warn("{}: refused to speak as '{}': a live peer holds that ID with another key", remote_, id);
    reply_error(message, "key_mismatch", "ID '" + id + "' is registered by a live peer with another key");
    co_return false;
  }
  if (!co_await key_may_register(message, id)) co_return false;
  claimed_id_ = id;
  spdlog::info("{} speaks as {} (key {})", remote_, id, identity::fingerprint(*key_));
  co_return true;
}

net::awaitable<void> client_session::handle_connect(nlohmann::json message) {
  auto self = shared_from_this();
  if (id_.empty() && message.contains("as")) {
    const bool spoken_for = co_await claim_id(message);
    if (!spoken_for || !channel_->is_open()) co_return;
  }
  co_await connect_to_target(message);
}

net::awaitable<void> client_session::connect_to_target(const nlohmann::json& message) {
  const auto target = wire::string_field(message, "target");
  if (!wire::is_valid_peer_id(target)) {
    reply_error(message, "invalid_id", "not a valid peer ID");
    co_return;
  }
  if (!connects_.try_take()) {
    ++context_.stats.connects_rate_limited;
    context_.log.log(spdlog::level::warn, "connect: rate limited",
                     display_name() + ": connect requests refused: more than 2 a second (bursts of 10)");
    reply_error(message, "rate_limited", "too many connect requests: at most 2 a second; try again shortly");
    co_return;
  }
  auto it = context_.registry.find(target);
  std::optional<attempt_side> responder;
  nat::nat_report theirs;
  if (it == context_.registry.end() && !context_.directory->node().empty()) {
    // Another node may hold it: that node hands our messages over and we coordinate.
    auto where = co_await context_.directory->locate(target);
    if (!where.unavailable.empty()) {
      spdlog::warn("{}: cannot look up '{}' in the cluster: {}", display_name(), target, where.unavailable);
      reply_error(message, "cluster_unavailable",
                  "the server cannot reach its cluster store to find '" + target + "' right now; try again shortly");
      co_return;
    }
    if (where.found && where.node != context_.directory->node()) {
      if (context_.advertised.empty()) {
        reply_error(message, "peer_on_other_node",
                    "peer '" + target + "' is registered on node " + clip(where.node) +
                        ", and this node cannot coordinate across nodes (it has no --advertise address): use that node");
        co_return;
      }
      const auto& info = where.info;
      attempt_side side;
      side.node = where.node;
      side.name = target;
      const auto key_hex = info.value("public_key", nlohmann::json()).is_string() ? info["public_key"].get<std::string>() : std::string();
      side.key = identity::public_key_from_hex(key_hex);
      if (!side.key) {
        spdlog::error("{}: the cluster's record of '{}' on node {} has no readable key", display_name(), target, where.node);
        reply_error(message, "server_error", "the cluster's record of '" + target + "' is unreadable");
        co_return;
      }
      if (const auto reported = info.find("nat"); reported != info.end()) theirs = nat::report_from_json(*reported);
      responder = std::move(side);
    }
    it = context_.registry.find(target);  // (it may have registered here meanwhile)
  }
  if (!responder && it != context_.registry.end()) {
    if (it->second.get() == this) {
      reply_error(message, "self", "cannot connect to yourself");
      co_return;
    }
    responder = attempt_side::here(it->second);
    theirs = it->second->nat();
  }
  if (!responder) {
    context_.log.log(spdlog::level::info, "connect: unknown peers", display_name() + ": connect to unknown peer '" + target + "'");
    reply_error(message, "unknown_peer", "no peer '" + target + "' is online");
    co_return;
  }
  attempt_coordinator::plan how;
  how.path = wire::string_field(message, "path", "auto");
  if (how.path != "auto" && how.path != "punch-first" && how.path != "direct" && how.path != "relay") {
    reply_error(message, "bad_request", "path must be auto, punch-first, direct or relay");
    co_return;
  }
  // A session whose path died, to be resumed on a relay pair: the other side finds it by its tag.
  how.resume = wire::string_field(message, "resume");
  if (!how.resume.empty()) {
    if (how.resume.size() != 32 || how.resume.find_first_not_of("0123456789abcdef") != std::string::npos) {
      reply_error(message, "bad_request", "resume must be a session tag (32 hex digits)");
      co_return;
    }
    how.path = "relay";
    how.reason = "resuming a session whose path was lost";
    ++context_.stats.resumes_requested;
  }
  // Both sides probed, and in no family they share can a punch succeed: nobody waits for the deadline.
  const bool server_has_ipv6 = std::any_of(context_.public_hosts.begin(), context_.public_hosts.end(),
                                           [](const std::string& host) { return host.find(':') != std::string::npos; });
  if (how.resume.empty() && (how.path == "auto" || how.path == "punch-first")) {
    if (auto hopeless = nat::no_direct_path(nat_, theirs, server_has_ipv6)) {
      how.path = "relay";
      how.reason = std::move(*hopeless);
    }
  }
  how.host = context_.advertised;
  how.hole_hosts = context_.public_hosts;
  how.hole_port = context_.config.hole_port;
  how.relay_port = context_.config.relay_port;
  how.timeout = std::chrono::seconds(context_.config.attempt_timeout_s);
  if (auto refusal = context_.attempts.refuse(*this, target)) {
    context_.log.log(spdlog::level::warn, "connect: refused as busy", display_name() + ": connect to " + target + " refused: " + *refusal);
    reply_error(message, "busy", *refusal);
    co_return;
  }
  how.punch_timeout_ms = std::clamp(wire::int_field(message, "punch_timeout_ms", 5000, 0, 86'400'000), 500LL, 600'000LL);
  // The relay tokens must outlive the punch: attempt set-up, the punch itself, and slack.
  const auto relay_lifetime = std::chrono::seconds(context_.config.attempt_timeout_s + how.punch_timeout_ms / 1000 + 30);
  const auto their_session = responder->session.lock();
  how.relay_tokens = context_.relay.issue_for_attempt(display_name(), target, relay_lifetime,
                                                      {account_, their_session ? their_session->account_name() : ""});
  ++context_.stats.attempts_started;
  context_.attempts.start(shared_from_this(), std::move(*responder), wire::request_number(message), how);
}

void client_session::handle_nat_report(const nlohmann::json& message) {
  nat_ = nat::report_from_json(message);
  spdlog::info("{} is behind {}", display_name(), nat_.describe());
  // Other nodes choose a relayed or punched path for connects to it by this report too.
  if (!id_.empty()) context_.directory->describe(id_, registration_info());
}

nlohmann::json client_session::operator_view() const {
  return {{"id", id_},
          {"account", account_},
          {"observed", remote_},
          {"nat", nat_.describe()},
          {"since", utc_text(registered_ms_ / 1000)},
          {"key", key_ ? identity::fingerprint(*key_) : ""}};
}

nlohmann::json client_session::registration_info() const {
  return {{"observed", remote_},
          {"key", key_ ? identity::fingerprint(*key_) : ""},
          {"public_key", key_ ? identity::to_hex(*key_) : ""},
          {"since", registered_ms_},
          {"nat", nat::to_json(nat_)}};
}

net::awaitable<void> client_session::handle_expose(nlohmann::json message) {
  auto self = shared_from_this();
  const int port = static_cast<int>(wire::int_field(message, "port", 0, 0, 65535));
  auto refusal = context_.exposes.check(*this, port);
  if (!refusal) refusal = account_may_expose(context_, account_, port);
  if (!refusal) {
    // In a cluster the port is every node's: taken once, for one peer.
    const auto claim = co_await context_.directory->claim_port(static_cast<std::uint16_t>(port), id_);
    if (!channel_->is_open()) {
      if (claim.taken) context_.directory->release_port(static_cast<std::uint16_t>(port));
      co_return;
    }
    if (!claim.unavailable.empty()) {
      spdlog::warn("{}: cannot expose port {}: {}", display_name(), port, claim.unavailable);
      refusal = expose_error{"cluster_unavailable", "the server cannot reach its cluster store to claim port " +
                                                        std::to_string(port) + " right now; try again shortly"};
    } else if (!claim.taken) {
      refusal = expose_error{"port_taken", "port " + std::to_string(port) + " is already exposed through node " + clip(claim.holder)};
    } else {
      refusal = context_.exposes.open(shared_from_this(), port);
      if (refusal) context_.directory->release_port(static_cast<std::uint16_t>(port));
    }
  }
  if (refusal) {
    spdlog::warn("{}: expose of port {} refused: {}", display_name(), port, refusal->message);
    reply_error(message, refusal->code, refusal->message);
    co_return;
  }
  send({{"type", "exposed"}, {"req", wire::request_number(message)}, {"port", port}});
}

void client_session::reply_error(const nlohmann::json& request, const std::string& code, const std::string& text) {
  send({{"type", "error"}, {"req", wire::request_number(request)}, {"code", code}, {"message", text}});
}

void client_session::leave() {
  const auto how = std::string(wire::to_string(channel_->reason())) +
                   (channel_->detail().empty() ? "" : ": " + channel_->detail());
  if (channel_->reason() == wire::close_reason::malformed_frame) ++context_.stats.protocol_errors;
  if (authenticated_ && id_.empty()) --context_.idle_clients;
  context_.attempts.forget(*this);
  context_.exposes.close_all(*this);
  if (!id_.empty()) {
    auto it = context_.registry.find(id_);
    if (it != context_.registry.end() && it->second.get() == this) {
      context_.registry.erase(it);
      context_.directory->release(id_);
    }
    spdlog::info("{} left ({})", id_, how);
  } else {
    spdlog::debug("{}: connection ended ({})", remote_, how);
  }
}

}  // namespace rendezvous
