// Connecting to the addresses a name resolves to: in the resolver's order, or spread at random
// (a peer's --server naming one address per node), past addresses that refuse.
#include <gtest/gtest.h>

#include <array>

#include <asio/io_context.hpp>

#include "common/connect.hpp"
#include "common/listen.hpp"
#include "tests/session_support.hpp"
#include "tests/support/web.hpp"

namespace {

using namespace std::chrono_literals;

/// Listeners on 127.0.0.1, .2 and .3 at one port; counts what each accepted.
struct three_listeners {
  explicit three_listeners(asio::io_context& io) : acceptors{net::tcp::acceptor(io), net::tcp::acceptor(io), net::tcp::acceptor(io)} {
    for (int attempt = 0; attempt < 20 && !open(); ++attempt) {
    }
  }
  bool open() {
    port = test::free_port();
    std::error_code ignored;
    for (auto& a : acceptors) a.close(ignored);
    for (int i = 0; i < 3; ++i) {
      if (net::open_listener(acceptors[i], {address(i), port})) return false;
    }
    return true;
  }
  static asio::ip::address address(int i) { return asio::ip::make_address("127.0.0." + std::to_string(i + 1)); }
  /// Which listener has a connection waiting (accepting it), or -1.
  int take() {
    for (int i = 0; i < 3; ++i) {
      if (!acceptors[i].is_open()) continue;
      acceptors[i].non_blocking(true);
      std::error_code ec;
      auto socket = acceptors[i].accept(ec);
      if (!ec) return i;
    }
    return -1;
  }
  std::array<net::tcp::acceptor, 3> acceptors;
  std::uint16_t port = 0;
};

std::vector<net::tcp::endpoint> endpoints_of(const three_listeners& l) {
  return {{three_listeners::address(0), l.port}, {three_listeners::address(1), l.port}, {three_listeners::address(2), l.port}};
}

TEST(ConnectOrder, SpreadTriesTheAddressesInRandomOrderAndResolverOrderKeepsTheFirst) {
  asio::io_context io;
  three_listeners listeners(io);
  std::array<int, 3> spread{}, in_order{};
  for (int run = 0; run < 60; ++run) {
    for (auto order : {net::address_order::spread, net::address_order::resolver}) {
      net::tcp::socket socket(io);
      std::error_code error;
      test::run_until_done(io, [&]() -> net::awaitable<void> {
        error = co_await net::connect_any_within(socket, endpoints_of(listeners), 2000ms, order);
      }());
      ASSERT_FALSE(error) << error.message();
      const int which = listeners.take();
      ASSERT_GE(which, 0);
      ++(order == net::address_order::spread ? spread : in_order)[which];
    }
  }
  EXPECT_EQ(in_order[0], 60);
  for (int i = 0; i < 3; ++i) EXPECT_GT(spread[i], 5) << "address " << i << " was first " << spread[i] << " times of 60";
}

TEST(ConnectOrder, AnAddressThatRefusesIsPassedOver) {
  asio::io_context io;
  three_listeners listeners(io);
  std::error_code ignored;
  listeners.acceptors[0].close(ignored);
  listeners.acceptors[1].close(ignored);
  for (auto order : {net::address_order::spread, net::address_order::resolver}) {
    for (int run = 0; run < 10; ++run) {
      net::tcp::socket socket(io);
      std::error_code error;
      test::run_until_done(io, [&]() -> net::awaitable<void> {
        error = co_await net::connect_any_within(socket, endpoints_of(listeners), 2000ms, order);
      }());
      EXPECT_FALSE(error) << error.message();
      EXPECT_EQ(listeners.take(), 2);
    }
  }
}

}  // namespace
