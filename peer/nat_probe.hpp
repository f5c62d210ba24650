// Probes our own NAT against the rendezvous server's probe ports and classifies it.
#pragma once
#include "nat/nat_class.hpp"
#include "nat/nat_report.hpp"
#include "peer/server_link.hpp"

namespace peer {

/// Runs the mapping and filtering probes over the family we reach the server by, or over the other
/// one (`other_family`: to the server's public address of that family); throws
/// std::runtime_error if the server offers no probes (or no address of that family).
net::awaitable<nat::nat_verdict> probe_nat(server_link& link, bool other_family = false);
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
net::awaitable<family_verdicts> probe_families(server_link& link);
/// What the server is told of them (nat_report.hpp).
nat::nat_report report_of(const family_verdicts& verdicts);

/// The verdict as the JSON fields of `peer nat --json` and of the report to the server.
nlohmann::json to_json(const nat::nat_verdict& verdict);
/// Probes and tells the server our class (so it can skip hopeless punches); never throws: a
/// failed probe only means the server keeps treating us as unknown, and we punch.
net::awaitable<void> probe_and_report(server_link& link);

}  // namespace peer
