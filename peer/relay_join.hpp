// Joining a relayed pair at the server's relay port (a relayed connect, or a client of an exposed
// port): connect, present our one-time token, wait for the other half.
#pragma once
#include <chrono>
#include <string>

#include "common/net.hpp"

namespace peer {

/// Connects `socket` to `relay` and presents `token`; waits up to `partner_wait` for the server's
/// relay_ok. Returns "" once joined (the next bytes come from the other side), else why not.
net::awaitable<std::string> join_relay(net::tcp::socket& socket, const net::tcp::endpoint& relay, const std::string& token,
                                       std::chrono::milliseconds partner_wait);

}  // namespace peer
