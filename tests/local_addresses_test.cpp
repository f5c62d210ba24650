// Which addresses count as public, which IPv6 addresses a peer offers, and dual-stack endpoints.
#include <gtest/gtest.h>

#include "common/endpoint.hpp"
#include "common/local_addresses.hpp"
#include "rendezvous/attempt_coordinator.hpp"

namespace {

asio::ip::address at(const char* text) { return asio::ip::make_address(text); }

TEST(LocalAddresses, PublicMeansReachableFromTheInternetAtLarge) {
  for (const char* yes : {"203.0.113.10", "198.51.100.2", "8.8.8.8", "2001:db8:ff::10", "2a00:1450::1"}) {
    EXPECT_TRUE(net::is_public(at(yes))) << yes;
  }
  for (const char* no : {"10.1.0.2", "172.16.5.1", "192.168.1.1", "100.64.0.1", "169.254.1.1", "127.0.0.1", "0.0.0.0",
                         "::1", "::", "fe80::1", "fd00::1", "fc12::5", "::ffff:203.0.113.10", "ff02::1"}) {
    EXPECT_FALSE(net::is_public(at(no))) << no;
  }
}

TEST(LocalAddresses, APeerOffersPublicStableIpv6AddressesAndTemporaryOnesOnlyWhenAlone) {
  const std::vector<net::local_address> host{{at("fe80::1"), false},        {at("fd00::2"), false},
                                             {at("2001:db8:a::2"), false},  {at("2001:db8:a::99"), true},
                                             {at("203.0.113.5"), false},    {at("2001:db8:a::2"), false}};
  EXPECT_EQ(net::ipv6_candidates(host), (std::vector<asio::ip::address>{at("2001:db8:a::2")}));
  const std::vector<net::local_address> only_temporary{{at("fe80::1"), false}, {at("2001:db8:a::99"), true}};
  EXPECT_EQ(net::ipv6_candidates(only_temporary), (std::vector<asio::ip::address>{at("2001:db8:a::99")}));
  const std::vector<net::local_address> none{{at("fe80::1"), false}, {at("10.0.0.2"), false}};
  EXPECT_TRUE(net::ipv6_candidates(none).empty());
}

TEST(LocalAddresses, UniqueLocalAddressesAreCandidatesOnlyWithinTheSamePrivateNetwork) {
  const std::vector<net::local_address> host{{at("fd12:3456:789a:1::2"), false}, {at("2001:db8:a::2"), false},
                                             {at("fe80::1"), false}, {at("fd12:3456:789a:1::2"), false}};
  EXPECT_EQ(net::unique_local_addresses(host), (std::vector<asio::ip::address>{at("fd12:3456:789a:1::2")}));
  // Same /48 (prefix and global ID), another subnet of it: the same private network.
  EXPECT_TRUE(net::shares_unique_local_prefix(at("fd12:3456:789a:2::7"), host));
  // Another site's ULA, a public address and a link-local one: never by this rule.
  EXPECT_FALSE(net::shares_unique_local_prefix(at("fd12:3456:789b:1::7"), host));
  EXPECT_FALSE(net::shares_unique_local_prefix(at("2001:db8:a::3"), host));
  EXPECT_FALSE(net::shares_unique_local_prefix(at("fe80::2"), host));
  const std::vector<net::local_address> no_ula{{at("2001:db8:a::2"), false}};
  EXPECT_FALSE(net::shares_unique_local_prefix(at("fd12:3456:789a:1::7"), no_ula));
}

TEST(LocalAddresses, ThisHostHasItsLoopbackInBothFamilies) {
  const auto mine = net::local_addresses();
  const auto has = [&](const char* text) {
    return std::any_of(mine.begin(), mine.end(), [&](const net::local_address& l) { return l.address == at(text); });
  };
  EXPECT_TRUE(has("127.0.0.1"));
  EXPECT_TRUE(has("::1"));
}

TEST(DualStackEndpoints, MappedIpv4IsPrintedAndComparedAsIpv4) {
  const net::tcp::endpoint mapped(at("::ffff:203.0.113.10"), 7000);
  EXPECT_EQ(net::to_string(net::unmapped(mapped)), "203.0.113.10:7000");
  EXPECT_EQ(net::unmapped(net::tcp::endpoint(at("2001:db8::1"), 80)), net::tcp::endpoint(at("2001:db8::1"), 80));
  EXPECT_STREQ(net::family_name(mapped.address()), "ipv4");
  EXPECT_STREQ(net::family_name(at("2001:db8::1")), "ipv6");
  EXPECT_EQ(net::to_string(*net::parse_endpoint("[2001:db8::1]:7000")), "[2001:db8::1]:7000");
}

TEST(DualStackCandidates, ASidesCandidatesFromBothFamiliesListIpv6FirstEachOnce) {
  rendezvous::side_reports side;
  side.received.push_back({*net::parse_endpoint("203.0.113.1:40000"), {*net::parse_endpoint("10.1.0.2:40000")}, 2});
  EXPECT_FALSE(side.complete());  // one of two reports
  side.received.push_back(
      {*net::parse_endpoint("[2001:db8:a::2]:40000"), {*net::parse_endpoint("[2001:db8:a::2]:40000")}, 2});
  EXPECT_TRUE(side.complete());
  EXPECT_EQ(side.candidates(), nlohmann::json::array({"[2001:db8:a::2]:40000", "203.0.113.1:40000", "10.1.0.2:40000"}));
}

}  // namespace
