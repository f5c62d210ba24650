// The socket <-> stream bridge behind forward and online: a reset that arrives after the peer
// half-closed still ends the bridge (and closes the local socket), even while the local side
// stays silent.
#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>

#include "session/socket_stream_bridge.hpp"
#include "tests/session_support.hpp"

namespace {

using namespace std::chrono_literals;

TEST(SocketBridgeTest, ResetAfterHalfCloseEndsTheBridgeWhileTheLocalSideIsSilent) {
  asio::io_context io;
  auto pair = test::make_session_pair(io);
  bool bridge_done = false;
  std::string bridge_error;
  test::run_until_done(io, [&]() -> net::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    net::tcp::acceptor acceptor(ex, {asio::ip::address_v4::loopback(), 0});
    net::tcp::socket local_client(ex);  // stays silent, never closes
    co_await local_client.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
    auto local_server = co_await acceptor.async_accept(asio::use_awaitable);
    auto remote = pair.initiator->open_stream({});
    auto near = co_await pair.responder->accept_stream();
    asio::co_spawn(ex, [](net::tcp::socket socket, std::shared_ptr<session::stream> s, bool& done,
                          std::string& error) -> net::awaitable<void> {
      auto result = co_await session::bridge_socket(std::move(socket), s);
      error = result.error;
      done = true;
    }(std::move(local_server), near, bridge_done, bridge_error), asio::detached);
    remote->shutdown_send();  // the far side half-closes ...
    asio::steady_timer pause(ex, 200ms);
    co_await pause.async_wait(net::use_nothrow);
    EXPECT_FALSE(bridge_done);  // the local direction is still open
    remote->reset("client gone");  // ... then gives up
    for (int i = 0; i < 50 && !bridge_done; ++i) {
      pause.expires_after(20ms);
      co_await pause.async_wait(net::use_nothrow);
    }
    EXPECT_TRUE(bridge_done);
    EXPECT_NE(bridge_error.find("client gone"), std::string::npos) << bridge_error;
    // The local socket was closed: the silent client reads the end.
    std::array<char, 16> buffer{};
    auto [ec, n] = co_await local_client.async_read_some(asio::buffer(buffer), net::use_nothrow);
    EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  }());
}

}  // namespace
