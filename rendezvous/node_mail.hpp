// Mail between the nodes of a cluster, as this node reads it (the directory carries it):
//   deliver  {to, message, sent_ms}  hand `message` to our peer `to` over its main connection;
//            answered with delivered {attempt, rtt_ms, sent_ms} or gone {attempt, id, reason}
//   delivered, declined {attempt, id, reason}, gone: about attempts this node coordinates
// Every field is checked; mail that does not parse is dropped with a rate-limited log line.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace rendezvous {

struct server_context;

/// Acts on one piece of mail from node `from`.
void handle_node_mail(server_context& context, const std::string& from, const nlohmann::json& mail);

}  // namespace rendezvous
