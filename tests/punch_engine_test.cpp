// The punch engine in process on loopback: both sides connect and accept from one port each.
#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/write.hpp>

#include "common/frame_reader.hpp"
#include "nat/punch.hpp"
#include "nat/reuse_socket.hpp"

namespace {

using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using net::tcp;

const nat::attempt_secret secret{"attempt-7", "shared-token"};

nat::punch_request request_for(nat::role role, std::vector<tcp::endpoint> candidates, std::chrono::milliseconds limit) {
  nat::punch_request request;
  request.secret = secret;
  request.mine = role;
  request.candidates = std::move(candidates);
  request.deadline = net::clock::now() + limit;
  return request;
}

tcp::endpoint loopback(std::uint16_t port) { return {asio::ip::address_v4::loopback(), port}; }

/// Runs one side after `delay`; stores the outcome.
net::awaitable<void> side(tcp::acceptor& listener, nat::punch_request request, std::chrono::milliseconds delay,
                          std::optional<nat::punch_outcome>& out) {
  asio::steady_timer timer(listener.get_executor(), delay);
  co_await timer.async_wait(net::use_nothrow);
  request.deadline += delay;
  out = co_await nat::punch(listener, std::move(request));
}

struct pair_result {
  std::optional<nat::punch_outcome> initiator, responder;
};

/// Punches a pair on `io`, which must outlive the result (its sockets belong to it).
pair_result punch_pair(asio::io_context& io, std::vector<tcp::endpoint> extra_initiator_candidates,
                       std::chrono::milliseconds responder_delay) {
  auto a = nat::open_shared_listener(io.get_executor(), 0);
  auto b = nat::open_shared_listener(io.get_executor(), 0);
  auto to_b = extra_initiator_candidates;
  to_b.push_back(loopback(b.local_endpoint().port()));
  pair_result result;
  asio::co_spawn(io,
                 side(a, request_for(nat::role::initiator, to_b, 3s), 0ms, result.initiator) &&
                     side(b, request_for(nat::role::responder, {loopback(a.local_endpoint().port())}, 3s),
                          responder_delay, result.responder),
                 asio::detached);
  io.run();
  return result;
}

void expect_same_connection(pair_result& result) {
  ASSERT_TRUE(result.initiator && result.initiator->winner) << result.initiator->summary;
  ASSERT_TRUE(result.responder && result.responder->winner) << result.responder->summary;
  auto& a = result.initiator->winner->socket;
  auto& b = result.responder->winner->socket;
  EXPECT_EQ(a.local_endpoint(), b.remote_endpoint());
  EXPECT_EQ(a.remote_endpoint(), b.local_endpoint());
  const std::string text = "after the handshake";
  asio::write(a, asio::buffer(text));
  std::string got(text.size(), '\0');
  const auto leftover = result.responder->winner->leftover;
  std::size_t have = std::min(leftover.size(), got.size());
  std::copy_n(leftover.begin(), have, got.begin());
  if (have < got.size()) asio::read(b, asio::buffer(got.data() + have, got.size() - have));
  EXPECT_EQ(got, text);
}

TEST(PunchEngine, BothSidesAgreeOnOneConnection) {
  asio::io_context io;
  auto result = punch_pair(io, {}, 0ms);
  expect_same_connection(result);
}

TEST(PunchEngine, LateResponderStillConnectsAfterRefusedSyns) {
  // The initiator's first SYNs are refused (RST, nobody listens yet); it must keep dialing.
  asio::io_context io;
  auto result = punch_pair(io, {}, 700ms);
  expect_same_connection(result);
}

TEST(PunchEngine, WrongHostOnACandidateAddressIsDropped) {
  // A stranger listening on a "private candidate" answers with a hello it cannot sign.
  asio::io_context stranger_io;
  tcp::acceptor stranger(stranger_io, loopback(0));
  std::thread stranger_thread([&] {
    auto socket = stranger.accept();
    auto hello = wire::encode(nat::make_punch_hello(secret, nat::role::responder, std::string(32, 'f')));
    auto proof = wire::encode({{"type", "punch_proof"}, {"proof", std::string(64, '0')}});
    asio::write(socket, asio::buffer(hello));
    asio::write(socket, asio::buffer(proof));
    std::array<char, 256> sink;
    std::error_code ec;
    while (!ec) socket.read_some(asio::buffer(sink), ec);
  });
  asio::io_context io;
  auto result = punch_pair(io, {loopback(stranger.local_endpoint().port())}, 200ms);
  expect_same_connection(result);
  EXPECT_NE(result.initiator->winner->remote.port(), stranger.local_endpoint().port());
  stranger_thread.join();
}

TEST(PunchEngine, NoPeerMeansNoWinnerAndASummary) {
  asio::io_context io;
  auto a = nat::open_shared_listener(io.get_executor(), 0);
  tcp::acceptor closed_port(io, loopback(0));
  const auto nobody = loopback(closed_port.local_endpoint().port());
  closed_port.close();
  std::optional<nat::punch_outcome> outcome;
  asio::co_spawn(io, side(a, request_for(nat::role::initiator, {nobody}, 600ms), 0ms, outcome), asio::detached);
  io.run();
  ASSERT_TRUE(outcome);
  EXPECT_FALSE(outcome->winner);
  EXPECT_NE(outcome->summary.find("refused"), std::string::npos) << outcome->summary;
}

/// One side with a shared port in each family.
net::awaitable<void> dual_side(tcp::acceptor& v4, tcp::acceptor& v6, nat::punch_request request,
                               std::optional<nat::punch_outcome>& out) {
  const std::vector<tcp::acceptor*> listeners{&v4, &v6};
  out = co_await nat::punch(listeners, std::move(request));
}

/// A listener per family on one port number (as a peer opens them): one that is free in both
/// (tests running beside us may hold the IPv6 port of a number free in IPv4).
std::pair<tcp::acceptor, tcp::acceptor> dual_stack_listeners(asio::io_context& io) {
  for (int attempt = 0;; ++attempt) {
    auto v4 = nat::open_shared_listener(io.get_executor(), 0);
    try {
      auto v6 = nat::open_shared_listener(io.get_executor(), v4.local_endpoint().port(), tcp::v6());
      return {std::move(v4), std::move(v6)};
    } catch (const std::system_error&) {
      if (attempt == 50) throw;
    }
  }
}

TEST(PunchEngine, ADualStackPairPunchesOverIpv6FirstAndIpv4IsTheFallback) {
  for (const bool v6_reachable : {true, false}) {
    asio::io_context io;
    auto [a4, a6] = dual_stack_listeners(io);
    auto [b4, b6] = dual_stack_listeners(io);
    const auto v6_loopback = asio::ip::address_v6::loopback();
    // Both candidates of each side, IPv4 listed first: the engine still starts with IPv6. With
    // IPv6 cut (a candidate nobody listens on), IPv4 connects.
    tcp::acceptor closed(io, tcp::endpoint(v6_loopback, 0));
    const auto dead_v6 = tcp::endpoint(v6_loopback, closed.local_endpoint().port());
    closed.close();
    std::vector<tcp::endpoint> to_b{loopback(b4.local_endpoint().port()),
                                    v6_reachable ? tcp::endpoint(v6_loopback, b6.local_endpoint().port()) : dead_v6};
    std::vector<tcp::endpoint> to_a{loopback(a4.local_endpoint().port()),
                                    v6_reachable ? tcp::endpoint(v6_loopback, a6.local_endpoint().port()) : dead_v6};
    pair_result result;
    asio::co_spawn(io,
                   dual_side(a4, a6, request_for(nat::role::initiator, to_b, 3s), result.initiator) &&
                       dual_side(b4, b6, request_for(nat::role::responder, to_a, 3s), result.responder),
                   asio::detached);
    io.run();
    expect_same_connection(result);
    EXPECT_EQ(result.initiator->winner->remote.address().is_v6(), v6_reachable) << result.initiator->summary;
  }
}

}  // namespace
