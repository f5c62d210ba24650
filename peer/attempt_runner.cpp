#include "peer/attempt_runner.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "common/connect.hpp"
#include "common/endpoint.hpp"
#include "common/frame_reader.hpp"
#include "common/json_fields.hpp"
#include "nat/reuse_socket.hpp"
#include "peer/exit_codes.hpp"
#include "peer/relay_join.hpp"

namespace peer {

using namespace asio::experimental::awaitable_operators;

namespace {

/// How long the hole-assist exchange and the wait for the other side may take.
constexpr auto hole_assist_timeout = std::chrono::seconds(10);
constexpr auto partner_timeout = std::chrono::seconds(20);
/// How long to wait at the relay for the other side beyond its punch time (it may still be
/// punching), and for the attempt check once joined.
constexpr auto relay_partner_slack = std::chrono::seconds(25);
constexpr auto relay_handshake_timeout = std::chrono::seconds(10);
/// The responder punches a little longer, so a select sent at the initiator's deadline still lands.
constexpr auto responder_grace = std::chrono::seconds(1);

/// Connects from the shared port to the hole-assist port and reports; returns our mapped endpoint.
net::awaitable<std::string> report_to_hole_assist(net::tcp::socket& socket, const net::tcp::endpoint& hole,
                                                  const attempt_info& attempt) {
  if (auto ec = co_await net::connect_within(socket, hole, hole_assist_timeout)) {
    throw std::runtime_error("cannot reach the hole-assist port " + net::to_string(hole) + ": " + ec.message());
  }
  asio::steady_timer timer(socket.get_executor(), hole_assist_timeout);

  nlohmann::json report{{"type", "hole"},
                        {"attempt", attempt.secret.attempt_id},
                        {"role", nat::to_string(attempt.mine)},
                        {"proof", nat::hole_proof(attempt.secret, attempt.mine)},
                        {"private", {net::to_string(socket.local_endpoint())}}};
  if (auto write_error = co_await wire::write_frame(socket, report)) {
    throw std::runtime_error("hole-assist report failed: " + write_error.message());
  }
  wire::frame_reader reader;
  auto reply = co_await (reader.read(socket) || timer.async_wait(net::use_nothrow));
  if (reply.index() == 1) throw std::runtime_error("hole-assist port did not answer");
  auto& read = std::get<0>(reply);
  if (!read.message || read.message->value("type", "") != "observed") {
    throw std::runtime_error("hole-assist refused us: " +
                             (read.message ? read.message->value("message", "?") : std::string("connection closed")));
  }
  co_return read.message->value("endpoint", "");
}

/// Waits for the server's "punch" for this attempt; other attempts meanwhile are declined.
net::awaitable<nlohmann::json> await_punch(server_link& link, const attempt_info& attempt) {
  const auto deadline = net::clock::now() + partner_timeout;
  for (;;) {
    auto event = co_await link.next_event(deadline);
    if (!event) {
      if (!link.is_open()) throw command_error(exit_server, "lost the server (" + link.close_reason() + ")");
      throw std::runtime_error(attempt.peer + " did not join the attempt in time");
    }
    const auto type = event->value("type", "");
    const bool ours = event->value("attempt", "") == attempt.secret.attempt_id;
    if (type == "punch" && ours) co_return *event;
    if (type == "attempt_failed" && ours) {
      const auto reason = event->value("reason", "?");
      if (event->value("code", "") == "peer_busy") throw command_error(exit_peer_unknown, reason);
      throw std::runtime_error("the server gave up: " + reason);
    }
    if (type == "attempt") decline_attempt(link, *event, "busy with another connection");
  }
}

/// The other side's candidates. Addresses a remote peer has no business making us dial are
/// dropped: loopback (unless the server itself is on loopback, as in a local test), unspecified,
/// multicast. The attempt handshake refuses a wrong host anyway, but we should not even knock.
std::vector<net::tcp::endpoint> parse_candidates(const nlohmann::json& punch, const asio::ip::address& server) {
  std::vector<net::tcp::endpoint> candidates;
  for (const auto& entry : punch.value("candidates", nlohmann::json::array())) {
    if (!entry.is_string()) continue;
    auto endpoint = net::parse_endpoint(entry.get<std::string>());
    if (!endpoint || endpoint->port() == 0) continue;
    const auto address = endpoint->address();
    if (address.is_unspecified() || address.is_multicast() || (address.is_loopback() && !server.is_loopback())) {
      spdlog::warn("punch: ignoring candidate {} offered for the other side", net::to_string(*endpoint));
      continue;
    }
    candidates.push_back(*endpoint);
  }
  return candidates;
}

}  // namespace

attempt_info parse_attempt(const nlohmann::json& message) {
  try {
    attempt_info info;
    info.secret.attempt_id = message.at("attempt").get<std::string>();
    info.secret.token = message.at("token").get<std::string>();
    info.mine = nat::parse_role(message.at("role").get<std::string>()).value();
    info.peer = message.value("peer", "?");
    info.hole_port = static_cast<std::uint16_t>(wire::int_field(message, "hole_port", 0, 1, 65535));
    info.path = message.value("path", "auto");
    info.reason = message.value("reason", "");
    info.relay_port = static_cast<std::uint16_t>(wire::int_field(message, "relay_port", 0, 0, 65535));
    info.relay_token = message.value("relay_token", "");
    info.punch_timeout = std::chrono::milliseconds(wire::int_field(message, "punch_timeout_ms", 0, 0, 600'000));
    if (message.contains("server_host")) {
      info.coordinator = asio::ip::make_address(message["server_host"].get<std::string>());
      if (info.coordinator->is_unspecified() || info.coordinator->is_multicast()) throw std::runtime_error("bad server host");
    }
    if (message.contains("peer_key")) {
      info.peer_key = identity::public_key_from_hex(message["peer_key"].get<std::string>());
      if (!info.peer_key) throw std::runtime_error("bad peer key");
    }
    return info;
  } catch (const std::exception&) {
    throw command_error(exit_failure, "the server sent a malformed attempt");
  }
}

void decline_attempt(server_link& link, const nlohmann::json& attempt_message, const std::string& reason) {
  spdlog::info("declining a connection from {}: {}", attempt_message.value("peer", "?"), reason);
  link.send({{"type", "decline"}, {"attempt", attempt_message.value("attempt", "")}, {"reason", reason}});
}

namespace {

/// Punches a direct path; returns the connection or sets `failure`.
net::awaitable<std::optional<nat::punch_success>> punch_directly(server_link& link, const attempt_info& attempt,
                                                                 std::chrono::milliseconds punch_timeout,
                                                                 std::string& failure) {
  auto ex = co_await asio::this_coro::executor;
  // One local port for everything: listener, hole-assist report and every outgoing SYN.
  auto listener = nat::open_shared_listener(ex, 0);
  const auto port = listener.local_endpoint().port();
  auto hole_socket = nat::open_shared_dialer(ex, port);
  const net::tcp::endpoint hole(attempt.ports_host(link), attempt.hole_port);
  const auto observed = co_await report_to_hole_assist(hole_socket, hole, attempt);
  spdlog::info("attempt {}: local port {} maps to {}", attempt.secret.attempt_id, port, observed);

  const auto punch = co_await await_punch(link, attempt);
  // The server's number, read as an integer in range whatever it sent; beyond 2 s is clipped.
  const auto delay = std::chrono::milliseconds(std::clamp(wire::to_integer(punch.value("delay_ms", nlohmann::json(0))).value_or(0), 0LL, 2000LL));
  asio::steady_timer timer(ex, delay);
  co_await timer.async_wait(net::use_nothrow);

  nat::punch_request request;
  request.secret = attempt.secret;
  request.mine = attempt.mine;
  request.candidates = parse_candidates(punch, attempt.ports_host(link));
  request.deadline = net::clock::now() + punch_timeout;
  if (attempt.mine == nat::role::responder) request.deadline += responder_grace;
  std::string listed;
  for (const auto& c : request.candidates) listed += " " + net::to_string(c);
  spdlog::info("attempt {}: punching to{} for {} ms", attempt.secret.attempt_id, listed, punch_timeout.count());
  auto outcome = co_await nat::punch(listener, std::move(request));
  if (!outcome.winner) {
    failure = "no direct path to " + attempt.peer + " within " + std::to_string(punch_timeout.count()) + " ms (" +
              outcome.summary + ")";
  }
  co_return std::move(outcome.winner);
}

/// Joins the other side through the server's relay port, then proves the attempt over it.
net::awaitable<nat::punch_success> connect_via_relay(server_link& link, const attempt_info& attempt,
                                                     std::chrono::milliseconds punch_timeout) {
  auto ex = co_await asio::this_coro::executor;
  if (attempt.relay_port == 0 || attempt.relay_token.empty()) throw std::runtime_error("the server offered no relay");
  const net::tcp::endpoint relay(attempt.ports_host(link), attempt.relay_port);
  net::tcp::socket socket(ex);
  if (auto why = co_await join_relay(socket, relay, attempt.relay_token, punch_timeout + relay_partner_slack); !why.empty()) {
    throw std::runtime_error(why);
  }
  socket.set_option(net::tcp::no_delay(true));
  std::string why;
  asio::steady_timer timer(ex, relay_handshake_timeout);
  auto checked = co_await (nat::handshake_single(socket, attempt.secret, attempt.mine, why) || timer.async_wait(net::use_nothrow));
  if (checked.index() == 1) throw std::runtime_error("the relayed connection went silent during the attempt check");
  auto& leftover = std::get<0>(checked);
  if (!leftover) throw std::runtime_error("relayed connection failed the attempt check: " + why);
  co_return nat::punch_success{std::move(socket), std::move(*leftover), relay};
}

}  // namespace

net::awaitable<attempt_result> run_attempt(server_link& link, const attempt_info& attempt,
                                           std::chrono::milliseconds punch_timeout) {
  if (attempt.punch_timeout.count() > 0) punch_timeout = attempt.punch_timeout;
  attempt_result result;
  if (attempt.path != "relay") {
    try {
      result.connection = co_await punch_directly(link, attempt, punch_timeout, result.failure);
    } catch (const command_error& e) {
      // Declined or the server is gone: the relay cannot help either.
      result.failure = e.what();
      result.exit_code = e.code();
      co_return result;
    } catch (const std::exception& e) {
      result.failure = std::string("punching failed: ") + e.what();
    }
    if (result.connection) {
      result.path = "direct";
      co_return result;
    }
    if (attempt.path == "direct") co_return result;
    spdlog::info("attempt {}: {}; trying the relay", attempt.secret.attempt_id, result.failure);
    result.why_relay = result.failure;
  } else {
    result.why_relay = attempt.reason.empty() ? "relay requested" : attempt.reason;
  }
  try {
    result.connection = co_await connect_via_relay(link, attempt, punch_timeout);
    result.path = "relay";
    result.failure.clear();
  } catch (const std::exception& e) {
    result.failure = (result.failure.empty() ? "" : result.failure + "; then ") + e.what();
  }
  co_return result;
}

}  // namespace peer
