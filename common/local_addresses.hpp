// This host's own addresses, and which of them the internet at large can reach: a server tells
// peers its public address per family, a peer offers its public IPv6 addresses as candidates.
#pragma once
#include <vector>

#include "common/net.hpp"

namespace net {

/// One address of this host.
struct local_address {
  asio::ip::address address;
  bool temporary = false;  ///< an IPv6 privacy address (RFC 8981), which changes and expires
};

/// Whether `address` can be reached from the internet at large (not loopback, link-local,
/// private, shared, unique-local or mapped; documentation ranges count as public, as in the NAT lab).
bool is_public(const asio::ip::address& address);

/// Every address on this host's interfaces (IPv6 flags from /proc/net/if_inet6).
std::vector<local_address> local_addresses();

/// The IPv6 addresses worth offering a peer as candidates: public ones only, and stable ones
/// before temporary ones (a temporary one only when no stable one exists).
std::vector<asio::ip::address> ipv6_candidates(const std::vector<local_address>& addresses);

/// This host's unique-local IPv6 addresses (fc00::/7): candidates only for a peer on the same
/// private network, which shares their prefix.
std::vector<asio::ip::address> unique_local_addresses(const std::vector<local_address>& addresses);

/// Whether `candidate` is a unique-local address in the same /48 (the prefix and global ID of
/// RFC 4193) as one of `addresses`: a private network both sides are on.
bool shares_unique_local_prefix(const asio::ip::address& candidate, const std::vector<local_address>& addresses);

}  // namespace net
