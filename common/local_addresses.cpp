#include "common/local_addresses.hpp"

#include <ifaddrs.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace net {
namespace {

bool in(const asio::ip::address_v4& address, const char* network, int bits) {
  const auto base = asio::ip::make_address_v4(network).to_uint();
  const auto mask = bits == 0 ? 0u : ~0u << (32 - bits);
  return (address.to_uint() & mask) == (base & mask);
}

/// IPv6 address (32 hex digits, as /proc/net/if_inet6 prints it) -> its flags.
std::vector<std::pair<std::string, unsigned>> ipv6_flags() {
  std::vector<std::pair<std::string, unsigned>> out;
  std::ifstream in("/proc/net/if_inet6");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string hex, index, prefix, scope, flags;
    if (fields >> hex >> index >> prefix >> scope >> flags) out.emplace_back(hex, std::stoul(flags, nullptr, 16));
  }
  return out;
}

std::string hex_of(const asio::ip::address_v6& address) {
  static const char* digits = "0123456789abcdef";
  std::string text;
  for (const auto byte : address.to_bytes()) {
    text += digits[byte >> 4];
    text += digits[byte & 15];
  }
  return text;
}

bool is_unique_local(const asio::ip::address& address) {
  return address.is_v6() && (address.to_v6().to_bytes()[0] & 0xfe) == 0xfc;  // fc00::/7
}

constexpr unsigned ifa_f_temporary = 0x01;  // IFA_F_TEMPORARY (IFA_F_SECONDARY)

}  // namespace

bool is_public(const asio::ip::address& address) {
  if (address.is_unspecified() || address.is_loopback() || address.is_multicast()) return false;
  if (address.is_v4()) {
    const auto v4 = address.to_v4();
    return !in(v4, "10.0.0.0", 8) && !in(v4, "172.16.0.0", 12) && !in(v4, "192.168.0.0", 16) &&
           !in(v4, "100.64.0.0", 10) && !in(v4, "169.254.0.0", 16) && !in(v4, "0.0.0.0", 8);
  }
  const auto v6 = address.to_v6();
  if (v6.is_link_local() || v6.is_site_local() || v6.is_v4_mapped()) return false;
  return !is_unique_local(address);
}

std::vector<local_address> local_addresses() {
  std::vector<local_address> found;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return found;
  const auto flags = ipv6_flags();
  for (auto* entry = list; entry; entry = entry->ifa_next) {
    if (!entry->ifa_addr) continue;
    local_address local;
    if (entry->ifa_addr->sa_family == AF_INET) {
      const auto* in4 = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
      local.address = asio::ip::address_v4(ntohl(in4->sin_addr.s_addr));
    } else if (entry->ifa_addr->sa_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(entry->ifa_addr);
      asio::ip::address_v6::bytes_type bytes;
      std::copy(std::begin(in6->sin6_addr.s6_addr), std::end(in6->sin6_addr.s6_addr), bytes.begin());
      const asio::ip::address_v6 v6(bytes);
      local.address = v6;
      const auto hex = hex_of(v6);
      for (const auto& [address, bits] : flags) {
        if (address == hex) local.temporary = (bits & ifa_f_temporary) != 0;
      }
    } else {
      continue;
    }
    found.push_back(local);
  }
  ::freeifaddrs(list);
  return found;
}

std::vector<asio::ip::address> ipv6_candidates(const std::vector<local_address>& addresses) {
  std::vector<asio::ip::address> stable, temporary;
  for (const auto& local : addresses) {
    if (!local.address.is_v6() || !is_public(local.address)) continue;
    auto& into = local.temporary ? temporary : stable;
    if (std::find(into.begin(), into.end(), local.address) == into.end()) into.push_back(local.address);
  }
  return stable.empty() ? temporary : stable;
}

std::vector<asio::ip::address> unique_local_addresses(const std::vector<local_address>& addresses) {
  std::vector<asio::ip::address> found;
  for (const auto& local : addresses) {
    if (is_unique_local(local.address) && std::find(found.begin(), found.end(), local.address) == found.end()) {
      found.push_back(local.address);
    }
  }
  return found;
}

bool shares_unique_local_prefix(const asio::ip::address& candidate, const std::vector<local_address>& addresses) {
  if (!is_unique_local(candidate)) return false;
  const auto theirs = candidate.to_v6().to_bytes();
  return std::any_of(addresses.begin(), addresses.end(), [&](const local_address& local) {
    if (!is_unique_local(local.address)) return false;
    const auto ours = local.address.to_v6().to_bytes();
    return std::equal(ours.begin(), ours.begin() + 6, theirs.begin());  // the /48: fd + global ID
  });
}

}  // namespace net
