// State shared by every connection the server handles.
#pragma once
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/socket_registry.hpp"
#include "rendezvous/account_book.hpp"
#include "rendezvous/admission.hpp"
#include "rendezvous/usage_meter.hpp"
#include "rendezvous/attempt_coordinator.hpp"
#include "rendezvous/expose_service.hpp"
#include "rendezvous/peer_directory.hpp"
#include "rendezvous/listener.hpp"
#include "rendezvous/probe_service.hpp"
#include "rendezvous/relay_service.hpp"
#include "rendezvous/server_config.hpp"

namespace rendezvous {

class client_session;

/// Counters for the stats line and tests.
struct server_stats {
  std::uint64_t auth_failures = 0;
  std::uint64_t protocol_errors = 0;
  std::uint64_t attempts_started = 0;
  std::uint64_t relay_refusals = 0;
  std::uint64_t key_refusals = 0;  ///< registrations refused for a wrong or missing key
  std::uint64_t registrations = 0;
  std::uint64_t resumes_requested = 0;  ///< connects that resume a session whose path was lost
  std::uint64_t connects_rate_limited = 0;
};

/// Each listening port's budget for connections that have not authenticated yet.
struct port_admissions {
  explicit port_admissions(const server_config& config)
      : main("main", limits(config)), hole("hole-assist", limits(config)), relay("relay", limits(config)),
        probe("probe", limits(config)) {}
  static admission_limits limits(const server_config& config) {
    admission_limits l;
    l.per_address = config.max_handshakes_per_ip;
    l.pending = config.max_pending_handshakes;
    l.handshake_time = std::chrono::seconds(config.handshake_timeout_s);
    return l;
  }
  /// A reload's new limits, for every port.
  void set_limits(const server_config& config) {
    for (auto* port : {&main, &hole, &relay, &probe}) port->set_limits(limits(config));
  }
  std::uint64_t refused() const { return main.refused() + hole.refused() + relay.refused() + probe.refused(); }
  std::uint64_t evicted() const { return main.evicted() + hole.evicted() + relay.evicted() + probe.evicted(); }
  int pending() const { return main.pending() + hole.pending() + relay.pending() + probe.pending(); }

  admission main;
  admission hole;
  admission relay;
  admission probe;
};

/// The registry, limits and attempts of one server.
struct server_context {
  server_context(const asio::any_io_executor& ex, server_config c)
      : executor(ex),
        config(std::move(c)),
        admissions(config),
        relay(ex, config, stats, short_lived, log),
        exposes(ex, config, relay, log),
        probes(ex, config, accept_context{admissions.probe, reserve, log}, short_lived),
        attempts([this](const std::array<std::string, 2>& tokens, const std::string& why) {
          for (const auto& token : tokens) relay.cancel(token, why);
        },
                 [this](const std::string& node, const nlohmann::json& mail) {
                   if (directory) directory->post(node, mail);
                 }) {
    relay.on_first_half_waiting([this](const std::string& token) { attempts.relay_half_waiting(token); });
  }

  /// The accept loop's view of one port.
  accept_context accepting(admission& port) { return accept_context{port, reserve, log}; }

  asio::any_io_executor executor;
  server_config config;
  server_stats stats;
  net::socket_registry short_lived;  ///< hole-assist and relay-port connections before pairing
  port_admissions admissions;
  descriptor_reserve reserve;        ///< answers clients at the descriptor wall
  logging::log_limiter log;          ///< lines a crowd could multiply: one per cause per interval
  /// What the relay carried per account and ID (a single server's; null in a cluster). Before
  /// the relay: a pair ending as the server is destroyed still charges it.
  std::unique_ptr<usage_meter> usage;
  relay_service relay;
  expose_service exposes;
  probe_service probes;
  std::map<std::string, std::shared_ptr<client_session>> registry;  ///< ID -> live main connection
  attempt_coordinator attempts;
  std::unique_ptr<peer_directory> directory;  ///< who is registered where, and the key pins (server::start())
  /// The accounts: a single server's from its state, a cluster node's from the cluster's Redis.
  std::unique_ptr<account_book> accounts;
  /// The address other nodes' peers are told for this node's ports (--advertise, else the listen
  /// address unless it is a wildcard); empty: this node cannot coordinate connects across nodes.
  std::string advertised;
  /// This server's public address per family (public_addresses()): attempts tell peers these, so
  /// a dual-stack peer reports over both families and punches over both.
  std::vector<std::string> public_hosts;
  std::set<std::string> claiming;  ///< IDs whose registration here is waiting for the directory
  std::list<client_session*> sessions;  ///< every live main connection, registered or not
  int idle_clients = 0;  ///< authenticated main connections without an ID
};

}  // namespace rendezvous
