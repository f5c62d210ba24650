// The addresses a server tells peers it has, one per family (IPv4, IPv6), so a peer that reached
// it over one family can report to its hole-assist port over the other and punch over both.
#pragma once
#include <string>
#include <vector>

#include "common/net.hpp"

namespace rendezvous {

/// At most one address per family, IPv4 first: those of `advertise` (comma-separated addresses
/// or host names, resolved now) when given; else the listen addresses that are not wildcards; and
/// for a wildcard, this host's public interface addresses (both families for [::], IPv4 for 0.0.0.0).
std::vector<std::string> public_addresses(const std::vector<std::string>& listen_hosts, const std::string& advertise);

}  // namespace rendezvous
