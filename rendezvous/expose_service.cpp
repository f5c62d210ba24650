#include "rendezvous/expose_service.hpp"

#include <algorithm>

#include <asio/co_spawn.hpp>
#include <spdlog/spdlog.h>

#include "common/endpoint.hpp"
#include "common/spawn.hpp"
#include "rendezvous/client_session.hpp"
#include "rendezvous/listener.hpp"
#include "rendezvous/relay_service.hpp"
#include "common/frame_reader.hpp"
#include "session/socket_stream_bridge.hpp"

namespace rendezvous {

struct expose_service::exposure {
  exposure(const asio::any_io_executor& ex, std::uint16_t p) : port(p), acceptor(ex) {}
  std::uint16_t port;
  net::tcp::acceptor acceptor;
  std::weak_ptr<client_session> owner;
  std::string owner_name;
};

namespace {
constexpr std::size_t max_ports_per_peer = 16;
}  // namespace

std::optional<expose_error> expose_service::open(const std::shared_ptr<client_session>& owner, int port) {
  if (owner->id().empty()) {
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
                                   [&](const auto& item) { return item.second->owner.lock() == owner; });
  if (static_cast<std::size_t>(owned) >= max_ports_per_peer) {
    return expose_error{"too_many_ports", "a peer may expose at most " + std::to_string(max_ports_per_peer) + " ports"};
  }
  if (exposures_.contains(p)) {
    return expose_error{"port_taken", "port " + std::to_string(port) + " is already exposed by " + exposures_[p]->owner_name};
  }
  auto e = std::make_shared<exposure>(executor_, p);
  if (auto ec = net::open_listener(e->acceptor, {asio::ip::make_address(config_.listen_host), p})) return expose_error{"port_unavailable", "cannot listen on port " + std::to_string(port) + ": " + ec.message()};
  e->owner = owner;
  e->owner_name = owner->display_name();
  exposures_.emplace(p, e);
  spdlog::info("expose: port {} now forwards to {}", port, e->owner_name);
  asio::co_spawn(executor_, accept_loop(e), net::log_escaped("expose accept"));
  return std::nullopt;
}

void expose_service::close_all(const client_session& owner) {
  pool_.forget(owner.display_name());
  channels_.forget(owner.display_name());
  for (auto it = exposures_.begin(); it != exposures_.end();) {
    auto locked = it->second->owner.lock();
    if (locked && locked.get() != &owner) {
      ++it;
      continue;
    }
    spdlog::info("expose: port {} closed ({} went away)", it->first, it->second->owner_name);
    std::error_code ignored;
    it->second->acceptor.close(ignored);
    it = exposures_.erase(it);
  }
}

std::optional<std::string> expose_service::pool_open(const client_session& owner) {
  if (owner.id().empty()) return std::nullopt;
  return pool_.open(owner.id());
}

net::awaitable<void> expose_service::join_pooled(relay_half client, net::tcp::socket pooled, std::uint16_t port,
                                                 std::string from, std::string owner) {
  const nlohmann::json hello{{"type", "client"}, {"port", port}, {"from", from}};
  if (auto ec = co_await wire::write_frame(pooled, hello)) {
    log_.log(spdlog::level::warn, "expose: pool connection failed",
             fmt::format("expose: port {}: a pool connection of {} failed: {}", port, owner, ec.message()));
    co_return;  // (the client is closed; a peer whose pool breaks this way is rare)
  }
  spdlog::debug("expose: port {}: client {} joined to a pool connection of {}", port, from, owner);
  relay_.start_pair({std::move(client), relay_half{std::move(pooled), false, {}}}, {"client@" + from, owner});
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
                                                      std::string owner) {
  ++channel_clients_;
  session::bridge_options options;
  options.idle_timeout = std::chrono::seconds(config_.relay_idle_timeout_s);  // as a spliced client's
  const auto result = co_await session::bridge_socket(std::move(client), stream, options);
  --channel_clients_;
  relay_.account_exposed_client(owner, result.from_stream, result.to_stream);
  spdlog::debug("expose: client {} of {} ended{}: {} bytes in, {} bytes out", from, owner,
                result.error.empty() ? "" : " (" + result.error + ")", result.to_stream, result.from_stream);
  (void)ticket;  // held for the client's whole life
}

void expose_service::stop() {
  channels_.stop();
  std::error_code ignored;
  for (auto& [port, e] : exposures_) e->acceptor.close(ignored);
  exposures_.clear();
}

net::awaitable<void> expose_service::accept_loop(std::shared_ptr<exposure> e) {
  asio::steady_timer backoff(executor_);
  while (e->acceptor.is_open()) {
    auto [ec, socket] = co_await e->acceptor.async_accept(net::use_nothrow);
    if (ec == asio::error::operation_aborted || !e->acceptor.is_open()) co_return;
    if (ec) {
      spdlog::error("expose: accept on port {} failed: {}", e->port, ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(net::use_nothrow);
      continue;
    }
    std::error_code peer_ec;
    const auto remote = socket.remote_endpoint(peer_ec);
    if (peer_ec) continue;
    const auto from = net::to_string(remote);
    auto owner = e->owner.lock();
    std::string why;
    auto ticket = clients_.admit(remote.address(), why);  // held, never released early: see clients_
    if (ticket && owner) {
      if (auto channel = channels_.pick(e->owner_name)) {
        auto stream = channel->open_stream({{"kind", "client"}, {"port", e->port}, {"from", from}}, &why);
        if (stream) {
          asio::co_spawn(executor_,
                         carry_on_channel(std::move(socket), std::move(*ticket), std::move(stream), from, e->owner_name),
                         net::log_escaped("expose channel client"));
          continue;
        }
      }
      if (auto pooled = pool_.take(e->owner_name)) {
        asio::co_spawn(executor_,
                       join_pooled(relay_half{std::move(socket), false, std::move(*ticket)}, std::move(*pooled), e->port,
                                   from, e->owner_name),
                       net::log_escaped("expose pooled join"));
        continue;
      }
      auto token = relay_.issue_for_client(relay_half{std::move(socket), false, std::move(*ticket)}, "client@" + from,
                                           e->owner_name, why);
      if (token) {
        spdlog::debug("expose: port {}: client {} announced to {}", e->port, from, e->owner_name);
        owner->send({{"type", "proxy"}, {"port", e->port}, {"token", *token}, {"from", from}, {"relay_port", config_.relay_port}});
        continue;
      }
    }
    if (!owner) why = "the exposing peer is gone";
    log_.log(spdlog::level::warn, "expose: refused clients", fmt::format("expose: port {} refused {}: {}", e->port, from, why));
  }
}


}  // namespace rendezvous
