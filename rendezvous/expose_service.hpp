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
//
// In a cluster a port is claimed cluster-wide and every node listens on it. A node whose listener
// takes a client of a peer registered on another node keeps the client at its relay port and
// mails that node {"kind":"proxy", ...}; the owner's node announces it to its peer with the
// relay's host ("relay_host"), and the peer's data connection joins the client there.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/log_limiter.hpp"
#include "common/net.hpp"
#include "rendezvous/admission.hpp"
#include "rendezvous/expose_channels.hpp"
#include "rendezvous/expose_pool.hpp"
#include "rendezvous/peer_directory.hpp"
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

/// How the expose service speaks to the rest of a cluster (unset for a single server).
struct expose_cluster_link {
  std::function<void(std::uint16_t port, const std::string& owner)> opened;  ///< a port of ours opened
  std::function<void(std::uint16_t port)> closed;                            ///< ...and closed
  std::function<void(const std::string& node, const nlohmann::json& mail)> post;
  std::string advertised;  ///< this node's address, told the peers of other nodes
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

  /// Why `owner` may not expose `port`, if it may not (checked before the cluster is asked).
  std::optional<expose_error> check(const client_session& owner, int port) const;
  /// Opens `port` for `owner` (checked, and claimed cluster-wide); a refusal says why.
  std::optional<expose_error> open(const std::shared_ptr<client_session>& owner, int port);
  /// Takes the config's limits again (a reload; the range is read from it at each open).
  void reload_limits() {
    clients_.set_limits(client_limits(config_));
    pool_.set_limits(pool_limits_for(config_));
    channels_.set_limits(channel_limits_for(config_));
  }
  /// Joins a cluster: ports are claimed cluster-wide, and clients of other nodes' peers forwarded.
  void join_cluster(expose_cluster_link link) { cluster_ = std::move(link); }
  /// Another node's peer `owner` exposes `port`: listen on it too, and forward its clients there.
  void open_forwarded(std::uint16_t port, const std::string& node, const std::string& owner);
  /// That node's port closed (or its claim is gone).
  void close_forwarded(std::uint16_t port, const std::string& node);
  /// Brings the forwarded ports in line with the cluster's live claims (lost mail, dead nodes).
  void reconcile(const std::vector<port_claim>& claims, const std::string& this_node);
  /// A client of `port` waits at another node's relay: announces it to its owner here, who joins
  /// it there. Returns why not, empty if announced.
  std::string announce_forwarded(const nlohmann::json& proxy, const std::string& from_node,
                                 const std::shared_ptr<client_session>& owner);
  /// A peer could not serve a client announced with `token` from another node: that node is
  /// told. False if the token is not such a one.
  bool forwarded_failed(const std::string& token, const std::string& reason);
  /// This node's claim on `port` went to another node: the local port closes.
  void lose(std::uint16_t port, const std::string& holder);
  /// Closes every port of `owner` (it went away): the ports return to the pool.
  void close_all(const client_session& owner);
  void stop();
  /// Opens `owner`'s pool: the secret its pool connections prove, or nothing for a peer without an ID.
  std::optional<std::string> pool_open(const client_session& owner);
  int pool_per_owner() const { return pool_.per_owner(); }
  int channels_per_owner() const { return channels_.per_owner(); }
  /// Closes idle pool connections past their time.
  void expire(net::clock::time_point now);
  std::size_t open_ports() const { return exposures_.size(); }
  /// Of those, the ports outside [first, last] (all of them when first is 0: none may be exposed).
  std::size_t open_ports_outside(std::uint16_t first, std::uint16_t last) const {
    std::size_t outside = 0;
    for (const auto& [port, exposure] : exposures_) outside += first == 0 || port < first || port > last ? 1 : 0;
    return outside;
  }
  std::size_t idle_pool() const { return pool_.idle(); }
  /// Clients of exposed ports connected now (announced, joined or waiting for the peer).
  std::size_t clients() const { return clients_.pending(); }
  std::size_t channels() const { return channels_.count(); }
  /// Clients carried on channels now.
  std::size_t channel_clients() const { return channel_clients_; }

 private:
  struct exposure;
  /// Accepts the clients of `e` at one of its listeners (one per listen address).
  net::awaitable<void> accept_loop(std::shared_ptr<exposure> e, net::tcp::acceptor& acceptor);
  /// Listens on `port` for `e` (shared with other nodes' listeners in a cluster).
  std::error_code listen(exposure& e);
  /// Holds a client of another node's peer at our relay port and mails that node about it.
  void forward(exposure& e, net::tcp::socket client, admission_ticket ticket, const std::string& from);
  /// Closes the clients `e` forwarded that may still wait at our relay.
  void drop_forwarded_clients(exposure& e, const std::string& why);
  void close_exposure(std::map<std::uint16_t, std::shared_ptr<exposure>>::iterator it, const std::string& why);
  /// A connection at the relay port that says it is one of an owner's: proved, then kept idle in
  /// the pool or (hello "channel": true) made a channel. Returns why not, empty if kept.
  net::awaitable<std::string> admit_proven(nlohmann::json hello, net::tcp::socket socket, net::clock::time_point deadline);
  /// Carries one client on a stream of a channel to its exposer (of account `payer`).
  net::awaitable<void> carry_on_channel(net::tcp::socket client, admission_ticket ticket,
                                        std::shared_ptr<session::stream> stream, std::string from, std::string owner,
                                        std::string payer);
  /// Tells a pool connection who its client is, then splices the two.
  net::awaitable<void> join_pooled(relay_half client, net::tcp::socket pooled, std::uint16_t port, std::string from,
                                   std::string owner, std::string payer);
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
  std::optional<expose_cluster_link> cluster_;
  /// Tokens of clients waiting at another node's relay, announced to our peers: token -> (node, until).
  std::map<std::string, std::pair<std::string, net::clock::time_point>> forwarded_tokens_;
};

}  // namespace rendezvous
