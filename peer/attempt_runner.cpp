#include "peer/attempt_runner.hpp"

#include <functional>

#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "common/connect.hpp"
#include "common/endpoint.hpp"
#include "common/frame_reader.hpp"
#include "common/json_fields.hpp"
#include "common/local_addresses.hpp"
#include "common/spawn.hpp"
#include "nat/reuse_socket.hpp"
#include "peer/exit_codes.hpp"
#include "peer/relay_join.hpp"

namespace peer {

using namespace asio::experimental::awaitable_operators;

namespace {

/// How long the hole-assist exchange and the wait for the other side may take.
constexpr auto hole_assist_timeout = std::chrono::seconds(10);
/// How long the hole-assist port of the other family (IPv6 beside IPv4) may take to answer.
constexpr auto second_family_timeout = std::chrono::seconds(2);
/// Endpoints we list in a hole-assist report (the server takes at most 8).
constexpr std::size_t max_reported_endpoints = 6;
constexpr auto partner_timeout = std::chrono::seconds(20);
/// How long to wait at the relay for the other side beyond its punch time (it may still be
/// punching), and for the attempt check once joined.
constexpr auto relay_partner_slack = std::chrono::seconds(25);
constexpr auto relay_handshake_timeout = std::chrono::seconds(10);
/// The responder punches a little longer, so a select sent at the initiator's deadline still lands.
constexpr auto responder_grace = std::chrono::seconds(1);

/// Reports over a connection from the shared port to the hole-assist port (one of `reports`
/// this side sends, one per family); returns our mapped endpoint.
net::awaitable<std::string> report_to_hole_assist(net::tcp::socket& socket, const attempt_info& attempt, int reports) {
  asio::steady_timer timer(socket.get_executor(), hole_assist_timeout);
  std::error_code ec;
  nlohmann::json privates = nlohmann::json::array({net::to_string(net::unmapped(socket.local_endpoint(ec)))});
  const auto local = socket.local_endpoint(ec).address();
  if (local.is_v6() && !local.is_loopback()) {
    // Our other public IPv6 addresses (stable ones, not privacy ones), then our unique-local ones
    // (which the other side dials only if it is on the same private network), on the same port.
    // (Not beside a server on loopback: everything is on this host then, and stays on loopback.)
    const auto locals = net::local_addresses();
    auto addresses = net::ipv6_candidates(locals);
    for (const auto& address : net::unique_local_addresses(locals)) addresses.push_back(address);
    for (const auto& address : addresses) {
      const auto candidate = net::to_string(net::tcp::endpoint(address, socket.local_endpoint(ec).port()));
      if (privates.size() < max_reported_endpoints && candidate != privates.front().get<std::string>()) privates.push_back(candidate);
    }
  }
  nlohmann::json report{{"type", "hole"},
                        {"attempt", attempt.secret.attempt_id},
                        {"role", nat::to_string(attempt.mine)},
                        {"proof", nat::hole_proof(attempt.secret, attempt.mine)},
                        {"private", privates},
                        {"reports", reports}};
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

/// The server's "punch" for the attempt from its watch; an attempt_failed is noted in `upgrade`
/// (the relay join beside the punch waits for a partner that will not come).
net::awaitable<nlohmann::json> await_watched_punch(std::shared_ptr<server_link::attempt_watch> watch, attempt_info attempt,
                                                   std::shared_ptr<direct_upgrade> upgrade) {
  const auto deadline = net::clock::now() + partner_timeout;
  for (;;) {
    auto event = co_await watch->next(deadline);
    if (!event) throw std::runtime_error("no punch instructions for " + attempt.peer + " (the server link closed or the other side never reported)");
    const auto type = event->value("type", "");
    if (type == "punch") co_return *event;
    if (type == "attempt_failed") {
      upgrade->gave_up_code = event->value("code", "failed");
      upgrade->failure = "the server gave up: " + event->value("reason", "?");
      upgrade->settled.notify_all();
      throw std::runtime_error(upgrade->failure);
    }
  }
}

/// The other side's candidates. Addresses a remote peer has no business making us dial are
/// dropped: loopback (unless the server itself is on loopback, as in a local test), unspecified,
/// multicast; private IPv6 addresses (link-local, and unique-local ones outside our own /48s). The attempt handshake refuses a wrong host anyway, but we should not even knock.
std::vector<net::tcp::endpoint> parse_candidates(const nlohmann::json& punch, const asio::ip::address& server) {
  std::vector<net::tcp::endpoint> candidates;
  const auto locals = net::local_addresses();
  for (const auto& entry : punch.value("candidates", nlohmann::json::array())) {
    if (!entry.is_string()) continue;
    auto endpoint = net::parse_endpoint(entry.get<std::string>());
    if (!endpoint || endpoint->port() == 0) continue;
    const auto address = endpoint->address();
    if (address.is_unspecified() || address.is_multicast() || (address.is_loopback() && !server.is_loopback())) {
      spdlog::warn("punch: ignoring candidate {} offered for the other side", net::to_string(*endpoint));
      continue;
    }
    if (address.is_v6() && !net::is_public(address) && !address.is_loopback() &&
        !net::shares_unique_local_prefix(address, locals)) {
      spdlog::debug("punch: skipping {}: a private IPv6 address of a network we are not on", net::to_string(*endpoint));
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
    info.report_outcome = message.value("report", false);
    info.punch_timeout = std::chrono::milliseconds(wire::int_field(message, "punch_timeout_ms", 0, 0, 600'000));
    if (const auto hosts = message.find("hole_hosts"); hosts != message.end() && hosts->is_array()) {
      for (const auto& host : *hosts) {
        std::error_code ec;
        const auto address = host.is_string() ? asio::ip::make_address(host.get<std::string>(), ec) : asio::ip::address();
        if (host.is_string() && !ec && !address.is_unspecified() && !address.is_multicast()) info.hole_hosts.push_back(address);
      }
    }
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

void report_outcome(const server_link::detached_sender& server, const attempt_info& attempt, const std::string& path) {
  if (!attempt.report_outcome || attempt.mine != nat::role::initiator) return;
  if (path.empty()) {
    server({{"type", "connect_failed"}, {"attempt", attempt.secret.attempt_id}});
  } else {
    server({{"type", "connected"}, {"attempt", attempt.secret.attempt_id}, {"path", path}});
  }
}

void decline_attempt(server_link& link, const nlohmann::json& attempt_message, const std::string& reason) {
  spdlog::info("declining a connection from {}: {}", attempt_message.value("peer", "?"), reason);
  link.send({{"type", "decline"}, {"attempt", attempt_message.value("attempt", "")}, {"reason", reason}});
}

namespace {

/// One address family's shared port: the listener, and the connection that reports it to the
/// hole-assist port.
struct family_port {
  net::tcp::acceptor listener;
  net::tcp::socket hole;
  net::tcp::endpoint hole_endpoint;
  std::error_code connect_error;
};

/// Where to report: the hole-assist port at the address we reach the server by, and at the
/// server's public address of the other family, if it told us one (a dual-stack peer then punches
/// over both families).
std::vector<net::tcp::endpoint> hole_endpoints(const asio::ip::address& server, const attempt_info& attempt) {
  std::vector<net::tcp::endpoint> targets{{net::unmapped(attempt.ports_host(server)), attempt.hole_port}};
  for (const auto& host : attempt.hole_hosts) {
    if (host.is_v4() != targets.front().address().is_v4()) {
      targets.emplace_back(host, attempt.hole_port);
      break;
    }
  }
  return targets;
}

/// Opens a shared port per family (the same number where it is free in both) and connects each to
/// its hole-assist endpoint, all at once; a second family gets a short time (it must not delay
/// the first, RFC 8305's spirit).
net::awaitable<std::vector<family_port>> open_family_ports(const asio::any_io_executor& ex,
                                                            const std::vector<net::tcp::endpoint>& targets) {
  std::vector<family_port> ports;
  std::uint16_t port = 0;
  for (const auto& target : targets) {
    try {
      auto listener = [&] {
        try {
          return nat::open_shared_listener(ex, port, target.protocol());
        } catch (const std::system_error&) {
          if (port == 0) throw;
          return nat::open_shared_listener(ex, 0, target.protocol());  // our number is taken in this family
        }
      }();
      const auto bound = listener.local_endpoint().port();
      if (port == 0) port = bound;
      auto hole = nat::open_shared_dialer(ex, bound, target.protocol());
      ports.push_back(family_port{std::move(listener), std::move(hole), target, {}});
    } catch (const std::system_error& e) {
      if (ports.empty() && &target == &targets.back()) throw;
      spdlog::debug("no {} socket for punching: {}", net::family_name(target.address()), e.what());
    }
  }
  if (ports.size() == 1) {
    ports[0].connect_error = co_await net::connect_within(ports[0].hole, ports[0].hole_endpoint, hole_assist_timeout);
  } else if (ports.size() == 2) {
    auto [first, second] = co_await (net::connect_within(ports[0].hole, ports[0].hole_endpoint, hole_assist_timeout) &&
                                     net::connect_within(ports[1].hole, ports[1].hole_endpoint, second_family_timeout));
    ports[0].connect_error = first;
    ports[1].connect_error = second;
  }
  co_return ports;
}

/// Where the server's "punch" for an attempt comes from: the link's events (declining other
/// attempts meanwhile), or the attempt's own watch (a punch beside a relayed session).
using punch_instructions = std::function<net::awaitable<nlohmann::json>()>;

/// Punches a direct path; returns the connection or sets `failure`. `server` is the address of
/// the server we are connected to.
net::awaitable<std::optional<nat::punch_success>> punch_directly(asio::ip::address server, punch_instructions instructions,
                                                                 attempt_info attempt, std::chrono::milliseconds punch_timeout,
                                                                 std::string& failure) {
  auto ex = co_await asio::this_coro::executor;
  // One local port per family for everything: listener, hole-assist report and every outgoing SYN.
  const auto targets = hole_endpoints(server, attempt);  // (a named local: GCC 12 and coroutine temporaries)
  auto ports = co_await open_family_ports(ex, targets);
  std::string unreachable;
  std::erase_if(ports, [&](const family_port& p) {
    if (!p.connect_error) return false;
    unreachable += (unreachable.empty() ? "" : "; ") + net::to_string(p.hole_endpoint) + ": " + p.connect_error.message();
    return true;
  });
  if (ports.empty()) throw std::runtime_error("cannot reach the hole-assist port " + unreachable);
  if (!unreachable.empty()) spdlog::info("attempt {}: punching without {}", attempt.secret.attempt_id, unreachable);
  std::vector<net::tcp::acceptor*> listeners;
  for (auto& p : ports) {
    const auto observed = co_await report_to_hole_assist(p.hole, attempt, static_cast<int>(ports.size()));
    spdlog::info("attempt {}: local port {} maps to {}", attempt.secret.attempt_id, p.listener.local_endpoint().port(), observed);
    listeners.push_back(&p.listener);
  }

  const auto punch = co_await instructions();
  // The server's number, read as an integer in range whatever it sent; beyond 2 s is clipped.
  const auto delay = std::chrono::milliseconds(std::clamp(wire::to_integer(punch.value("delay_ms", nlohmann::json(0))).value_or(0), 0LL, 2000LL));
  asio::steady_timer timer(ex, delay);
  co_await timer.async_wait(net::use_nothrow);

  nat::punch_request request;
  request.secret = attempt.secret;
  request.mine = attempt.mine;
  request.candidates = parse_candidates(punch, attempt.ports_host(server));
  request.deadline = net::clock::now() + punch_timeout;
  if (attempt.mine == nat::role::responder) request.deadline += responder_grace;
  std::string listed;
  for (const auto& c : request.candidates) listed += " " + net::to_string(c);
  spdlog::info("attempt {}: punching to{} for {} ms", attempt.secret.attempt_id, listed, punch_timeout.count());
  auto outcome = co_await nat::punch(listeners, std::move(request));
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

namespace {

/// The punch of a relay-first attempt, to its end; the outcome goes into `upgrade`.
net::awaitable<void> punch_beside_relay(asio::ip::address server, std::shared_ptr<server_link::attempt_watch> watch,
                                        attempt_info attempt, std::chrono::milliseconds punch_timeout,
                                        std::shared_ptr<direct_upgrade> upgrade) {
  try {
    punch_instructions instructions = [watch, attempt, upgrade] { return await_watched_punch(watch, attempt, upgrade); };
    upgrade->connection = co_await punch_directly(server, std::move(instructions), attempt, punch_timeout, upgrade->failure);
  } catch (const std::exception& e) {
    if (upgrade->gave_up_code.empty()) upgrade->failure = std::string("punching failed: ") + e.what();
  }
  if (upgrade->connection) {
    spdlog::info("attempt {}: punched a direct path to {} beside the relay in {} ms", attempt.secret.attempt_id, attempt.peer,
                 net::ms_since(upgrade->started));
  } else {
    spdlog::info("attempt {}: staying on the relay: {}", attempt.secret.attempt_id, upgrade->failure);
  }
  upgrade->done = true;
  upgrade->settled.notify_all();
}

/// Returns once the server has ended the attempt (the other side declined or went away).
net::awaitable<void> until_the_server_gives_up(std::shared_ptr<direct_upgrade> upgrade) {
  while (upgrade->gave_up_code.empty()) co_await upgrade->settled.wait();
}

/// Relay first: the relay at once, the punch beside it.
net::awaitable<attempt_result> relay_first(server_link& link, const attempt_info& attempt, std::chrono::milliseconds punch_timeout) {
  auto ex = co_await asio::this_coro::executor;
  auto upgrade = std::make_shared<direct_upgrade>(ex, link.sender());
  upgrade->relay_token = attempt.relay_token;
  auto watch = link.watch_attempt(attempt.secret.attempt_id);  // before anything could answer
  const auto server = link.server_endpoint().address();
  asio::co_spawn(ex, punch_beside_relay(server, watch, attempt, punch_timeout, upgrade),
                 net::log_escaped("punch beside the relay"));
  attempt_result result;
  std::string relay_failure;
  try {
    auto joined = co_await (connect_via_relay(link, attempt, punch_timeout) || until_the_server_gives_up(upgrade));
    if (joined.index() == 1) {
      // Declined (busy) or gone: neither path can open.
      result.failure = upgrade->failure;
      result.exit_code = upgrade->gave_up_code == "peer_busy" ? exit_peer_unknown : exit_no_path;
      co_return result;
    }
    result.connection = std::move(std::get<0>(joined));
    result.path = "relay";
    result.why_relay = "relay first; punching a direct path alongside";
    result.upgrade = upgrade;
    co_return result;
  } catch (const std::exception& e) {
    relay_failure = e.what();
  }
  // No relay: the punch is all there is.
  spdlog::info("attempt {}: the relay failed ({}); waiting for the punch", attempt.secret.attempt_id, relay_failure);
  while (!upgrade->done) co_await upgrade->settled.wait();
  if (upgrade->connection) {
    result.connection = std::move(upgrade->connection);
    result.path = "direct";
  } else {
    result.failure = "the relay failed (" + relay_failure + ") and " + upgrade->failure;
    if (!link.is_open()) {
      // Neither path can open without the server: exit 3, as punch-first does.
      result.failure = "lost the server (" + link.close_reason() + ")";
      result.exit_code = exit_server;
    }
  }
  co_return result;
}

net::awaitable<attempt_result> punch_first(server_link& link, const attempt_info& attempt,
                                           std::chrono::milliseconds punch_timeout);

}  // namespace

net::awaitable<attempt_result> run_attempt(server_link& link, const attempt_info& attempt,
                                           std::chrono::milliseconds punch_timeout) {
  if (attempt.punch_timeout.count() > 0) punch_timeout = attempt.punch_timeout;
  attempt_result result;  // (no co_await in a conditional: GCC 12)
  if (attempt.path == "auto") {
    result = co_await relay_first(link, attempt, punch_timeout);
  } else {
    result = co_await punch_first(link, attempt, punch_timeout);
  }
  result.server = link.sender();
  result.server_address = link.server_endpoint().address();
  if (!result.connection) report_outcome(result.server, attempt, "");
  co_return result;
}

namespace {

/// Punch first: the punch (unless the path is relay), then the relay (unless it is direct).
net::awaitable<attempt_result> punch_first(server_link& link, const attempt_info& attempt,
                                           std::chrono::milliseconds punch_timeout) {
  attempt_result result;
  if (attempt.path != "relay") {
    try {
      punch_instructions instructions = [&link, &attempt] { return await_punch(link, attempt); };
      result.connection = co_await punch_directly(link.server_endpoint().address(), std::move(instructions), attempt,
                                                  punch_timeout, result.failure);
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

}  // namespace

}  // namespace peer
