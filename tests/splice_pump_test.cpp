// The relay pump in process: two loopback connections joined, driven from plain blocking sockets.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <thread>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include "relay/splice_pump.hpp"

namespace {

using net::tcp;

/// client_a <-> [a | pump | b] <-> client_b, with the pump on its own thread.
struct joined_pair {
  asio::io_context io;
  tcp::socket client_a{io}, client_b{io};
  tcp::socket a{io}, b{io};
  relay::pump_stats stats;
  std::thread runner;

  joined_pair() {
    tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
    client_a.connect(acceptor.local_endpoint());
    a = acceptor.accept();
    client_b.connect(acceptor.local_endpoint());
    b = acceptor.accept();
    timeval limit{5, 0};  // a stalled relay fails the test instead of hanging it
    for (auto* s : {&client_a, &client_b}) ::setsockopt(s->native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    asio::co_spawn(io, [this]() -> net::awaitable<void> { stats = co_await relay::pump(a, b, relay::pump_options{}); },
                   asio::detached);
    runner = std::thread([this] { io.run(); });
  }
  ~joined_pair() {
    if (runner.joinable()) runner.join();
  }
};

std::string read_to_end(tcp::socket& socket) {
  std::string all;
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::recv(socket.native_handle(), chunk, sizeof chunk, 0);
    if (n <= 0) return n == 0 ? all : all + "<error>";
    all.append(chunk, static_cast<std::size_t>(n));
  }
}

TEST(SplicePump, HalfCloseEachWayAndExactCounts) {
  joined_pair pair;
  const std::string request(300000, 'q');
  ::send(pair.client_a.native_handle(), request.data(), request.size(), 0);
  ::shutdown(pair.client_a.native_handle(), SHUT_WR);
  EXPECT_EQ(read_to_end(pair.client_b), request);  // EOF arrived after all bytes
  ::send(pair.client_b.native_handle(), "reply", 5, 0);  // the other direction still open
  ::shutdown(pair.client_b.native_handle(), SHUT_WR);
  EXPECT_EQ(read_to_end(pair.client_a), "reply");
  pair.runner.join();
  EXPECT_EQ(pair.stats.a_to_b, request.size());
  EXPECT_EQ(pair.stats.b_to_a, 5u);
  EXPECT_EQ(pair.stats.end, relay::pump_end::both_closed);
}

TEST(SplicePump, UrgentDataIsRelayedInlineWithoutLossOrStall) {
  // splice() stops at TCP urgent data; the pump must read through it.
  joined_pair pair;
  const int fd = pair.client_a.native_handle();
  ::send(fd, "hello", 5, 0);
  ::send(fd, "!", 1, MSG_OOB);
  ::send(fd, "world", 5, 0);
  ::shutdown(fd, SHUT_WR);
  EXPECT_EQ(read_to_end(pair.client_b), "hello!world");
  ::shutdown(pair.client_b.native_handle(), SHUT_WR);
  EXPECT_EQ(read_to_end(pair.client_a), "");
  pair.runner.join();
  EXPECT_EQ(pair.stats.a_to_b, 11u);
}

TEST(SplicePump, AResetOnOneSideClosesTheOther) {
  joined_pair pair;
  linger hard{1, 0};
  ::setsockopt(pair.client_a.native_handle(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  pair.client_a.close();  // RST
  EXPECT_NE(read_to_end(pair.client_b), "<timeout>");  // b is closed promptly (EOF or reset), not left open
  pair.runner.join();
  EXPECT_NE(pair.stats.end, relay::pump_end::idle);
}

}  // namespace
