#include "tests/session_support.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/use_future.hpp>
#include <asio/write.hpp>

#include "common/spawn.hpp"

namespace test {

using namespace asio::experimental::awaitable_operators;

namespace {

/// Copies bytes one way, passing each chunk through `tap`.
net::awaitable<void> forward(std::shared_ptr<net::tcp::socket> from, std::shared_ptr<net::tcp::socket> to, tap_fn tap) {
  std::vector<std::uint8_t> chunk(64 * 1024);
  for (;;) {
    chunk.resize(64 * 1024);
    auto [ec, n] = co_await from->async_read_some(asio::buffer(chunk), net::use_nothrow);
    if (ec) {
      std::error_code ignored;
      to->shutdown(net::tcp::socket::shutdown_send, ignored);
      co_return;
    }
    chunk.resize(n);
    const auto action = tap ? tap(chunk) : tap_action::pass;
    if (action == tap_action::drop) continue;
    if (action == tap_action::cut) {
      std::error_code ignored;
      to->shutdown(net::tcp::socket::shutdown_send, ignored);
      co_return;
    }
    auto [wec, wn] = co_await asio::async_write(*to, asio::buffer(chunk), net::use_nothrow);
    if (wec) co_return;
  }
}

}  // namespace

net::awaitable<std::pair<net::tcp::socket, net::tcp::socket>> connected_pair(asio::io_context& io) {
  net::tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
  net::tcp::socket a(io);
  co_await a.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
  auto b = co_await acceptor.async_accept(asio::use_awaitable);
  co_return std::make_pair(std::move(a), std::move(b));
}

net::awaitable<void> echo_stream(std::shared_ptr<session::stream> s) {
  std::vector<std::uint8_t> buffer(32 * 1024);
  for (;;) {
    auto result = co_await s->read_some(buffer);
    if (!result.error.empty()) co_return;
    if (result.eof) break;
    // (GCC 12 mishandles a co_await result destroyed inside an if condition: keep it in a local.)
    const auto error = co_await s->write(std::span(buffer).first(result.size));
    if (!error.empty()) co_return;
  }
  s->shutdown_send();
}

void run_until_done(asio::io_context& io, net::awaitable<void> task, std::chrono::seconds limit) {
  if (io.stopped()) io.restart();  // it ran out of work after an earlier task
  bool done = false;
  std::exception_ptr failure;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e) {
    failure = e;
    done = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done && std::chrono::steady_clock::now() < deadline) io.run_one_for(std::chrono::milliseconds(100));
  if (!done) throw std::runtime_error("test task did not finish in time");
  if (failure) std::rethrow_exception(failure);
}

session_pair make_session_pair(asio::io_context& io, session::session_options options, tap_fn tap) {
  session_pair pair;
  pair.initiator_keys = identity::generate();
  pair.responder_keys = identity::generate();
  run_until_done(io, [&]() -> net::awaitable<void> {
    auto [a, a_far] = co_await connected_pair(io);
    net::tcp::socket b(io);
    if (tap) {
      // a <-> a_far [forwarder] b_far <-> b: a's bytes pass through the tap on their way to b.
      auto [b_far, b_near] = co_await connected_pair(io);
      auto left = std::make_shared<net::tcp::socket>(std::move(a_far));
      auto right = std::make_shared<net::tcp::socket>(std::move(b_far));
      asio::co_spawn(io, forward(left, right, tap), net::log_escaped("tap forward"));
      asio::co_spawn(io, forward(right, left, nullptr), net::log_escaped("tap back"));
      b = std::move(b_near);
    } else {
      b = std::move(a_far);
    }
    const auto deadline = net::clock::now() + std::chrono::seconds(10);
    session::peer_expectation expect_responder{pair.responder_keys.pub, "", "responder"};
    session::peer_expectation expect_initiator{pair.initiator_keys.pub, "", "initiator"};
    // (GCC 12 miscompiles braced temporaries passed by value to a coroutine inside co_await.)
    std::vector<std::uint8_t> none_a, none_b;
    auto [ra, rb] = co_await (session::run_handshake(a, std::move(none_a), pair.initiator_keys, true, expect_responder, deadline) &&
                              session::run_handshake(b, std::move(none_b), pair.responder_keys, false, expect_initiator, deadline));
    if (!ra.keys || !rb.keys) throw std::runtime_error("handshake failed: " + ra.failure + " / " + rb.failure);
    pair.initiator = std::make_shared<session::session>(std::move(a), *ra.keys, true, std::move(ra.leftover), options);
    pair.responder = std::make_shared<session::session>(std::move(b), *rb.keys, false, std::move(rb.leftover), options);
    asio::co_spawn(io, pair.initiator->run(), net::log_escaped("initiator session"));
    asio::co_spawn(io, pair.responder->run(), net::log_escaped("responder session"));
  }());
  return pair;
}

session_pair make_unprotected_pair(asio::io_context& io, session::session_options options) {
  session_pair pair;
  run_until_done(io, [&]() -> net::awaitable<void> {
    auto [a, b] = co_await connected_pair(io);
    std::vector<std::uint8_t> none_a, none_b;
    pair.initiator = std::make_shared<session::session>(std::move(a), session::unprotected, true, std::move(none_a), options);
    pair.responder = std::make_shared<session::session>(std::move(b), session::unprotected, false, std::move(none_b), options);
    asio::co_spawn(io, pair.initiator->run(), net::log_escaped("initiator session"));
    asio::co_spawn(io, pair.responder->run(), net::log_escaped("responder session"));
  }());
  return pair;
}

}  // namespace test
