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
/// "HOST:PORT" as a user would type it (an IPv6 address in brackets).
std::string to_string(const host_port& target);

}  // namespace net
