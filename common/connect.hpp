// Outgoing connections with a deadline, to an endpoint or to a HOST:PORT that needs resolving.
#pragma once
#include <chrono>
#include <system_error>
#include <vector>

#include "common/endpoint.hpp"
#include "common/net.hpp"

namespace net {

/// Connects `socket` (open or not) to `endpoint`; a timeout comes back as errc::timed_out.
awaitable<std::error_code> connect_within(tcp::socket& socket, const tcp::endpoint& endpoint,
                                          std::chrono::milliseconds limit);
/// How to try the addresses a name resolves to.
enum class address_order {
  resolver,  ///< as the resolver sorts them (RFC 6724), each with what time is left
  spread,    ///< in random order, each with an equal share of the time: clients of a name with
             ///< one address per server spread over the servers, and a dead one costs a share
};
/// Resolves `target` and tries each address in turn until one connects or the time is up.
awaitable<std::error_code> connect_within(tcp::socket& socket, const host_port& target, std::chrono::milliseconds limit,
                                          address_order order = address_order::resolver);
/// Tries `endpoints` in turn, as connect_within(host_port) does once resolved.
awaitable<std::error_code> connect_any_within(tcp::socket& socket, std::vector<tcp::endpoint> endpoints,
                                              std::chrono::milliseconds limit, address_order order);

}  // namespace net
