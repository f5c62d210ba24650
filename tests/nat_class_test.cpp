#include <gtest/gtest.h>

#include "nat/nat_class.hpp"

namespace {

using nat::filtering_kind;
using nat::mapping_kind;

net::tcp::endpoint ep(const char* ip, unsigned short port) { return {asio::ip::make_address(ip), port}; }

/// Observations of a NAT that maps 10.0.0.2:40000 as given, with the given call-backs.
nat::nat_observations seen(std::optional<net::tcp::endpoint> p1, std::optional<net::tcp::endpoint> p2,
                           std::optional<net::tcp::endpoint> alt, std::optional<bool> other_port,
                           std::optional<bool> alt_ip) {
  return {ep("10.0.0.2", 40000), p1, p2, alt, other_port, alt_ip};
}

const auto pub = ep("198.51.100.1", 40000);

TEST(NatClass, FullCone) {
  auto v = nat::classify(seen(pub, pub, pub, true, true));
  EXPECT_EQ(v.mapping, mapping_kind::endpoint_independent);
  EXPECT_EQ(v.filtering, filtering_kind::endpoint_independent);
  EXPECT_EQ(v.class_name, "full cone");
  EXPECT_TRUE(*v.port_preserving);
  EXPECT_TRUE(v.undetermined.empty());
}

TEST(NatClass, AddressRestrictedCone) {
  auto v = nat::classify(seen(pub, pub, pub, true, false));
  EXPECT_EQ(v.filtering, filtering_kind::address_dependent);
  EXPECT_EQ(v.class_name, "address-restricted cone");
}

TEST(NatClass, PortRestrictedCone) {
  auto v = nat::classify(seen(pub, pub, pub, false, false));
  EXPECT_EQ(v.filtering, filtering_kind::address_and_port_dependent);
  EXPECT_EQ(v.class_name, "port-restricted cone");
}

TEST(NatClass, PortRestrictedThatDoesNotPreservePorts) {
  const auto moved = ep("198.51.100.1", 40768);
  auto v = nat::classify(seen(moved, moved, moved, false, false));
  EXPECT_EQ(v.mapping, mapping_kind::endpoint_independent);
  EXPECT_FALSE(*v.port_preserving);
  EXPECT_EQ(v.class_name, "port-restricted cone");
}

TEST(NatClass, SymmetricByPortOrByAddress) {
  auto by_port = nat::classify(seen(pub, ep("198.51.100.1", 51234), ep("198.51.100.1", 61234), false, false));
  EXPECT_EQ(by_port.mapping, mapping_kind::address_and_port_dependent);
  EXPECT_EQ(by_port.class_name, "symmetric");
  auto by_address = nat::classify(seen(pub, pub, ep("198.51.100.1", 50000), false, false));
  EXPECT_EQ(by_address.mapping, mapping_kind::address_dependent);
  EXPECT_EQ(by_address.class_name, "symmetric");
}

TEST(NatClass, NoNat) {
  nat::nat_observations open{pub, pub, pub, pub, true, true};
  auto v = nat::classify(open);
  EXPECT_EQ(v.mapping, mapping_kind::none);
  EXPECT_EQ(v.filtering, filtering_kind::none);
  EXPECT_EQ(v.class_name, "no NAT");
  nat::nat_observations firewalled{pub, pub, pub, pub, false, false};
  EXPECT_EQ(nat::classify(firewalled).class_name, "no NAT, firewalled");
  nat::nat_observations no_alternate{pub, pub, pub, std::nullopt, true, std::nullopt};
  EXPECT_EQ(nat::classify(no_alternate).class_name, "no NAT (filtering unknown)");  // no guessing
}

TEST(NatClass, WithoutAlternateAddressItSaysWhatItCannotTell) {
  auto cone = nat::classify(seen(pub, pub, std::nullopt, true, std::nullopt));
  EXPECT_EQ(cone.mapping, mapping_kind::unknown);
  EXPECT_EQ(cone.filtering, filtering_kind::unknown);
  EXPECT_EQ(cone.class_name, "unknown");
  ASSERT_EQ(cone.undetermined.size(), 2u);
  EXPECT_NE(cone.undetermined[0].find("--alt-ip"), std::string::npos);
  // Some things are still certain without it.
  auto sym = nat::classify(seen(pub, ep("198.51.100.1", 5), std::nullopt, false, std::nullopt));
  EXPECT_EQ(sym.mapping, mapping_kind::address_and_port_dependent);
  EXPECT_EQ(sym.filtering, filtering_kind::address_and_port_dependent);
  EXPECT_EQ(sym.class_name, "symmetric");
}

TEST(NatClass, NoAnswerAtAll) {
  auto v = nat::classify(seen(std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt));
  EXPECT_EQ(v.class_name, "unknown");
  EXPECT_FALSE(v.public_endpoint);
}

TEST(NatClass, HopelessPairsAreExactlyTheRelayCellsOfTheMatrix) {
  const auto eim = mapping_kind::endpoint_independent, apdm = mapping_kind::address_and_port_dependent;
  const auto eif = filtering_kind::endpoint_independent, adf = filtering_kind::address_dependent,
             apdf = filtering_kind::address_and_port_dependent;
  const auto none_m = mapping_kind::none, unknown_m = mapping_kind::unknown;
  const auto none_f = filtering_kind::none, unknown_f = filtering_kind::unknown;
  EXPECT_TRUE(nat::direct_path_impossible(apdm, apdf, apdm, apdf));   // symmetric - symmetric
  EXPECT_TRUE(nat::direct_path_impossible(eim, apdf, apdm, apdf));    // port-restricted - symmetric
  EXPECT_TRUE(nat::direct_path_impossible(apdm, apdf, eim, apdf));    // and the other way round
  EXPECT_FALSE(nat::direct_path_impossible(eim, adf, apdm, apdf));    // address-restricted - symmetric
  EXPECT_FALSE(nat::direct_path_impossible(eim, eif, apdm, apdf));    // full cone - symmetric
  EXPECT_FALSE(nat::direct_path_impossible(none_m, none_f, apdm, apdf));
  EXPECT_FALSE(nat::direct_path_impossible(eim, apdf, eim, apdf));    // port - port
  EXPECT_FALSE(nat::direct_path_impossible(unknown_m, unknown_f, apdm, apdf));  // unknown: punch first
}

TEST(NatClass, NamesRoundTrip) {
  for (auto m : {mapping_kind::none, mapping_kind::endpoint_independent, mapping_kind::address_dependent,
                 mapping_kind::address_and_port_dependent, mapping_kind::unknown}) {
    EXPECT_EQ(nat::parse_mapping(nat::to_string(m)), m);
  }
  EXPECT_FALSE(nat::parse_filtering("sideways"));
}

}  // namespace
