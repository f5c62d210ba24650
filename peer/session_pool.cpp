#include "peer/session_pool.hpp"

#include <spdlog/spdlog.h>

#include "peer/attempt_runner.hpp"
#include "peer/exit_codes.hpp"
#include "peer/path_upgrade.hpp"
#include "peer/secure_session.hpp"

namespace peer {
namespace {

/// Streams the other side may open on a session we made for our own streams.
constexpr std::size_t accept_backlog_for_outgoing = 0;

}  // namespace

session_pool::session_pool(server_link& link, identity::key_pair keys, const peer_config& config, std::string speak_as)
    : link_(link), keys_(keys), config_(config), speak_as_(std::move(speak_as)), events_(config.json) {}

net::awaitable<std::shared_ptr<session::stream>> session_pool::open_stream(const std::string& peer,
                                                                         nlohmann::json meta) {
  auto s = co_await session_to(peer);
  co_return open_stream_on(*s, peer, std::move(meta));
}

net::awaitable<std::shared_ptr<session::session>> session_pool::session_to(const std::string& peer, bool* reused,
                                                                           net::clock::time_point started) {
  auto& slot = entries_[peer];
  // Another request is connecting to this peer: wait for it rather than punch twice, and share
  // its failure too (20 waiting connections must not become 20 attempts in a row).
  if (slot.connecting) {
    const auto generation = slot.generation;
    while (slot.connecting) co_await slot.settled->wait();
    if (slot.generation == generation + 1 && slot.failure) std::rethrow_exception(slot.failure);
  }
  if (slot.session && slot.session->is_open()) {
    if (reused) *reused = true;
    spdlog::debug("reusing the session to {}", peer);
    co_return slot.session;
  }
  if (reused) *reused = false;
  slot.connecting = true;
  slot.settled = std::make_shared<net::async_event>(co_await asio::this_coro::executor);
  auto settled = slot.settled;
  slot.failure = nullptr;
  try {
    co_await connect(peer, slot, started);
  } catch (...) {
    slot.failure = std::current_exception();
  }
  slot.connecting = false;
  ++slot.generation;
  settled->notify_all();
  if (slot.failure) std::rethrow_exception(slot.failure);
  co_return slot.session;
}

net::awaitable<void> session_pool::connect(const std::string& peer, entry& slot, net::clock::time_point started) {
  ++attempts_;
  nlohmann::json connect_request{
      {"type", "connect"}, {"target", peer}, {"path", config_.path}, {"punch_timeout_ms", config_.punch_timeout.count()}};
  // Unregistered (send), we still tell the peer who calls: the server checks the ID is pinned to our key.
  if (!speak_as_.empty()) connect_request["as"] = speak_as_;
  auto reply = co_await link_.request(connect_request);
  if (reply.value("type", "") == "error") {
    const auto code = reply.value("code", "");
    const auto message = reply.value("message", "the server refused");
    if (code == "unknown_peer" || code == "peer_on_other_node" || code == "busy" || code == "rate_limited") {
      throw command_error(exit_peer_unknown, message);
    }
    if (code == "self") throw command_error(exit_usage, message);
    throw command_error(exit_server, message);
  }
  const auto attempt = parse_attempt(reply);
  auto result = co_await run_attempt(link_, attempt, config_.punch_timeout);
  if (!result.connection) throw command_error(static_cast<exit_code>(result.exit_code), result.failure);
  slot.origin = std::make_shared<session_origin>(origin_of(result));
  slot.session = co_await open_secure_session(result, attempt, keys_, config_, accept_backlog_for_outgoing);
  // Where the session moves to a punched path, later streams' "connected" says so.
  follow_session_path(slot.session, result, peer, events_, started, [origin = slot.origin](const session_origin& now) { *origin = now; });
}

}  // namespace peer
