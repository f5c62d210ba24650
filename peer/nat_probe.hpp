// Probes our own NAT against the rendezvous server's probe ports and classifies it.
#pragma once
#include "nat/nat_class.hpp"
#include "peer/server_link.hpp"

namespace peer {

/// Runs the mapping and filtering probes over the family we reach the server by, or over the other
/// one (`other_family`: to the server's public address of that family); throws
/// std::runtime_error if the server offers no probes (or no address of that family).
net::awaitable<nat::nat_verdict> probe_nat(server_link& link, bool other_family = false);
/// The verdict as the JSON fields of `peer nat --json` and of the report to the server.
nlohmann::json to_json(const nat::nat_verdict& verdict);
/// Probes and tells the server our class (so it can skip hopeless punches); never throws: a
/// failed probe only means the server keeps treating us as unknown, and we punch.
net::awaitable<void> probe_and_report(server_link& link);

}  // namespace peer
