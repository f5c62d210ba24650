// State shared by every connection the server handles.
#pragma once
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>

#include "common/socket_registry.hpp"
#include "rendezvous/admission.hpp"
#include "rendezvous/attempt_coordinator.hpp"
#include "rendezvous/expose_service.hpp"
#include "rendezvous/key_pins.hpp"
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
};

/// The registry, limits and attempts of one server.
struct server_context {
  server_context(const asio::any_io_executor& ex, server_config c)
      : config(std::move(c)),
        admission_control(config.max_handshakes_per_ip, config.max_pending_handshakes),
        relay(ex, config, stats, short_lived),
        exposes(ex, config, relay),
        probes(ex, config, admission_control, short_lived) {}

  server_config config;
  server_stats stats;
  net::socket_registry short_lived;  ///< hole-assist and relay-port connections before pairing
  admission admission_control;
  relay_service relay;
  expose_service exposes;
  probe_service probes;
  std::map<std::string, std::shared_ptr<client_session>> registry;  ///< ID -> live main connection
  attempt_coordinator attempts;
  std::unique_ptr<key_pins> pins;  ///< opened by server::start()
  std::list<client_session*> sessions;  ///< every live main connection, registered or not
};

}  // namespace rendezvous
