#include "rendezvous/metrics.hpp"

#include <sys/resource.h>

#include <array>
#include <filesystem>

#include <fmt/format.h>

namespace rendezvous {
namespace {

/// Appends metric families: a HELP and TYPE line each, then its samples.
class exposition {
 public:
  void gauge(const char* name, const char* help, long long value) { family(name, help, "gauge").sample(name, value); }
  void counter(const char* name, const char* help, long long value) { family(name, help, "counter").sample(name, value); }
  exposition& family(const char* name, const char* help, const char* type) {
    text_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    return *this;
  }
  /// A sample with one label (its value is ours: a cause or code, never a peer's text).
  exposition& sample(const char* name, long long value, const char* label = nullptr, const std::string& label_value = "") {
    if (label) {
      text_ += fmt::format("{}{{{}=\"{}\"}} {}\n", name, label, escaped(label_value), value);
    } else {
      text_ += fmt::format("{} {}\n", name, value);
    }
    return *this;
  }
  /// A histogram's samples for one value of its label: cumulative buckets, then sum and count.
  template <typename Histogram, std::size_t N>
  exposition& histogram(const char* name, const std::array<double, N>& bounds, const Histogram& h, const char* label,
                        const std::string& label_value) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < N; ++i) {
      cumulative += h.at_most[i];
      text_ += fmt::format("{}_bucket{{{}=\"{}\",le=\"{}\"}} {}\n", name, label, label_value, bounds[i], cumulative);
    }
    text_ += fmt::format("{}_bucket{{{}=\"{}\",le=\"+Inf\"}} {}\n", name, label, label_value, h.count);
    text_ += fmt::format("{}_sum{{{}=\"{}\"}} {}\n", name, label, label_value, h.sum_seconds);
    text_ += fmt::format("{}_count{{{}=\"{}\"}} {}\n", name, label, label_value, h.count);
    return *this;
  }
  /// A gauge only if the value is known (>= 0).
  void gauge_if_known(const char* name, const char* help, long long value) {
    if (value >= 0) gauge(name, help, value);
  }
  std::string take() { return std::move(text_); }

 private:
  static std::string escaped(const std::string& value) {
    std::string out;
    for (char c : value) {
      if (c == '\\' || c == '"') out += '\\';
      out += c == '\n' ? std::string("\\n") : std::string(1, c);
    }
    return out;
  }
  std::string text_;
};

/// Descriptors this process has open (-1 if /proc cannot tell).
long long open_descriptors() {
  std::error_code ec;
  long long count = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++count;
  return ec ? -1 : count - 1;  // (less the one the listing itself holds)
}

long long descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return -1;
  return static_cast<long long>(limit.rlim_cur);
}

}  // namespace

