#include "rendezvous/hole_assist.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/endpoint.hpp"
#include "common/frame_reader.hpp"
#include "common/json_fields.hpp"
#include "nat/punch_handshake.hpp"
#include "rendezvous/server_context.hpp"

namespace rendezvous {

using namespace asio::experimental::awaitable_operators;

namespace {

/// A peer lists at most this many private endpoints.
constexpr std::size_t max_private_endpoints = 8;
const nlohmann::json empty_list = nlohmann::json::array();

/// Validates a hole report; returns the role index (0 initiator, 1 responder) or -1 with `why`.
int check_report(server_context& context, const nlohmann::json& message, std::string& why) {
  if (wire::string_field(message, "type") != "hole") {
    why = "expected a hole report";
    return -1;
  }
  const auto attempt_id = wire::string_field(message, "attempt");
  const auto role = nat::parse_role(wire::string_field(message, "role"));
  if (!role) {
    why = "unknown role";
    return -1;
  }
  auto token = context.attempts.token(attempt_id);
  if (!token) {
    why = "unknown or expired attempt";
    return -1;
  }
  if (!crypto::proofs_equal(wire::string_field(message, "proof"), nat::hole_proof({attempt_id, *token}, *role))) {
    why = "wrong attempt proof";
    return -1;
  }
  return *role == nat::role::initiator ? 0 : 1;
}

}  // namespace

net::awaitable<void> serve_hole_assist(server_context& context, net::tcp::socket socket, admission_ticket ticket) {
  net::socket_registry::entry registration(context.short_lived, socket);
  ticket.on_evict([&socket](const std::string& why) { refuse_now(socket, "evicted", why); });
  std::error_code ec;
  const auto remote = net::unmapped(socket.remote_endpoint(ec));
  if (ec) co_return;
  const auto who = net::to_string(remote);
  asio::steady_timer timer(socket.get_executor());
  timer.expires_after(ticket.handshake_time());
  wire::frame_reader reader;
  auto result = co_await (reader.read(socket) || timer.async_wait(net::use_nothrow));
  if (result.index() == 1) {
    context.log.log(spdlog::level::warn, "hole-assist: silent connections",
                    fmt::format("hole-assist {}: closed: no report within {:g} s", who, ticket.handshake_time().count() / 1000.0));
    co_return;
  }
  auto& read = std::get<0>(result);
  if (!read.message) {
    if (!read.protocol_error.empty()) {
      ++context.stats.protocol_errors;
      context.log.log(spdlog::level::warn, "hole-assist: malformed frames",
                      "hole-assist " + who + ": malformed frame: " + read.protocol_error);
      refuse_now(socket, "malformed_frame", read.protocol_error);
    }
    co_return;
  }

  std::string why;
  int side = -1;
  hole_report report{remote, {}};
  try {
    side = check_report(context, *read.message, why);
    // A dual-stack peer reports over each family it has, and says how many reports to wait for.
    report.of = static_cast<int>(wire::int_field(*read.message, "reports", 1, 1, 2));
    // Read in place: a client's value is never copied, whatever its size.
    const auto listed = read.message->find("private");
    const auto& entries = listed != read.message->end() && listed->is_array() ? *listed : empty_list;
    for (const auto& entry : entries) {
      if (report.private_endpoints.size() >= max_private_endpoints) break;
      if (auto endpoint = entry.is_string() ? net::parse_endpoint(entry.get<std::string>()) : std::nullopt) {
        report.private_endpoints.push_back(*endpoint);
      }
    }
  } catch (const std::exception&) {  // a field of the wrong type
    side = -1;
    why = "malformed report fields";
  }
  if (side < 0) {
    ++context.stats.protocol_errors;
    context.log.log(spdlog::level::warn, "hole-assist: refused reports", "hole-assist " + who + ": refused: " + why);
    const nlohmann::json refusal{{"type", "error"}, {"code", "bad_hole_report"}, {"message", why}};
    co_await wire::write_frame(socket, refusal);
    co_return;
  }
  ticket.handshake_done();
  const auto attempt_id = read.message->value("attempt", "");
  const nlohmann::json observed{{"type", "observed"}, {"endpoint", who}};
  co_await wire::write_frame(socket, observed);
  context.attempts.report(attempt_id, side, std::move(report));

  // Hold the connection (and so the peer's NAT mapping) until the peer closes it.
  timer.expires_after(std::chrono::seconds(context.config.attempt_timeout_s + 30));
  std::array<char, 64> sink;
  co_await (socket.async_read_some(asio::buffer(sink), net::use_nothrow) || timer.async_wait(net::use_nothrow));
}

}  // namespace rendezvous
