// A peer process that holds a session to bob opens new streams on it instead of punching again:
// the session pool against a real rendezvous server, with bob served in process.
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include "peer/attempt_runner.hpp"
#include "peer/secure_session.hpp"
#include "peer/session_pool.hpp"
#include "tests/loopback_fixture.hpp"
#include "tests/session_support.hpp"

namespace test {
namespace {

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

/// Bob: takes every attempt, and echoes every stream of every session.
net::awaitable<void> serve_echo(peer::server_link& link, identity::key_pair keys, peer::peer_config config) {
  auto ex = co_await asio::this_coro::executor;
  while (auto event = co_await link.next_event()) {
    if (event->value("type", "") != "attempt") continue;
    const auto attempt = peer::parse_attempt(*event);
    auto result = co_await peer::run_attempt(link, attempt, config.punch_timeout);
    if (!result.connection) continue;
    auto secure = co_await peer::open_secure_session(result, attempt, keys, config, 16);
    asio::co_spawn(ex, [](std::shared_ptr<session::session> s) -> net::awaitable<void> {
      auto ex = co_await asio::this_coro::executor;
      while (auto stream = co_await s->accept_stream()) asio::co_spawn(ex, echo_stream(stream), asio::detached);
    }(secure), asio::detached);
  }
}

/// Sends `text` on a new stream to bob and returns the echo.
net::awaitable<std::string> round_trip(peer::session_pool& pool, std::string text) {
  nlohmann::json meta{{"kind", "test"}};  // (GCC 12: no braced JSON inside co_await)
  auto stream = co_await pool.open_stream("bob", std::move(meta));
  const auto error = co_await stream->write(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  if (!error.empty()) co_return "write failed: " + error;
  stream->shutdown_send();
  std::string echoed;
  std::vector<std::uint8_t> buffer(4096);
  for (;;) {
    auto result = co_await stream->read_some(buffer);
    if (!result.error.empty()) co_return "read failed: " + result.error;
    if (result.eof) co_return echoed;
    echoed.append(reinterpret_cast<const char*>(buffer.data()), result.size);
  }
}

class SessionReuseTest : public loopback_test {};

TEST_F(SessionReuseTest, StreamsToAPeerWeHoldASessionWithDoNotPunchAgain) {
  start_server();
  asio::io_context io;
  peer::peer_config config;
  config.servers = {{"127.0.0.1", port_}};
  config.punch_timeout = 2s;
  const auto bob_keys = identity::generate(), alice_keys = identity::generate();
  peer::server_link bob_link(io.get_executor()), alice_link(io.get_executor());
  std::string first, second, third;
  int attempts = -1;
  bool reused = false;
  run_until_done(io, [&]() -> net::awaitable<void> {
    co_await bob_link.open(config.servers, "", &bob_keys);
    co_await bob_link.register_id("bob");
    co_await alice_link.open(config.servers, "", &alice_keys);
    asio::co_spawn(io, serve_echo(bob_link, bob_keys, config), asio::detached);
    peer::session_pool pool(alice_link, alice_keys, config);
    // Two streams at once share the one attempt; a third, later, rides the same session.
    std::tie(first, second) = co_await (round_trip(pool, "one") && round_trip(pool, "two"));
    third = co_await round_trip(pool, "three");
    co_await pool.session_to("bob", &reused);
    attempts = pool.attempts();
  }(), 30s);
  EXPECT_EQ(first, "one");
  EXPECT_EQ(second, "two");
  EXPECT_EQ(third, "three");
  EXPECT_TRUE(reused);
  EXPECT_EQ(attempts, 1);
  // The server agrees: one attempt between alice and bob.
  const auto log = read_file(path("server.err"));
  std::size_t started = 0;
  for (auto at = log.find("started (path"); at != std::string::npos; at = log.find("started (path", at + 1)) ++started;
  EXPECT_EQ(started, 1u) << log;
}

}  // namespace
}  // namespace test
