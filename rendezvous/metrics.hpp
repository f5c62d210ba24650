// What the server counts, in the Prometheus text exposition format (served by metrics_endpoint
// at /metrics): peers, registrations, connect attempts and their failures, relayed pairs and
// bytes, exposed clients, refusals by cause, pending handshakes and file descriptors. Names
// follow Prometheus conventions (holepunch_..._total for counters, base units); labels have few
// values (a cause, a code), never a peer ID.
#pragma once
#include <string>

#include "rendezvous/server_context.hpp"

namespace rendezvous {

std::string render_metrics(const server_context& context);

}  // namespace rendezvous
