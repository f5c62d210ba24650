// Probes our own NAT against the rendezvous server's probe ports and classifies it.
#pragma once
#include "nat/nat_class.hpp"
#include "nat/nat_report.hpp"
#include "peer/nat_cache.hpp"
#include "peer/server_link.hpp"

namespace peer {

/// What the probes need of the server: its probe_info answer (probe ports, alternates, public
/// addresses, and the endpoint it sees us at), and the address we reached it at.
struct probe_target {
  nlohmann::json info;
  net::tcp::endpoint server;
};
/// Asks the server; throws std::runtime_error if it offers no probes.
net::awaitable<probe_target> fetch_probe_target(server_link& link);

/// Runs the mapping and filtering probes over the family we reach the server by, or over the other
/// one (`other_family`: to the server's public address of that family); throws
/// std::runtime_error if the server's probe ports are malformed (or it has no address of that family).
net::awaitable<nat::nat_verdict> probe_nat(probe_target target, bool other_family = false);
/// Our verdicts: over the family we reach the server by, and over the other one where both we and
/// the server have it (probed at the same time).
struct family_verdicts {
  bool reached_by_v4 = true;
  nat::nat_verdict reached;
  std::optional<nat::nat_verdict> other;  ///< none: we (or the server) lack the other family
  const char* reached_name() const { return reached_by_v4 ? "ipv4" : "ipv6"; }
  const char* other_name() const { return reached_by_v4 ? "ipv6" : "ipv4"; }
};
/// Throws as probe_nat does for the family we reach the server by.
net::awaitable<family_verdicts> probe_families(probe_target target);
/// What the server is told of them (nat_report.hpp).
nat::nat_report report_of(const family_verdicts& verdicts);

/// The verdict as the JSON fields of `peer nat --json` and of the report to the server.
nlohmann::json to_json(const nat::nat_verdict& verdict);
/// Keeps `verdicts` as this network's in the cache (`peer nat` does, so the next command reports
/// them at once).
void remember(const probe_target& target, const family_verdicts& verdicts);

/// Tells the server our NAT verdict without making anyone wait: the one this network had last
/// time (nat_cache.hpp) at once, then a fresh probe in the background, reported when it differs
/// and cached. With `follow` (long-running commands) it probes again whenever this host's
/// addresses change. Returns after one request (the probe ports); never throws: without a
/// verdict the server treats us as unknown, and we punch.
net::awaitable<void> report_nat(server_link& link, bool follow);

}  // namespace peer
