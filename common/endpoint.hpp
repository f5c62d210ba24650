// HOST:PORT parsing and printing.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/net.hpp"

namespace net {

/// A host (name or address) and a port, as typed by a user.
struct host_port {
  std::string host;
  std::uint16_t port = 0;
};

/// Parses "HOST:PORT" (also "[v6]:PORT"); returns nothing when malformed.
std::optional<host_port> parse_host_port(std::string_view text);
/// Parses a numeric "IP:PORT" into an endpoint; returns nothing when malformed or not numeric.
std::optional<tcp::endpoint> parse_endpoint(std::string_view text);
/// "IP:PORT" (IPv6 in brackets).
std::string to_string(const tcp::endpoint& endpoint);
/// An IPv4 client of a dual-stack socket ([::]) as the IPv4 endpoint it is (::ffff:a.b.c.d ->
/// a.b.c.d); any other endpoint as it is.
tcp::endpoint unmapped(const tcp::endpoint& endpoint);
asio::ip::address unmapped(const asio::ip::address& address);
/// "ipv4" or "ipv6" (a mapped IPv4 address is IPv4).
const char* family_name(const asio::ip::address& address);
/// "HOST:PORT" as a user would type it (an IPv6 address in brackets).
std::string to_string(const host_port& target);

}  // namespace net
