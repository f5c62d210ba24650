// Sockets bound to one chosen local port with SO_REUSEADDR + SO_REUSEPORT, so a listener and
// several outgoing connections can share it (the core of TCP hole punching on Linux).
#pragma once
#include <cstdint>

#include "common/net.hpp"

namespace nat {

/// A listener on 0.0.0.0:`port` (0 picks a free port) that other reuse sockets may share.
net::tcp::acceptor open_shared_listener(const asio::any_io_executor& ex, std::uint16_t port);
/// An unconnected socket bound to 0.0.0.0:`port`, ready for async_connect from that port.
net::tcp::socket open_shared_dialer(const asio::any_io_executor& ex, std::uint16_t port);

}  // namespace nat
