#include "rendezvous/node_mail.hpp"

#include <spdlog/spdlog.h>

#include "common/json_fields.hpp"
#include "rendezvous/client_session.hpp"
#include "rendezvous/server_context.hpp"

namespace rendezvous {
namespace {

/// What the coordinator told our peer, handed over; attempts are noted so its answers go back.
void deliver(server_context& context, const std::string& from, const nlohmann::json& mail) {
  const auto to = wire::string_field(mail, "to");
  const auto& message = mail.at("message");
  if (!message.is_object()) throw wire::field_error("\"message\" must be an object");
  const auto attempt = wire::string_field(message, "attempt", "");
  const auto type = wire::string_field(message, "type");
  const bool an_attempt = type == "attempt" || type == "resume";  // (a resume is a relay-only attempt)
  auto it = context.registry.find(to);
  if (it == context.registry.end()) {
    // Registered elsewhere meanwhile, or gone: the coordinator need not wait for its deadline.
    if (an_attempt) {
      context.directory->post(from, {{"kind", "gone"}, {"attempt", attempt}, {"id", to},
                                     {"reason", to + " is no longer online on node " + context.directory->node()}});
    }
    return;
  }
  it->second->send(message);
  if (!an_attempt) return;
  // Its answers (a decline) and its leaving must reach the coordinator for as long as the attempt may run.
  const auto lifetime = std::chrono::seconds(context.config.attempt_timeout_s) +
                        std::chrono::milliseconds(wire::int_field(message, "punch_timeout_ms", 0, 0, 600'000)) +
                        std::chrono::seconds(30);
  context.attempts.coordinated_elsewhere(attempt, from, it->second, std::chrono::duration_cast<std::chrono::seconds>(lifetime));
  context.directory->post(from, {{"kind", "delivered"},
                                 {"attempt", attempt},
                                 {"rtt_ms", it->second->rtt_ms()},
                                 {"sent_ms", wire::int_field(mail, "sent_ms", 0, 0, std::numeric_limits<long long>::max())}});
}

/// A client of our peer's port waits at node `from`'s relay: our peer is told to join it there.
void announce_proxy(server_context& context, const std::string& from, const nlohmann::json& mail) {
  const auto owner = wire::string_field(mail, "owner");
  auto it = context.registry.find(owner);
  auto why = it == context.registry.end() ? owner + " is no longer online on node " + context.directory->node()
                                          : context.exposes.announce_forwarded(mail, from, it->second);
  if (why.empty()) return;
  context.directory->post(from, {{"kind", "proxy_failed"}, {"token", wire::string_field(mail, "token")}, {"reason", why}});
}

}  // namespace

void handle_node_mail(server_context& context, const std::string& from, const nlohmann::json& mail) {
  try {
    const auto kind = wire::string_field(mail, "kind");
    if (kind == "deliver") {
      deliver(context, from, mail);
    } else if (kind == "delivered") {
      context.attempts.delivered(wire::string_field(mail, "attempt"), from,
                                 wire::int_field(mail, "rtt_ms", 0, 0, 3'600'000),
                                 wire::int_field(mail, "sent_ms", 0, 0, std::numeric_limits<long long>::max()));
    } else if (kind == "declined") {
      context.attempts.declined_elsewhere(wire::string_field(mail, "attempt"), from, wire::string_field(mail, "id"),
                                          wire::string_field(mail, "reason", "declined"));
    } else if (kind == "gone") {
      context.attempts.gone_elsewhere(wire::string_field(mail, "attempt"), from, wire::string_field(mail, "id"),
                                      wire::string_field(mail, "reason", "the peer went away"));
    } else if (kind == "exposed") {
      context.exposes.open_forwarded(static_cast<std::uint16_t>(wire::int_field(mail, "port", 0, 1, 65535)), from,
                                     wire::string_field(mail, "owner"));
    } else if (kind == "unexposed") {
      context.exposes.close_forwarded(static_cast<std::uint16_t>(wire::int_field(mail, "port", 0, 1, 65535)), from);
    } else if (kind == "proxy") {
      announce_proxy(context, from, mail);
    } else if (kind == "proxy_failed") {
      context.relay.cancel(wire::string_field(mail, "token"), wire::string_field(mail, "reason", "the exposing peer failed"));
    } else if (kind == "port_lost" && from == context.directory->node()) {
      context.exposes.lose(static_cast<std::uint16_t>(wire::int_field(mail, "port", 0, 1, 65535)),
                           wire::string_field(mail, "holder"));
    } else {
      context.log.log(spdlog::level::warn, "cluster: unknown mail", "cluster: ignoring mail of unknown kind from node " + from);
    }
  } catch (const std::exception& e) {
    context.log.log(spdlog::level::warn, "cluster: malformed mail",
                    "cluster: ignoring malformed mail from node " + from + ": " + e.what());
  }
}

}  // namespace rendezvous
