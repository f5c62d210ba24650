#include "rendezvous/descriptor_budget.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "rendezvous/control_socket.hpp"
#include "rendezvous/metrics_endpoint.hpp"

namespace rendezvous {
namespace {

/// Listeners, the pin database, logs, the reserve, exposed ports' listeners, and the relay's
/// spare pipes (relay/splice_pump: at most 32 pipes, 64 descriptors).
constexpr long fixed_descriptors = 128;

}  // namespace

namespace {

/// Peers, idle clients and relayed pairs: each kind keeps its share of what fits.
descriptor_budget fit_fixed_kinds(long limit, const server_config& config) {
  descriptor_budget b;
  b.limit = limit;
  // Handshakes on four ports, and connections held briefly by hole-assist and probes.
  b.max_pending_per_port = static_cast<int>(std::min<long>(config.max_pending_handshakes, std::max(1L, limit / 16)));
  const long side_traffic = std::max(16L, limit / 16);
  const long scrapers = config.metrics.empty() ? 0 : metrics_descriptors;  // (--metrics)
  const long available =
      std::max(0L, limit - fixed_descriptors - scrapers - control_descriptors - 4L * b.max_pending_per_port - side_traffic);
  // What the config asks for: peers, a tenth as many idle clients again, and relay pairs.
  const long want_peers = config.max_peers;
  const long want_idle = std::max(64L, want_peers / 10);
  const long want_relay = static_cast<long>(config.max_relay_pairs) * descriptors_per_relay_pair;
  const long wanted = want_peers + want_idle + want_relay;
  if (wanted <= available) {
    b.max_peers = config.max_peers;
    b.max_idle_clients = static_cast<int>(want_idle);
    b.max_relay_pairs = config.max_relay_pairs;
    return b;
  }
  // Not all of it fits: every kind keeps its share of what does.
  b.reduced = true;
  const double share = static_cast<double>(available) / static_cast<double>(wanted);
  b.max_peers = std::max(1, static_cast<int>(static_cast<double>(want_peers) * share));
  // Clients without an ID are short-lived (list, send): a few dozen always fit.
  b.max_idle_clients = std::max(32, static_cast<int>(static_cast<double>(want_idle) * share));
  b.max_relay_pairs = std::max(1, static_cast<int>(static_cast<double>(want_relay) * share / descriptors_per_relay_pair));
  return b;
}

/// Exposed clients get what the other kinds leave, but at least a third of the limit: a busy
/// web service must not be starved by caps sized for peers that are seldom all there. (That
/// overcommits; the descriptor reserve answers at the wall.)
int fit_exposed_clients(long limit, long left_over, const server_config& config) {
  const long share = std::max(left_over, limit / 3) / descriptors_per_relay_pair;
  return static_cast<int>(std::clamp<long>(share, 1, config.max_exposed_clients));
}

}  // namespace

descriptor_budget fit_to_descriptors(long limit, const server_config& config) {
  descriptor_budget b = fit_fixed_kinds(limit, config);
  const long used = fixed_descriptors + 4L * b.max_pending_per_port + std::max(16L, limit / 16) + b.max_peers +
                    b.max_idle_clients + static_cast<long>(b.max_relay_pairs) * descriptors_per_relay_pair;
  b.max_exposed_clients = fit_exposed_clients(limit, limit - used, config);  // (stated, never a warning by itself)
  return b;
}

std::string describe(const descriptor_budget& b) {
  return fmt::format("descriptor limit {}: at most {} peers, {} clients without an ID, {} relayed pairs, {} clients "
                     "of exposed ports, {} pending handshakes per port{}",
                     b.limit, b.max_peers, b.max_idle_clients, b.max_relay_pairs, b.max_exposed_clients,
                     b.max_pending_per_port,
                     b.reduced ? " (less than configured: raise the limit with ulimit -n or LimitNOFILE= to serve more)" : "");
}

}  // namespace rendezvous
