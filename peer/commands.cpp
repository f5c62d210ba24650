#include "peer/commands.hpp"


#include <cstdio>
#include <iostream>

#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "common/endpoint.hpp"
#include "common/peer_id.hpp"
#include "peer/attempt_runner.hpp"
#include "peer/exit_codes.hpp"
#include "peer/nat_probe.hpp"
#include "peer/stun_probe.hpp"
#include "peer/secure_session.hpp"
#include "peer/session_pool.hpp"
#include "peer/interruption.hpp"
#include "peer/link_tending.hpp"
#include "peer/path_upgrade.hpp"
#include "peer/stdio_bridge.hpp"

namespace peer {

using namespace asio::experimental::awaitable_operators;

namespace {


/// How a stream's error reads when the peer refused what we opened it for.
bool refused_by_peer(const session::stream& stream) {
  return stream.error().starts_with(std::string(session::peer_reset_prefix) + session::refused_prefix);
}

/// Announces the secure session and bridges its one stream to stdin/stdout until both directions end.
net::awaitable<int> bridge(server_link& link, const event_sink& events, const session_origin& origin,
                           std::shared_ptr<session::session> secure, std::shared_ptr<session::stream> stream,
                           const std::string& peer_name, net::clock::time_point started) {
  events.emit(connected_event(peer_name, origin, *secure, started));
  // A signal is ours to answer until we return: one that comes while a finished bridge closes the
  // session (ssh's SIGHUP after an scp) must not turn its success into 128 + the signal.
  const interruption::claim claim(interruption::process());
  struct decide_on_return {
    ~decide_on_return() { interruption::process().decided(); }
  } decide;
  // The link is tended for as long as the bridge runs (it never ends by itself).
  auto outcome = co_await (bridge_stdio(secure, stream) || tend_link_while_busy(link, events));
  const auto result = std::get<0>(std::move(outcome));
  // The peer hung up on purpose after all its data had arrived (ssh's server side ending, a
  // signalled `peer connect`): what we were still sending, it no longer wanted.
  const bool peer_hung_up = !result.error.empty() && result.download_finished && secure->clean();
  const auto& interrupt = interruption::process();
  const bool by_signal = !result.hung_up.empty() && interrupt.raised();
  // (A local, not a temporary: GCC 12 destroys a conditional's temporary in a co_await twice.)
  const std::string close_reason = !result.hung_up.empty() ? result.hung_up : result.error.empty() ? "done" : "stream failed";
  // Signalled: a bounded wait for the peer's answer; else the session's own close timeout.
  const net::clock::duration close_wait = interrupt.raised() ? interruption::close_wait : net::clock::duration::max();
  co_await close_session(secure, close_reason, close_wait);
  nlohmann::json closed{{"event", "closed"}, {"peer", peer_name}, {"sent", result.sent}, {"received", result.received}};
  if (!result.hung_up.empty()) closed["hung_up"] = result.hung_up;
  if (peer_hung_up) closed["peer_hung_up"] = secure->end_reason();
  events.emit(closed);
  if (peer_hung_up) {
    spdlog::info("{} hung up after its data ended: {}", peer_name, secure->end_reason());
    co_return exit_ok;
  }
  if (refused_by_peer(*stream)) {
    throw command_error(exit_refused, peer_name + " refused the connection: " +
                                          stream->error().substr(std::string(session::peer_reset_prefix).size() +
                                                                 std::string(session::refused_prefix).size()));
  }
  if (by_signal && !result.upload_finished) co_return interrupt.exit_code();  // cut short: the shell's convention
  if (!result.error.empty()) throw command_error(exit_failure, "connection to " + peer_name + " broke: " + result.error);
  // Everything was handed to the session; only a clean close proves it all arrived.
  if (!secure->clean()) {
    throw command_error(exit_failure, "connection to " + peer_name + " did not end cleanly: " + secure->end_reason());
  }
  co_return exit_ok;
}

}  // namespace

net::awaitable<int> run_list(const peer_config& config, const event_sink&) {
  server_link link(co_await asio::this_coro::executor);
  co_await link.open(config.servers, config.token);
  const auto ids = co_await link.list();
  if (config.json) {
    std::cout << nlohmann::json(ids).dump() << std::endl;
  } else {
    for (const auto& id : ids) std::cout << id << "\n";
    std::cout.flush();
  }
  co_return exit_ok;
}

net::awaitable<int> run_nat(const peer_config& config, const event_sink&) {
  server_link link(co_await asio::this_coro::executor);
  nat::nat_verdict verdict;
  std::optional<nat::nat_verdict> other;  // the other family's, where we and the server have it
  std::string reached_name, other_name;
  if (config.stun) {
    verdict = co_await probe_nat_stun(*config.stun);
  } else {
    co_await link.open(config.servers, config.token);
    auto target = co_await fetch_probe_target(link);
    auto verdicts = co_await probe_families(target);
    remember(target, verdicts);
    verdict = std::move(verdicts.reached);
    other = std::move(verdicts.other);
    reached_name = verdicts.reached_name();
    other_name = verdicts.other_name();
  }
  auto result = to_json(verdict);
  result["via"] = config.stun ? "stun" : "rendezvous";
  if (!config.stun) {
    result["family"] = reached_name;
    // On IPv6 usually a firewall rather than a NAT.
    if (other) result[other_name] = to_json(*other);
  }
  if (config.json) {
    result["event"] = "nat";
    std::cout << result.dump() << std::endl;
    co_return exit_ok;
  }
  std::cout << "public endpoint:  " << result.value("public", "?") << "\n"
            << "NAT class:        " << verdict.class_name << "\n"
            << "mapping:          " << nat::to_string(verdict.mapping) << "\n"
            << "filtering:        " << nat::to_string(verdict.filtering) << "\n"
            << "port preserving:  " << (verdict.port_preserving ? (*verdict.port_preserving ? "yes" : "no") : "unknown") << "\n";
  for (const auto& note : verdict.undetermined) std::cout << "could not tell:   " << note << "\n";
  if (other) {
    std::cout << other_name << ":\n"
              << "  public endpoint:  " << result[other_name].value("public", "?") << "\n"
              << "  class:            " << other->class_name << "\n"
              << "  mapping:          " << nat::to_string(other->mapping) << "\n"
              << "  filtering:        " << nat::to_string(other->filtering) << "\n";
  }
  std::cout.flush();
  co_return exit_ok;
}

net::awaitable<int> run_listen(const peer_config& config, const event_sink& events) {
  if (config.id.empty()) throw command_error(exit_usage, "listen needs an ID: --id NAME (or PEER_ID)");
  const auto keys = load_identity(config, events);
  server_link link(co_await asio::this_coro::executor);
  co_await open_and_register(link, config, events, keys, /*probe=*/true);  // the initiator chooses the path
  for (;;) {
    auto [attempt, result, started] = co_await next_incoming(link, config, events);
    std::string failure = result.failure;
    std::shared_ptr<session::session> secure;
    if (result.connection) {
      try {
        secure = co_await open_secure_session(result, attempt, keys, config, /*accept_backlog=*/1);
      } catch (const command_error& e) {
        failure = e.what();  // an impostor or a broken handshake: keep listening for the real one
      }
    }
    if (secure) {
      auto stream = co_await secure->accept_stream();
      if (stream) {
        follow_session_path(secure, result, attempt.peer, events, started);
        co_return co_await bridge(link, events, origin_of(result), secure, stream, attempt.peer, started);
      }
      failure = "the session ended before a stream was opened: " + secure->end_reason();
    }
    spdlog::warn("connection from {} failed: {}", attempt.peer, failure);
    events.emit({{"event", "punch_failed"}, {"peer", attempt.peer}, {"message", failure}});
  }
}

net::awaitable<int> run_connect(const peer_config& config, const event_sink& events, const std::string& target) {
  if (!wire::is_valid_peer_id(target)) throw command_error(exit_usage, "'" + target + "' is not a valid peer ID");
  const auto started = net::clock::now();
  const auto keys = load_identity(config, events);
  server_link link(co_await asio::this_coro::executor);
  co_await open_and_register(link, config, events, keys, /*probe=*/config.wants_nat_verdict());  // the server needs no verdict for a forced path
  session_pool pool(link, keys, config);
  auto secure = co_await pool.session_to(target, nullptr, started);
  // With --target, one stream to that target through the peer's `online` (like ssh -W).
  nlohmann::json meta{{"kind", "stdio"}};
  if (config.forward_target) meta = {{"kind", "forward"}, {"target", net::to_string(*config.forward_target)}};
  auto stream = open_stream_on(*secure, target, std::move(meta));
  co_return co_await bridge(link, events, pool.origin(target), secure, stream, target, started);
}

net::awaitable<int> run_id(const peer_config& config, const event_sink& events) {
  const auto keys = load_identity(config, events);
  const auto fingerprint = identity::fingerprint(keys.pub);
  if (config.json) {
    const nlohmann::json line{{"event", "identity"}, {"fingerprint", fingerprint}, {"public_key", identity::to_hex(keys.pub)}};
    std::cout << line.dump() << std::endl;
  } else {
    std::cout << fingerprint << std::endl;
  }
  co_return exit_ok;
}

}  // namespace peer
