// State shared by every connection the server handles.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "rendezvous/admission.hpp"
#include "rendezvous/attempt_coordinator.hpp"
#include "rendezvous/server_config.hpp"

namespace rendezvous {

class client_session;

/// Counters for the stats line and tests.
struct server_stats {
  std::uint64_t connections_accepted = 0;
  std::uint64_t auth_failures = 0;
  std::uint64_t protocol_errors = 0;
  std::uint64_t attempts_started = 0;
  std::uint64_t attempts_coordinated = 0;
};

/// The registry, limits and attempts of one server.
struct server_context {
  explicit server_context(server_config c)
      : config(std::move(c)), admission_control(config.max_connections_per_ip, config.max_pending_handshakes) {}

  server_config config;
  admission admission_control;
  std::map<std::string, std::shared_ptr<client_session>> registry;  ///< ID -> live main connection
  attempt_coordinator attempts;
  server_stats stats;
};

}  // namespace rendezvous
