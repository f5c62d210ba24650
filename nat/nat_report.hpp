// What a peer tells the server of its NAT, per address family, and the verdict on a pair drawn
// from two such reports: whether any direct path can exist, or the pair should go to the relay
// at once. One struct for the report as it arrives from a peer, as it is kept in the cluster store
// and as another node reads it back.
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "nat/nat_class.hpp"

namespace nat {

/// One family's behaviour, as the peer's probes classified it.
struct family_behaviour {
  mapping_kind mapping = mapping_kind::unknown;
  filtering_kind filtering = filtering_kind::unknown;
  std::string class_name() const { return class_of(mapping, filtering); }
};

/// A peer's report: the families it has, each with its behaviour (unknown where it was not
/// probed). Until a peer reports, nothing is known, and a punch is always worth trying.
struct nat_report {
  bool reported = false;
  std::optional<family_behaviour> ipv4;
  std::optional<family_behaviour> ipv6;
  /// "symmetric; IPv6: no NAT, firewalled", for logs and refusal reasons.
  std::string describe() const;
};

/// {"mapping", "filtering", "class" (the IPv4 family's, else the IPv6 one's), "families": {"ipv4":
/// {...}, "ipv6": {...}}}, the form peers send and the cluster store keeps.
nlohmann::json to_json(const nat_report& report);
/// Reads a report; never throws. Unreadable values read as unknown (so the pair punches). A report
/// without "families" (an older peer's) is its IPv4 family, with IPv6 when "ipv6" is true;
/// "reported": false (a registration before its peer's first report) is no report.
nat_report report_from_json(const nlohmann::json& message);

/// Why no direct path can exist between two peers (in every family both have, a mapping that
/// changes per destination meets a filter that only admits the exact endpoint it sent to; or they
/// share no family), or nothing when a punch is worth trying. IPv6 counts only where the server
/// has an IPv6 address the peers can report to (`server_has_ipv6`).
std::optional<std::string> no_direct_path(const nat_report& a, const nat_report& b, bool server_has_ipv6);

}  // namespace nat
