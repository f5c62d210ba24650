#include "rendezvous/expose_service.hpp"

#include <algorithm>
#include <deque>
#include <set>

#include <asio/co_spawn.hpp>
#include <spdlog/spdlog.h>

#include "common/endpoint.hpp"
#include "common/spawn.hpp"
#include "rendezvous/client_session.hpp"
#include "rendezvous/listener.hpp"
#include "rendezvous/relay_service.hpp"
#include "common/frame_reader.hpp"
#include "common/json_fields.hpp"
#include "common/listen.hpp"
#include "session/socket_stream_bridge.hpp"

namespace rendezvous {

struct expose_service::exposure {
  exposure(const asio::any_io_executor& ex, std::uint16_t p) : port(p), executor(ex) {}
  void close() {
    std::error_code ignored;
    for (auto& acceptor : acceptors) acceptor->close(ignored);
  }
  std::uint16_t port;
  asio::any_io_executor executor;
  std::vector<std::unique_ptr<net::tcp::acceptor>> acceptors;  ///< one per listen address
  std::weak_ptr<client_session> owner;
  std::string owner_name;
  std::string node;  ///< set: the owner is registered on this other node, which gets our clients
  net::clock::time_point forwarded_since{};  ///< when node was last set
  /// Clients forwarded to `node` that may still wait at our relay (token, until): closed at once
  /// when the forwarding ends, rather than left waiting for a node that is gone.
  std::deque<std::pair<std::string, net::clock::time_point>> forwarded_clients;
};

namespace {
constexpr std::size_t max_ports_per_peer = 16;
/// How long a forwarded client's token is remembered for the peer's proxy_failed.
constexpr auto forwarded_token_lifetime = std::chrono::seconds(60);
}  // namespace

std::optional<expose_error> expose_service::check(const client_session& owner, int port) const {
  if (owner.id().empty()) {
    return expose_error{"not_registered", "register an ID before exposing a port (peer expose --id NAME)"};
  }
  if (config_.expose_first == 0) {
    return expose_error{"expose_disabled", "this server exposes no ports (start it with --expose-ports FIRST-LAST)"};
  }
  if (port < config_.expose_first || port > config_.expose_last) {
    return expose_error{"port_out_of_range", "port " + std::to_string(port) + " is outside the allowed range " +
                                                 std::to_string(config_.expose_first) + "-" +
                                                 std::to_string(config_.expose_last)};
  }
  const auto p = static_cast<std::uint16_t>(port);
  const auto owned = std::count_if(exposures_.begin(), exposures_.end(),
                                   [&](const auto& item) { return item.second->owner.lock().get() == &owner; });
  if (static_cast<std::size_t>(owned) >= max_ports_per_peer) {
    return expose_error{"too_many_ports", "a peer may expose at most " + std::to_string(max_ports_per_peer) + " ports"};
  }
  // A port forwarded to another node's peer may be ours if the cluster says its claim is gone.
  if (auto it = exposures_.find(p); it != exposures_.end() && it->second->node.empty()) {
    return expose_error{"port_taken", "port " + std::to_string(port) + " is already exposed by " + it->second->owner_name};
  }
  return std::nullopt;
}

std::error_code expose_service::listen(exposure& e) {
  for (const auto& host : config_.listen_hosts) {
    e.acceptors.push_back(std::make_unique<net::tcp::acceptor>(e.executor));
    if (auto ec = net::open_listener(*e.acceptors.back(), {asio::ip::make_address(host), e.port}, cluster_.has_value())) {
      e.close();
      e.acceptors.clear();
      return ec;
    }
  }
  return {};
}

std::optional<expose_error> expose_service::open(const std::shared_ptr<client_session>& owner, int port) {
  if (auto refusal = check(*owner, port)) return refusal;
  const auto p = static_cast<std::uint16_t>(port);
  auto& e = exposures_[p];
  const bool listening = e != nullptr;  // forwarded until now: the listener stays, its clients are ours
  if (!listening) {
    e = std::make_shared<exposure>(executor_, p);
    if (auto ec = listen(*e)) {
      exposures_.erase(p);
      return expose_error{"port_unavailable", "cannot listen on port " + std::to_string(port) + ": " + ec.message()};
    }
  }
  if (!e->node.empty()) drop_forwarded_clients(*e, "node " + e->node + " gave up port " + std::to_string(port));
  e->owner = owner;
  e->owner_name = owner->display_name();
  e->node.clear();
  spdlog::info("expose: port {} now forwards to {}", port, e->owner_name);
  if (!listening) {
    for (auto& acceptor : e->acceptors) asio::co_spawn(executor_, accept_loop(e, *acceptor), net::log_escaped("expose accept"));
  }
  if (cluster_) cluster_->opened(p, e->owner_name);
  return std::nullopt;
}

void expose_service::open_forwarded(std::uint16_t port, const std::string& node, const std::string& owner) {
  if (config_.expose_first == 0 || port < config_.expose_first || port > config_.expose_last) {
    log_.log(spdlog::level::warn, "expose: forwarded ports outside the range",
             fmt::format("expose: node {} exposes port {} for {}, outside this node's --expose-ports: not listening on it",
                         node, port, owner));
    return;
  }
  auto& e = exposures_[port];
  if (e && e->node.empty()) {
    log_.log(spdlog::level::warn, "expose: conflicting claims",
             fmt::format("expose: node {} says its {} exposes port {}, which {} exposes here", node, owner, port, e->owner_name));
    return;
  }
  const bool listening = e != nullptr;
  if (!listening) {
    e = std::make_shared<exposure>(executor_, port);
    if (auto ec = listen(*e)) {
      exposures_.erase(port);
      log_.log(spdlog::level::warn, "expose: cannot forward",
               fmt::format("expose: cannot listen on port {} for {} on node {}: {}", port, owner, node, ec.message()));
      return;
    }
  }
  if (e->node != node || e->owner_name != owner) spdlog::info("expose: port {} forwards to {} on node {}", port, owner, node);
  if (e->node != node) {
    drop_forwarded_clients(*e, "port " + std::to_string(port) + " moved to node " + node);
    e->forwarded_since = net::clock::now();
  }
  e->node = node;
  e->owner_name = owner;
  e->owner.reset();
  if (!listening) {
    for (auto& acceptor : e->acceptors) asio::co_spawn(executor_, accept_loop(e, *acceptor), net::log_escaped("expose accept"));
  }
}

void expose_service::close_forwarded(std::uint16_t port, const std::string& node) {
  auto it = exposures_.find(port);
  if (it == exposures_.end() || it->second->node.empty() || it->second->node != node) return;
  close_exposure(it, "node " + node + " closed it");
}

void expose_service::reconcile(const std::vector<port_claim>& claims, const std::string& this_node) {
  std::set<std::uint16_t> live;
  for (const auto& claim : claims) {
    if (claim.node == this_node) continue;
    live.insert(claim.port);
    open_forwarded(claim.port, claim.node, claim.owner);
  }
  // A listing may predate a claim whose mail came first: a young forwarding is kept until the next.
  const auto settled = net::clock::now() - std::chrono::seconds(3);
  for (auto it = exposures_.begin(); it != exposures_.end();) {
    auto next = std::next(it);
    if (!it->second->node.empty() && !live.contains(it->first) && it->second->forwarded_since < settled) {
      close_exposure(it, "node " + it->second->node + " no longer claims it");
    }
    it = next;
  }
}

void expose_service::close_exposure(std::map<std::uint16_t, std::shared_ptr<exposure>>::iterator it,
                                    const std::string& why) {
  spdlog::info("expose: port {} closed ({})", it->first, why);
  const bool ours = it->second->node.empty();
  const auto port = it->first;
  drop_forwarded_clients(*it->second, "port " + std::to_string(port) + " closed (" + why + ")");
  it->second->close();
  exposures_.erase(it);
  if (ours && cluster_) cluster_->closed(port);
}

void expose_service::lose(std::uint16_t port, const std::string& holder) {
  auto it = exposures_.find(port);
  if (it == exposures_.end() || !it->second->node.empty()) return;
  if (auto owner = it->second->owner.lock()) {
    owner->send({{"type", "error"}, {"code", "port_taken"},
                 {"message", "port " + std::to_string(port) + " was taken by node " + holder + " while this node was cut off"}});
  }
  it->second->close();
  exposures_.erase(it);  // (not released: the claim is the other node's)
}

void expose_service::drop_forwarded_clients(exposure& e, const std::string& why) {
  for (const auto& [token, until] : e.forwarded_clients) relay_.cancel(token, why);
  e.forwarded_clients.clear();
}

void expose_service::forward(exposure& e, net::tcp::socket client, admission_ticket ticket, const std::string& from) {
  std::string why;
  auto token = relay_.issue_for_client(relay_half{std::move(client), false, std::move(ticket)}, "client@" + from,
                                       e.owner_name, "", why);  // (another node's peer: that node meters it)
  if (!token) {
    log_.log(spdlog::level::warn, "expose: refused clients", fmt::format("expose: port {} refused {}: {}", e.port, from, why));
    return;
  }
  const auto now = net::clock::now();
  while (!e.forwarded_clients.empty() && e.forwarded_clients.front().second <= now) e.forwarded_clients.pop_front();
  e.forwarded_clients.emplace_back(*token, now + forwarded_token_lifetime);
  spdlog::debug("expose: port {}: client {} of {} forwarded to node {}", e.port, from, e.owner_name, e.node);
  cluster_->post(e.node, {{"kind", "proxy"},
                          {"port", e.port},
                          {"owner", e.owner_name},
                          {"token", *token},
                          {"from", from},
                          {"host", cluster_->advertised},
                          {"relay_port", config_.relay_port}});
}

std::string expose_service::announce_forwarded(const nlohmann::json& proxy, const std::string& from_node,
                                               const std::shared_ptr<client_session>& owner) {
  const auto port = static_cast<std::uint16_t>(wire::int_field(proxy, "port", 0, 1, 65535));
  auto it = exposures_.find(port);
  if (it == exposures_.end() || !it->second->node.empty() || it->second->owner.lock() != owner) {
    return owner->id() + " does not expose port " + std::to_string(port) + " on this node";
  }
  const auto token = wire::string_field(proxy, "token");
  if (forwarded_tokens_.size() >= static_cast<std::size_t>(config_.max_exposed_clients)) return "too many forwarded clients waiting";
  forwarded_tokens_[token] = {from_node, net::clock::now() + forwarded_token_lifetime};
  owner->send({{"type", "proxy"},
               {"port", port},
               {"token", token},
               {"from", wire::string_field(proxy, "from", "?")},
               {"relay_port", wire::int_field(proxy, "relay_port", 0, 1, 65535)},
               {"relay_host", wire::string_field(proxy, "host")}});
  return {};
}

bool expose_service::forwarded_failed(const std::string& token, const std::string& reason) {
  auto it = forwarded_tokens_.find(token);
  if (it == forwarded_tokens_.end()) return false;
  if (cluster_) cluster_->post(it->second.first, {{"kind", "proxy_failed"}, {"token", token}, {"reason", reason}});
  forwarded_tokens_.erase(it);
  return true;
}

void expose_service::expire(net::clock::time_point now) {
  pool_.expire(now);
  std::erase_if(forwarded_tokens_, [now](const auto& entry) { return entry.second.second <= now; });
}

void expose_service::close_all(const client_session& owner) {
  pool_.forget(owner.display_name());
  channels_.forget(owner.display_name());
  for (auto it = exposures_.begin(); it != exposures_.end();) {
    auto next = std::next(it);
    auto locked = it->second->owner.lock();
    if (it->second->node.empty() && (!locked || locked.get() == &owner)) {
      close_exposure(it, it->second->owner_name + " went away");
    }
    it = next;
  }
}

std::optional<std::string> expose_service::pool_open(const client_session& owner) {
  if (owner.id().empty()) return std::nullopt;
  return pool_.open(owner.id());
}

net::awaitable<void> expose_service::join_pooled(relay_half client, net::tcp::socket pooled, std::uint16_t port,
                                                 std::string from, std::string owner, std::string payer) {
  const nlohmann::json hello{{"type", "client"}, {"port", port}, {"from", from}};
  if (auto ec = co_await wire::write_frame(pooled, hello)) {
    log_.log(spdlog::level::warn, "expose: pool connection failed",
             fmt::format("expose: port {}: a pool connection of {} failed: {}", port, owner, ec.message()));
    co_return;  // (the client is closed; a peer whose pool breaks this way is rare)
  }
  spdlog::debug("expose: port {}: client {} joined to a pool connection of {}", port, from, owner);
  relay_.start_pair({std::move(client), relay_half{std::move(pooled), false, {}}}, {"client@" + from, owner}, {"", payer});
}

net::awaitable<std::string> expose_service::admit_proven(nlohmann::json hello, net::tcp::socket socket,
                                                        net::clock::time_point deadline) {
  auto proof = co_await pool_.prove(hello, socket, deadline);
  if (!proof.failure.empty()) co_return proof.failure;
  const bool channel = hello.contains("channel") && hello["channel"] == true;
  if (channel) co_return channels_.start(proof.owner, std::move(socket));
  co_return pool_.keep(proof.owner, std::move(socket));
}

net::awaitable<void> expose_service::carry_on_channel(net::tcp::socket client, admission_ticket ticket,
                                                      std::shared_ptr<session::stream> stream, std::string from,
                                                      std::string owner, std::string payer) {
  ++channel_clients_;
  session::socket_bridge_result progress;
  session::bridge_options options;
  options.idle_timeout = std::chrono::seconds(config_.relay_idle_timeout_s);  // as a spliced client's
  options.live = &progress;
  // Metered every second while it runs, like a spliced pair (and closed if its account must stop).
  relay_service::carried_client metered{owner, payer, &progress.from_stream, &progress.to_stream,
                                        [weak = std::weak_ptr(stream)](const std::string& why) {
                                          if (auto open = weak.lock()) open->reset(why);
                                        }};
  relay_.carrying(metered);
  struct ending {  // (on every way out: the relay must not keep a pointer into this frame)
    relay_service& relay;
    relay_service::carried_client& client;
    ~ending() { relay.carried_ended(client); }
  };
  std::optional<ending> ended{std::in_place, relay_, metered};
  const auto result = co_await session::bridge_socket(std::move(client), stream, options);
  --channel_clients_;
  ended.reset();
  spdlog::log(metered.closed_why.empty() ? spdlog::level::debug : spdlog::level::warn, "expose: client {} of {} ended{}: {} bytes in, {} bytes out", from, owner,
              !metered.closed_why.empty() ? " (closed: " + metered.closed_why + ")" : result.error.empty() ? "" : " (" + result.error + ")",
              result.to_stream, result.from_stream);
  (void)ticket;  // held for the client's whole life
}

void expose_service::stop() {
  channels_.stop();
  while (!exposures_.empty()) close_exposure(exposures_.begin(), "the server is stopping");
}

net::awaitable<void> expose_service::accept_loop(std::shared_ptr<exposure> e, net::tcp::acceptor& acceptor) {
  asio::steady_timer backoff(executor_);
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(net::use_nothrow);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      spdlog::error("expose: accept on port {} failed: {}", e->port, ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(net::use_nothrow);
      continue;
    }
    std::error_code peer_ec;
    const auto remote = net::unmapped(socket.remote_endpoint(peer_ec));
    if (peer_ec) continue;
    const auto from = net::to_string(remote);
    auto owner = e->owner.lock();
    std::string why;
    auto ticket = clients_.admit(remote.address(), why);  // held, never released early: see clients_
    if (ticket && !e->node.empty() && cluster_) {
      forward(*e, std::move(socket), std::move(*ticket), from);
      continue;
    }
    if (ticket && owner) {
      if (auto over = relay_.refusal_for(owner->account_name())) {
        log_.log(spdlog::level::warn, "expose: refused clients over quota", fmt::format("expose: port {} refused {}: {}", e->port, from, *over));
        continue;  // (closed: the client sees the connection end)
      }
      if (auto channel = channels_.pick(e->owner_name)) {
        auto stream = channel->open_stream({{"kind", "client"}, {"port", e->port}, {"from", from}}, &why);
        if (stream) {
          asio::co_spawn(executor_,
                         carry_on_channel(std::move(socket), std::move(*ticket), std::move(stream), from, e->owner_name,
                                          owner->account_name()),
                         net::log_escaped("expose channel client"));
          continue;
        }
      }
      if (auto pooled = pool_.take(e->owner_name)) {
        asio::co_spawn(executor_,
                       join_pooled(relay_half{std::move(socket), false, std::move(*ticket)}, std::move(*pooled), e->port,
                                   from, e->owner_name, owner->account_name()),
                       net::log_escaped("expose pooled join"));
        continue;
      }
      auto token = relay_.issue_for_client(relay_half{std::move(socket), false, std::move(*ticket)}, "client@" + from,
                                           e->owner_name, owner->account_name(), why);
      if (token) {
        spdlog::debug("expose: port {}: client {} announced to {}", e->port, from, e->owner_name);
        owner->send({{"type", "proxy"}, {"port", e->port}, {"token", *token}, {"from", from}, {"relay_port", config_.relay_port}});
        continue;
      }
    }
    if (ticket && !owner) why = "the exposing peer is gone";
    log_.log(spdlog::level::warn, "expose: refused clients", fmt::format("expose: port {} refused {}: {}", e->port, from, why));
  }
}


}  // namespace rendezvous
