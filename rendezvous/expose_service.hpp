// Reverse-proxy mode: a peer asks the server to open a public port (within --expose-ports); each
// client accepted there is announced to the peer over its main connection with a relay token,
// and joined to the peer's data connection on the relay port. The port closes when the peer goes.
//
//   peer -> {"type":"expose","port":N}  (registered peers only, at most 16 ports each)
//   server -> {"type":"exposed","port":N} or error (expose_disabled, port_out_of_range, port_taken,
//             port_unavailable, not_registered, too_many_ports)
//   server -> {"type":"proxy","port":N,"token":T,"from":"IP:PORT","relay_port":R}
//   peer -> relay port {"type":"relay","token":T}   or main {"type":"proxy_failed","token":T,"reason":...}
// A peer with a channel open (expose_channels.hpp) has each client carried as a stream of it; one
// that keeps idle connections in its pool (expose_pool.hpp) has its clients joined to one of those
// at once; the announcement is the fallback when it has neither.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/log_limiter.hpp"
#include "common/net.hpp"
#include "rendezvous/admission.hpp"
#include "rendezvous/expose_channels.hpp"
#include "rendezvous/expose_pool.hpp"
#include "rendezvous/relay_service.hpp"
#include "rendezvous/server_config.hpp"

namespace rendezvous {

class client_session;
class relay_service;

/// A refusal: machine code and human message.
struct expose_error {
  std::string code;
  std::string message;
};

class expose_service {
 public:
  expose_service(const asio::any_io_executor& ex, const server_config& config, relay_service& relay,
                 logging::log_limiter& log)
      : executor_(ex), config_(config), clients_("exposed", client_limits(config)), relay_(relay), log_(log),
        pool_(ex, pool_limits_for(config)), channels_(ex, channel_limits_for(config)) {
    relay_.on_pool_connection([this](const nlohmann::json& hello, net::tcp::socket socket, net::clock::time_point deadline) {
      return admit_proven(hello, std::move(socket), deadline);
    });
  }

  /// Opens `port` for `owner`; a refusal says why.
  std::optional<expose_error> open(const std::shared_ptr<client_session>& owner, int port);
  /// Closes every port of `owner` (it went away): the ports return to the pool.
  void close_all(const client_session& owner);
  void stop();
  /// Opens `owner`'s pool: the secret its pool connections prove, or nothing for a peer without an ID.
  std::optional<std::string> pool_open(const client_session& owner);
  int pool_per_owner() const { return pool_.per_owner(); }
  int channels_per_owner() const { return channels_.per_owner(); }
  /// Closes idle pool connections past their time.
  void expire(net::clock::time_point now) { pool_.expire(now); }
  std::size_t open_ports() const { return exposures_.size(); }
  std::size_t idle_pool() const { return pool_.idle(); }
  /// Clients of exposed ports connected now (announced, joined or waiting for the peer).
  std::size_t clients() const { return clients_.pending(); }
  std::size_t channels() const { return channels_.count(); }
  /// Clients carried on channels now.
  std::size_t channel_clients() const { return channel_clients_; }

 private:
  struct exposure;
  net::awaitable<void> accept_loop(std::shared_ptr<exposure> e);
  /// A connection at the relay port that says it is one of an owner's: proved, then kept idle in
  /// the pool or (hello "channel": true) made a channel. Returns why not, empty if kept.
  net::awaitable<std::string> admit_proven(nlohmann::json hello, net::tcp::socket socket, net::clock::time_point deadline);
  /// Carries one client on a stream of a channel to its exposer.
  net::awaitable<void> carry_on_channel(net::tcp::socket client, admission_ticket ticket,
                                        std::shared_ptr<session::stream> stream, std::string from, std::string owner);
  /// Tells a pool connection who its client is, then splices the two.
  net::awaitable<void> join_pooled(relay_half client, net::tcp::socket pooled, std::uint16_t port, std::string from,
                                   std::string owner);
  static pool_limits pool_limits_for(const server_config& config) {
    pool_limits limits;
    limits.total = config.max_exposed_clients;  // an idle pool connection is one descriptor
    return limits;
  }
  static channel_limits channel_limits_for(const server_config& config) {
    channel_limits limits;
    limits.total = config.max_exposed_clients;  // a channel is one descriptor, as an idle pool connection
    return limits;
  }
  static admission_limits client_limits(const server_config& config) {
    admission_limits limits;  // their own, not the handshake flood cap: an office behind one NAT is one address
    limits.per_address = config.max_exposed_clients_per_ip;
    limits.pending = config.max_exposed_clients;
    limits.evict_when_full = false;  // a slot is held for the client's whole life: never evicted
    limits.counted = "clients of exposed ports";
    limits.full_text = "too many clients of exposed ports at once";
    return limits;
  }

  asio::any_io_executor executor_;
  const server_config& config_;
  /// Public clients, per address and in all, for as long as each is connected: one address can
  /// neither exhaust an exposer's relay pairs nor everyone's.
  admission clients_;
  relay_service& relay_;
  logging::log_limiter& log_;
  std::map<std::uint16_t, std::shared_ptr<exposure>> exposures_;
  expose_pool pool_;
  expose_channels channels_;
  std::size_t channel_clients_ = 0;
};

}  // namespace rendezvous
