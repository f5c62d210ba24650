// Outgoing connections with a deadline, to an endpoint or to a HOST:PORT that needs resolving.
#pragma once
#include <chrono>
#include <system_error>

#include "common/endpoint.hpp"
#include "common/net.hpp"

namespace net {

/// Connects `socket` (open or not) to `endpoint`; a timeout comes back as errc::timed_out.
awaitable<std::error_code> connect_within(tcp::socket& socket, const tcp::endpoint& endpoint,
                                          std::chrono::milliseconds limit);
/// Resolves `target` and tries each address in turn until one connects or the time is up.
awaitable<std::error_code> connect_within(tcp::socket& socket, const host_port& target, std::chrono::milliseconds limit);

}  // namespace net