std::string render_metrics(const server_context& context) {
  exposition out;
  const auto& stats = context.stats;
  out.gauge("holepunch_peers_online", "Peers registered on this node now.", static_cast<long long>(context.registry.size()));
  out.gauge("holepunch_main_connections", "Authenticated main connections, registered or not.",
            static_cast<long long>(context.sessions.size()));
  out.counter("holepunch_registrations_total", "IDs registered since the server started.", static_cast<long long>(stats.registrations));
  out.counter("holepunch_connect_attempts_total", "Connect attempts this node coordinated.",
              static_cast<long long>(stats.attempts_started));
  out.gauge("holepunch_connect_attempts_in_flight", "Connect attempts not yet punched, relayed or failed.",
            static_cast<long long>(context.attempts.size()));
  out.family("holepunch_connect_attempts_failed_total", "Connect attempts that failed, by the code both sides were told.",
             "counter");
  auto failures = context.attempts.failures();
  for (const char* code : {"timeout", "peer_busy", "peer_gone"}) failures.try_emplace(code, 0);  // (so increase() sees the first)
  for (const auto& [code, count] : failures) {
    out.sample("holepunch_connect_attempts_failed_total", static_cast<long long>(count), "code", code);
  }
  const auto& outcomes = context.attempts.outcomes();
  out.family("holepunch_connect_outcomes_total",
             "Connect attempts by how they ended: the path the session started on (as the initiator reports), or failed.",
             "counter")
      .sample("holepunch_connect_outcomes_total", static_cast<long long>(outcomes.direct()), "outcome", "direct")
      .sample("holepunch_connect_outcomes_total", static_cast<long long>(outcomes.relayed()), "outcome", "relay")
      .sample("holepunch_connect_outcomes_total", static_cast<long long>(outcomes.failures()), "outcome", "failed");
  out.family("holepunch_time_to_connected_seconds",
             "Seconds from a connect request to the initiator's secure session, by the path it started on.", "histogram")
      .histogram("holepunch_time_to_connected_seconds", connect_outcomes::bucket_bounds, outcomes.time_to_direct(), "path", "direct")
      .histogram("holepunch_time_to_connected_seconds", connect_outcomes::bucket_bounds, outcomes.time_to_relay(), "path", "relay");
  out.counter("holepunch_session_resumes_total",
              "Relay pairs asked for to resume a session whose path was lost (a direct path that died, say).",
              static_cast<long long>(stats.resumes_requested));
  out.gauge("holepunch_relay_pairs", "Relayed pairs now (peer pairs and exposed clients).",
            static_cast<long long>(context.relay.live_pairs()));
  out.gauge("holepunch_relay_waiting_halves", "Relay connections waiting for their other half.",
            static_cast<long long>(context.relay.waiting_halves()));
  out.counter("holepunch_relay_peer_pairs_total", "Relayed pairs of two peers since the server started.",
              static_cast<long long>(context.relay.peer_pairs_total()));
  out.counter("holepunch_relay_peer_pairs_upgraded_total", "Of those, pairs that ended because the session moved to a direct path.",
              static_cast<long long>(context.relay.peer_pairs_upgraded()));
  out.counter("holepunch_relay_bytes_total", "Bytes relayed, both directions, by ended pairs and live ones so far.",
              static_cast<long long>(context.relay.bytes_relayed() + context.relay.live_bytes()));
  if (context.accounts) out.gauge("holepunch_accounts", "Accounts in the server's state.", static_cast<long long>(context.accounts->size()));
  out.gauge("holepunch_exposed_clients_connected", "Clients of exposed ports connected now.", static_cast<long long>(context.relay.live_exposed()));
  out.counter("holepunch_exposed_clients_total", "Clients of exposed ports served since the server started.",
              static_cast<long long>(context.relay.exposed_served()));
  out.counter("holepunch_exposed_bytes_total", "Bytes carried for clients of exposed ports, both directions.",
              static_cast<long long>(context.relay.exposed_bytes()));
  out.family("holepunch_refusals_total", "Connections and requests refused, by cause.", "counter")
      .sample("holepunch_refusals_total", static_cast<long long>(stats.auth_failures), "cause", "auth_failed")
      .sample("holepunch_refusals_total", static_cast<long long>(stats.protocol_errors), "cause", "protocol_error")
      .sample("holepunch_refusals_total", static_cast<long long>(stats.key_refusals), "cause", "key_refused")
      .sample("holepunch_refusals_total", static_cast<long long>(stats.relay_refusals), "cause", "relay_refused")
      .sample("holepunch_refusals_total", static_cast<long long>(stats.connects_rate_limited), "cause", "connect_rate_limited")
      .sample("holepunch_refusals_total", static_cast<long long>(context.admissions.refused()), "cause", "handshake_refused")
      .sample("holepunch_refusals_total", static_cast<long long>(context.admissions.evicted()), "cause", "handshake_evicted");
  out.gauge("holepunch_pending_handshakes", "Connections on every port that have not authenticated yet.",
            static_cast<long long>(context.admissions.pending()));
  if (const auto up = context.directory ? context.directory->link_up() : std::nullopt) {
    out.gauge("holepunch_cluster_link_up", "1 while this node's link to the cluster store (Redis) is up, else 0.", *up ? 1 : 0);
  }
  out.gauge_if_known("holepunch_open_fds", "File descriptors this process has open.", open_descriptors());
  out.gauge_if_known("holepunch_max_fds", "The process's soft limit on open file descriptors.", descriptor_limit());
  return out.take();
}

}  // namespace rendezvous
