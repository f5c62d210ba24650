// Listening sockets: open, SO_REUSEADDR, bind and listen in one step, with the error returned.
#pragma once
#include <system_error>

#include "common/net.hpp"

namespace net {

/// Opens, binds (SO_REUSEADDR) and listens on `endpoint`; returns the error, if any (the
/// acceptor is left closed then). `share_port` adds SO_REUSEPORT, so processes of the same user
/// (nodes of a cluster on one address) listen on the port together and the kernel spreads its
/// connections over them.
std::error_code open_listener(tcp::acceptor& acceptor, const tcp::endpoint& endpoint, bool share_port = false);

}  // namespace net
