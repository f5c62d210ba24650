#include "peer/receive_command.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "peer/attempt_runner.hpp"
#include "peer/exit_codes.hpp"
#include "peer/link_tending.hpp"
#include "peer/path_upgrade.hpp"
#include "peer/secure_session.hpp"
#include "peer/transfer_serving.hpp"

namespace peer {

using namespace asio::experimental::awaitable_operators;

namespace {

/// Streams a sender may open before we take the first.
constexpr std::size_t receive_accept_backlog = 4;

/// The first stream of a session, if it is a transfer we take; otherwise refuses it with a reason.
net::awaitable<std::shared_ptr<session::stream>> take_transfer_stream(const peer_config& config,
                                                                       std::shared_ptr<session::session> secure,
                                                                       const std::string& peer) {
  auto stream = co_await secure->accept_stream();
  if (!stream) {
    spdlog::warn("{}: the session ended before a transfer began: {}", peer, secure->end_reason());
    co_return nullptr;
  }
  const auto& meta = stream->meta();
  const auto kind = meta.is_object() ? meta.find("kind") : meta.end();
  if (kind == meta.end() || !kind->is_string() || kind->get_ref<const std::string&>() != "transfer") {
    spdlog::warn("{}: refused a stream that is not a file transfer", peer);
    stream->reset(config.id + " is waiting for a file transfer only (peer receive)");
    co_return nullptr;
  }
  co_return stream;
}

/// receive's defaults: the current directory, and anyone may send the one transfer it waits for.
/// (assign(1, '.'), not = ".": inlined into the coroutine, GCC 12 warns falsely about that.)
peer_config receive_settings(const peer_config& given) {
  if (given.id.empty()) throw command_error(exit_usage, "receive needs an ID: --id NAME (or PEER_ID)");
  peer_config config = given;
  if (config.inbox.empty()) config.inbox.assign(1, '.');
  if (config.accept_from.empty()) config.accept_any = true;
  return config;
}

}  // namespace

net::awaitable<int> run_receive(const peer_config& given, const event_sink& events) {
  const auto config = receive_settings(given);
  const auto keys = load_identity(config, events);
  server_link link(co_await asio::this_coro::executor);
  co_await open_and_register(link, config, events, keys, /*probe=*/true);
  for (;;) {
    auto [attempt, result, started] = co_await next_incoming(link, config, events);
    if (!result.connection) {
      spdlog::warn("connection from {} failed: {}", attempt.peer, result.failure);
      continue;
    }
    std::shared_ptr<session::session> secure;
    try {
      secure = co_await open_secure_session(result, attempt, keys, config, receive_accept_backlog);
    } catch (const command_error& e) {
      spdlog::warn("connection from {} refused: {}", attempt.peer, e.what());  // keep waiting for the real sender
      continue;
    }
    const auto origin = origin_of(result);
    events.emit(connected_event(attempt.peer, origin, *secure, started));
    follow_session_path(secure, result, attempt.peer, events, started);
    auto stream = co_await take_transfer_stream(config, secure, attempt.peer);
    if (!stream || !accepts_transfer_from(config, attempt.peer)) {
      if (stream) co_await serve_transfer(config, events, attempt.peer, origin.path, stream, /*live_line=*/true);  // refuses it
      co_await close_session(secure, "not a transfer we take");
      continue;
    }
    auto outcome = co_await (serve_transfer(config, events, attempt.peer, origin.path, stream, /*live_line=*/true) ||
                             tend_link_while_busy(link, events));
    const auto failure = std::get<0>(std::move(outcome));
    co_await close_session(secure, failure.empty() ? "done" : "transfer failed");
    if (!failure.empty()) throw command_error(exit_failure, "the transfer from " + attempt.peer + " failed: " + failure);
    co_return exit_ok;
  }
}

}  // namespace peer
