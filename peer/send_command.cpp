#include "peer/send_command.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "common/peer_id.hpp"
#include "peer/exit_codes.hpp"
#include "peer/link_tending.hpp"
#include "peer/secure_session.hpp"
#include "peer/session_pool.hpp"
#include "peer/transfer_progress.hpp"
#include "transfer/sender.hpp"

namespace peer {

using namespace asio::experimental::awaitable_operators;

namespace {

transfer::source_list scan_or_explain(const std::vector<std::string>& paths) {
  try {
    auto sources = ::transfer::scan_sources(paths);
    for (const auto& skipped : sources.skipped) spdlog::warn("not sending {}: a link or special file", skipped);
    return sources;
  } catch (const std::exception& e) {
    throw command_error(exit_usage, e.what());
  }
}

/// Sends; a failure is left in `failure` and `kind`.
net::awaitable<void> send_or_explain(std::shared_ptr<session::stream> stream, const ::transfer::source_list& sources,
                                     transfer_progress& progress, ::transfer::send_options options, std::string& failure,
                                     ::transfer::failure_kind& kind) {
  try {
    co_await ::transfer::send_sources(stream, sources, progress, options);
  } catch (const ::transfer::transfer_error& e) {
    failure = e.what();
    kind = e.kind();
    stream->reset(failure);
  }
}

/// The command's error for a transfer that failed: exit 7 for a refusal, 4 for "busy, try
/// again later", 1 for a broken transfer.
command_error transfer_failure(const std::string& target, const std::string& failure, ::transfer::failure_kind kind) {
  switch (kind) {
    case ::transfer::failure_kind::refused: return command_error(exit_refused, target + " refused the transfer: " + failure);
    case ::transfer::failure_kind::busy: return command_error(exit_peer_unknown, target + " is busy: " + failure + "; try again later");
    case ::transfer::failure_kind::failed: break;
  }
  return command_error(exit_failure, "transfer to " + target + " failed: " + failure);
}

}  // namespace

net::awaitable<int> run_send(const peer_config& config, const event_sink& events, const std::string& target,
                             const std::vector<std::string>& paths) {
  if (!wire::is_valid_peer_id(target)) throw command_error(exit_usage, "'" + target + "' is not a valid peer ID");
  if (paths.empty()) throw command_error(exit_usage, "send needs at least one PATH");
  const auto sources = scan_or_explain(paths);
  const auto started = net::clock::now();
  const auto keys = load_identity(config, events);
  server_link link(co_await asio::this_coro::executor);
  // send never registers: it may run beside `peer online` of the same ID, and it names that ID
  // with each connect instead (the server checks it is pinned to our key).
  peer_config unregistered = config;
  unregistered.id.clear();
  co_await open_and_register(link, unregistered, events, keys, /*probe=*/config.wants_nat_verdict());
  session_pool pool(link, keys, config, /*speak_as=*/config.id);
  auto secure = co_await pool.session_to(target, nullptr, started);
  const auto origin = pool.origin(target);
  events.emit(connected_event(target, origin, *secure, started));
  auto stream = open_stream_on(*secure, target, ::transfer::transfer_meta(sources));
  transfer_progress progress(events, config.json, target, origin.path, "sent", sources.total_bytes);
  std::string failure;
  auto kind = ::transfer::failure_kind::failed;
  const ::transfer::send_options options{config.rate_limit_mib};
  co_await (send_or_explain(stream, sources, progress, options, failure, kind) || tend_link_while_busy(link, events));
  co_await close_session(secure, failure.empty() ? "done" : "transfer failed");
  if (!failure.empty()) throw transfer_failure(target, failure, kind);
  progress.finish();
  co_return exit_ok;
}

}  // namespace peer
