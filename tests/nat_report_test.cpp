// A peer's NAT report per family, as sent, stored and read back, and the relay-at-once verdict on a
// pair: hopeless only when every family both have is hopeless, or they share none.
#include <gtest/gtest.h>

#include "nat/nat_report.hpp"

namespace {

using nat::filtering_kind;
using nat::mapping_kind;

const nat::family_behaviour symmetric{mapping_kind::address_and_port_dependent, filtering_kind::address_and_port_dependent};
const nat::family_behaviour port_restricted{mapping_kind::endpoint_independent, filtering_kind::address_and_port_dependent};
const nat::family_behaviour firewall{mapping_kind::none, filtering_kind::address_and_port_dependent};

nat::nat_report report(std::optional<nat::family_behaviour> v4, std::optional<nat::family_behaviour> v6) {
  nat::nat_report r;
  r.reported = true;
  r.ipv4 = v4;
  r.ipv6 = v6;
  return r;
}

TEST(NatReport, RoundTripsThroughItsJson) {
  const auto sent = report(symmetric, firewall);
  const auto json = nat::to_json(sent);
  EXPECT_EQ(json["class"], "symmetric");  // what older servers and logs read
  EXPECT_EQ(json["families"]["ipv6"]["class"], "no NAT, firewalled");
  const auto back = nat::report_from_json(json);
  ASSERT_TRUE(back.reported && back.ipv4 && back.ipv6);
  EXPECT_EQ(back.ipv4->mapping, symmetric.mapping);
  EXPECT_EQ(back.ipv6->filtering, firewall.filtering);
  EXPECT_EQ(back.describe(), "symmetric; IPv6: no NAT, firewalled");
  const auto v6_only = nat::report_from_json(nat::to_json(report(std::nullopt, firewall)));
  EXPECT_FALSE(v6_only.ipv4);
  EXPECT_EQ(nat::to_json(v6_only)["class"], "no NAT, firewalled");
}

TEST(NatReport, AnOlderPeersReportIsItsIpv4FamilyWithIpv6WhenFlagged) {
  const auto old = nat::report_from_json(
      {{"mapping", "address-and-port-dependent"}, {"filtering", "address-and-port-dependent"}, {"ipv6", true}});
  ASSERT_TRUE(old.ipv4 && old.ipv6);
  EXPECT_EQ(old.ipv4->class_name(), "symmetric");
  EXPECT_EQ(old.ipv6->class_name(), "unknown");
}

TEST(NatReport, UnreadableFieldsReadAsUnknownAndNeverThrow) {
  for (const auto& junk : {nlohmann::json(42), nlohmann::json{{"mapping", 7}, {"families", "x"}},
                           nlohmann::json{{"families", {{"ipv4", {{"mapping", {1, 2}}}}, {"ipv6", nullptr}}}},
                           nlohmann::json{{"families", nlohmann::json::object()}}}) {
    const auto read = nat::report_from_json(junk);
    if (read.ipv4) {
      EXPECT_EQ(read.ipv4->mapping, mapping_kind::unknown) << junk.dump();
    }
    // Nothing hopeless can come of junk: the pair punches.
    EXPECT_FALSE(nat::no_direct_path(read, report(symmetric, std::nullopt), true)) << junk.dump();
  }
}

TEST(NatReport, APairGoesToTheRelayAtOnceOnlyWhenNoFamilyCanPunch) {
  // Symmetric IPv4 on both sides: hopeless, unless both can punch through IPv6 firewalls.
  EXPECT_TRUE(nat::no_direct_path(report(symmetric, std::nullopt), report(symmetric, std::nullopt), true));
  EXPECT_FALSE(nat::no_direct_path(report(symmetric, firewall), report(symmetric, firewall), true));
  // ... and only through a server they can report to over IPv6.
  EXPECT_TRUE(nat::no_direct_path(report(symmetric, firewall), report(symmetric, firewall), false));
  // One side without IPv6: no common family but the hopeless one; the reason says so.
  EXPECT_EQ(nat::no_direct_path(report(symmetric, std::nullopt), report(symmetric, firewall), true),
            "symmetric NAT meets symmetric NAT: no direct path can exist (only one side has IPv6)");
  EXPECT_EQ(nat::no_direct_path(report(port_restricted, std::nullopt), report(symmetric, std::nullopt), true),
            "port-restricted cone NAT meets symmetric NAT: no direct path can exist");
  // IPv6 hopeless too (NAT66 that maps per destination against a strict filter).
  EXPECT_TRUE(nat::no_direct_path(report(symmetric, symmetric), report(port_restricted, symmetric), true));
  // IPv4 punchable: never sent away.
  EXPECT_FALSE(nat::no_direct_path(report(port_restricted, std::nullopt), report(port_restricted, std::nullopt), true));
  // IPv6-only meets IPv4-only: nothing to punch over.
  const auto reason = nat::no_direct_path(report(std::nullopt, firewall), report(port_restricted, std::nullopt), true);
  ASSERT_TRUE(reason);
  EXPECT_NE(reason->find("no address family"), std::string::npos);
  // A peer that has not reported yet: punch, also when its registration was read back from the
  // cluster store by another node (against an IPv6-only peer, "IPv4, unknown" would share no family).
  EXPECT_FALSE(nat::no_direct_path(nat::nat_report{}, report(symmetric, std::nullopt), true));
  const auto unreported = nat::report_from_json(nat::to_json(nat::nat_report{}));
  EXPECT_FALSE(unreported.reported);
  EXPECT_FALSE(nat::no_direct_path(unreported, report(std::nullopt, firewall), true));
}

}  // namespace
