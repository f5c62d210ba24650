// Sockets bound to one chosen local port with SO_REUSEADDR + SO_REUSEPORT, so a listener and
// several outgoing connections can share it (the core of TCP hole punching on Linux). One set per
// address family: an IPv6 one is IPV6_V6ONLY, so the IPv4 and IPv6 sockets of a punch may use the
// same port number side by side.
#pragma once
#include <cstdint>

#include "common/net.hpp"

namespace nat {

/// A listener on the family's wildcard address and `port` (0 picks a free port) that other reuse
/// sockets of that family may share.
net::tcp::acceptor open_shared_listener(const asio::any_io_executor& ex, std::uint16_t port,
                                        net::tcp family = net::tcp::v4());
/// An unconnected socket bound to the family's wildcard address and `port`, ready for
/// async_connect from that port.
net::tcp::socket open_shared_dialer(const asio::any_io_executor& ex, std::uint16_t port, net::tcp family = net::tcp::v4());

}  // namespace nat
