// The mapping test against any STUN server over TCP (RFC 5389/8489 Binding; RFC 5780
// OTHER-ADDRESS when offered), classified like our own probe. Filtering cannot be tested this
// way (CHANGE-REQUEST is UDP-only), and the verdict says so.
#pragma once
#include "common/endpoint.hpp"
#include "nat/nat_class.hpp"

namespace peer {

/// Runs the mapping test against `server`; throws std::runtime_error if it does not answer.
net::awaitable<nat::nat_verdict> probe_nat_stun(const net::host_port& server);

}  // namespace peer
