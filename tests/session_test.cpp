// Sessions over real loopback TCP: streams in both directions, half-close, flow control, 1000
// streams at once, a stalled reader beside a busy stream, and every way a session must end
// (tampering, truncation, a dead path) reaching every stream as an error.
#include <gtest/gtest.h>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/write.hpp>

#include "common/frame_reader.hpp"
#include "common/spawn.hpp"
#include "session/expose_channel.hpp"
#include "tests/session_support.hpp"

namespace {

using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
using stream_ptr = std::shared_ptr<session::stream>;

/// Deterministic bytes that differ per stream and position.
std::vector<std::uint8_t> pattern(std::uint32_t seed, std::size_t size) {
  std::vector<std::uint8_t> out(size);
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& byte : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    byte = static_cast<std::uint8_t>(x);
  }
  return out;
}

/// Reads to the end; the error text if the stream failed instead.
net::awaitable<std::pair<std::vector<std::uint8_t>, std::string>> read_all(stream_ptr s) {
  std::vector<std::uint8_t> data, buffer(32 * 1024);
  for (;;) {
    auto result = co_await s->read_some(buffer);
    if (!result.error.empty()) co_return std::make_pair(data, result.error);
    if (result.eof) co_return std::make_pair(data, std::string());
    data.insert(data.end(), buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(result.size));
  }
}

/// Accepts every stream the peer opens and echoes it.
net::awaitable<void> echo_all(std::shared_ptr<session::session> s) {
  auto ex = co_await asio::this_coro::executor;
  while (auto accepted = co_await s->accept_stream()) asio::co_spawn(ex, test::echo_stream(accepted), asio::detached);
}

/// Writes `data`, then half-closes; `done` becomes true once the whole write succeeded.
/// (Spawned tasks are free functions: a capturing lambda's captures die before its coroutine.)
net::awaitable<void> write_then_shutdown(stream_ptr s, std::vector<std::uint8_t> data, std::shared_ptr<bool> done) {
  // (GCC 12 mishandles a co_await result destroyed inside an if condition: keep it in a local.)
  const auto error = co_await s->write(data);
  if (!error.empty()) co_return;
  *done = true;
  s->shutdown_send();
}

net::awaitable<std::string> write_and_shutdown(stream_ptr s, const std::vector<std::uint8_t>& data) {
  auto error = co_await s->write(data);
  s->shutdown_send();
  co_return error;
}

struct round_trips {
  int total = 0;
  int finished = 0;
  int intact = 0;
};

/// Sends a pattern on `s` and checks the echo; counts into `tally`.
net::awaitable<void> round_trip(stream_ptr s, std::uint32_t seed, std::size_t size, round_trips& tally,
                                net::async_event& all_done) {
  const auto data = pattern(seed, size);
  auto [write_error, echoed] = co_await (write_and_shutdown(s, data) && read_all(s));
  if (write_error.empty() && echoed.first == data && echoed.second.empty()) ++tally.intact;
  if (++tally.finished == tally.total) all_done.notify_all();
}

net::awaitable<void> sleep_for(std::chrono::milliseconds how_long) {
  asio::steady_timer timer(co_await asio::this_coro::executor, how_long);
  co_await timer.async_wait(net::use_nothrow);
}

class SessionTest : public ::testing::Test {
 protected:
  asio::io_context io_;
};

TEST_F(SessionTest, StreamCarriesBytesBothWaysWithHalfClose) {
  auto pair = test::make_session_pair(io_);
  EXPECT_EQ(pair.initiator->peer_key(), pair.responder_keys.pub);
  EXPECT_EQ(pair.responder->peer_key(), pair.initiator_keys.pub);
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    auto out = pair.initiator->open_stream({{"kind", "test"}});
    EXPECT_TRUE(out);
    if (!out) co_return;
    const auto request = pattern(1, 3 * 1024 * 1024 + 17);
    stream_ptr in;
    auto [write_error, received] = co_await (write_and_shutdown(out, request) && [&]() -> net::awaitable<std::pair<std::vector<std::uint8_t>, std::string>> {
      in = co_await pair.responder->accept_stream();
      co_return co_await read_all(in);
    }());
    EXPECT_EQ(write_error, "");
    EXPECT_EQ(in->meta().value("kind", ""), "test");
    EXPECT_EQ(received.second, "");
    EXPECT_TRUE(received.first == request);
    // Half-closed one way, the other way still works.
    const auto reply = pattern(2, 100'000);
    EXPECT_EQ(co_await in->write(reply), "");
    in->shutdown_send();
    auto [answer, answer_error] = co_await read_all(out);
    EXPECT_EQ(answer_error, "");
    EXPECT_TRUE(answer == reply);
    EXPECT_EQ(pair.initiator->open_streams(), 0u);  // both directions ended: forgotten
    pair.initiator->close("test over");
    co_await pair.responder->wait_ended();
    co_await pair.initiator->wait_ended();
    EXPECT_TRUE(pair.initiator->clean()) << pair.initiator->end_reason();
    EXPECT_TRUE(pair.responder->clean()) << pair.responder->end_reason();
  }());
}

TEST_F(SessionTest, ThousandConcurrentStreamsEveryByteIntact) {
  auto pair = test::make_session_pair(io_);
  constexpr int streams = 1000;
  constexpr std::size_t size = 48 * 1024 + 123;
  round_trips tally;
  tally.total = streams;
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    asio::co_spawn(ex, echo_all(pair.responder), asio::detached);
    net::async_event all_done(ex);
    for (int i = 0; i < streams; ++i) {
      auto s = pair.initiator->open_stream({{"n", i}});
      EXPECT_TRUE(s) << i;
      if (!s) co_return;
      asio::co_spawn(ex, round_trip(s, static_cast<std::uint32_t>(i), size, tally, all_done), asio::detached);
    }
    while (tally.finished < streams) co_await all_done.wait(net::clock::now() + 1s);
  }(), 120s);
  EXPECT_EQ(tally.intact, streams);
}

TEST_F(SessionTest, AnExposeChannelCarriesStreamsUnprotectedWithItsSmallerWindow) {
  // An expose channel's options on both ends: streams work as on any session, and a stalled
  // reader holds exactly the channel's first window, a quarter of the default.
  const auto options = session::expose_channel_options();
  ASSERT_LT(options.stream_window, session::stream_window);
  auto pair = test::make_unprotected_pair(io_, options);
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    asio::co_spawn(ex, echo_all(pair.responder), asio::detached);
    auto echoed = pair.initiator->open_stream({{"kind", "client"}});
    const auto small = pattern(3, 300 * 1024);  // more than both windows: written and read at once
    auto [error, echo] = co_await (write_and_shutdown(echoed, small) && read_all(echoed));
    EXPECT_EQ(error, "");
    EXPECT_EQ(echo.second, "");
    EXPECT_TRUE(echo.first == small);

    auto stalled = pair.responder->open_stream({});
    const auto data = pattern(9, 512 * 1024);
    auto written = std::make_shared<bool>(false);
    asio::co_spawn(ex, write_then_shutdown(stalled, data, written), asio::detached);
    // (echo_all took the first stream; this one is ours to not read)
    auto in = co_await pair.initiator->accept_stream();
    co_await sleep_for(300ms);
    EXPECT_FALSE(*written);
    EXPECT_EQ(in->buffered(), options.stream_window);  // exactly the channel's window
    auto [received, stalled_error] = co_await read_all(in);
    EXPECT_EQ(stalled_error, "");
    EXPECT_TRUE(*written);
    EXPECT_TRUE(received == data);
  }());
}

TEST_F(SessionTest, CreditWindowHoldsBackAWriterWhoseReaderDoesNotRead) {
  auto pair = test::make_session_pair(io_);
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    auto out = pair.initiator->open_stream({});
    const auto data = pattern(7, 1024 * 1024);
    auto written = std::make_shared<bool>(false);
    asio::co_spawn(co_await asio::this_coro::executor, write_then_shutdown(out, data, written), asio::detached);
    auto in = co_await pair.responder->accept_stream();
    co_await sleep_for(300ms);
    EXPECT_FALSE(*written);
    EXPECT_EQ(in->buffered(), session::stream_window);  // exactly one window, not a byte more
    auto [received, error] = co_await read_all(in);  // reading grants credit: the write completes
    EXPECT_EQ(error, "");
    EXPECT_TRUE(*written);
    EXPECT_TRUE(received == data);
  }());
}

TEST_F(SessionTest, StalledReaderDoesNotHoldBackAnotherStream) {
  auto pair = test::make_session_pair(io_);
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    auto stalled_out = pair.initiator->open_stream({{"name", "stalled"}});
    auto busy_out = pair.initiator->open_stream({{"name", "busy"}});
    auto stalled_in = co_await pair.responder->accept_stream();
    auto busy_in = co_await pair.responder->accept_stream();
    auto ex = co_await asio::this_coro::executor;
    // The stalled stream's writer wants to send 4 MiB; its reader never reads.
    const auto stalled_data = pattern(3, 4 * 1024 * 1024);
    auto stalled_written = std::make_shared<bool>(false);
    asio::co_spawn(ex, write_then_shutdown(stalled_out, stalled_data, stalled_written), asio::detached);
    const auto busy_data = pattern(4, 32 * 1024 * 1024);
    auto [write_error, received] = co_await (write_and_shutdown(busy_out, busy_data) && read_all(busy_in));
    EXPECT_EQ(write_error, "");
    EXPECT_EQ(received.second, "");
    EXPECT_TRUE(received.first == busy_data);
    EXPECT_EQ(stalled_in->buffered(), session::stream_window);
    EXPECT_FALSE(*stalled_written);
    EXPECT_TRUE(pair.initiator->is_open());
    pair.initiator->close();
    co_await pair.initiator->wait_ended();
  }());
}

TEST_F(SessionTest, FlippedBitInTransitEndsTheSessionAndEveryStreamErrs) {
  std::uint64_t seen = 0;
  bool flipped = false;
  auto pair = test::make_session_pair(io_, {}, [&](std::vector<std::uint8_t>& chunk) {
    seen += chunk.size();
    if (seen > 200'000 && !flipped) {  // well past the handshake, inside stream data
      chunk[chunk.size() / 2] ^= 0x10;
      flipped = true;
    }
    return test::tap_action::pass;
  });
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    auto out = pair.initiator->open_stream({});
    auto other = pair.initiator->open_stream({});
    auto in = co_await pair.responder->accept_stream();
    auto other_in = co_await pair.responder->accept_stream();
    auto [write_error, received] = co_await (out->write(pattern(5, 2 * 1024 * 1024)) && read_all(in));
    (void)write_error;
    EXPECT_NE(received.second.find("failed authentication"), std::string::npos) << received.second;
    EXPECT_LT(received.first.size(), 2u * 1024 * 1024);
    auto [other_data, other_error] = co_await read_all(other_in);
    EXPECT_FALSE(other_error.empty());
    co_await pair.initiator->wait_ended();  // the responder's end closes the path
    EXPECT_FALSE(pair.responder->clean());
  }());
  EXPECT_TRUE(flipped);
}

TEST_F(SessionTest, TruncatedSessionIsAnErrorNotAnEnd) {
  bool cut = false;
  auto pair = test::make_session_pair(io_, {}, [&](std::vector<std::uint8_t>&) {
    return cut ? test::tap_action::cut : test::tap_action::pass;
  });
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    auto out = pair.initiator->open_stream({});
    EXPECT_EQ(co_await out->write(pattern(9, 1000)), "");
    auto in = co_await pair.responder->accept_stream();
    co_await sleep_for(100ms);
    // An attacker (or a crash) ends the TCP stream with a FIN: no close record came first.
    cut = true;
    EXPECT_EQ(co_await out->write(pattern(9, 10)), "");
    auto [data, error] = co_await read_all(in);
    EXPECT_EQ(data.size(), 1000u);
    EXPECT_NE(error.find("truncated"), std::string::npos) << error;
    EXPECT_FALSE(pair.responder->clean());
  }());
}

TEST_F(SessionTest, DeadPathIsDetectedAndEveryStreamErrs) {
  session::session_options options;
  options.keepalive_interval = 200ms;
  options.dead_after = 1s;
  bool blackhole = false;
  auto pair = test::make_session_pair(io_, options, [&](std::vector<std::uint8_t>&) {
    return blackhole ? test::tap_action::drop : test::tap_action::pass;
  });
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    auto out = pair.initiator->open_stream({});
    auto in = co_await pair.responder->accept_stream();
    co_await sleep_for(1500ms);  // keep-alives flow: nothing dies while the path works
    EXPECT_TRUE(pair.responder->is_open()) << pair.responder->end_reason();
    blackhole = true;  // the path silently stops carrying anything to the responder
    const auto start = net::clock::now();
    auto [data, error] = co_await read_all(in);
    EXPECT_NE(error.find("path is dead"), std::string::npos) << error;
    EXPECT_LT(net::clock::now() - start, 3s);
    (void)out;
  }());
}

TEST_F(SessionTest, FinishedStreamsAreForgottenAndAnEndedSessionIsFreed) {
  auto pair = test::make_session_pair(io_);
  std::weak_ptr<session::session> initiator = pair.initiator;
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    {
      // A writer that half-closes and drops its handle before the peer's end arrives.
      auto out = pair.initiator->open_stream({});
      EXPECT_EQ(co_await out->write(pattern(1, 1000)), "");
      EXPECT_EQ(out->shutdown_send(), "");
    }
    auto in = co_await pair.responder->accept_stream();
    auto [data, error] = co_await read_all(in);
    EXPECT_EQ(data.size(), 1000u);
    EXPECT_EQ(in->shutdown_send(), "");
    co_await sleep_for(100ms);
    EXPECT_EQ(pair.initiator->open_streams(), 0u);
    EXPECT_EQ(pair.responder->open_streams(), 0u);
    // A stream the initiator never accepts must not keep its session alive after the end.
    EXPECT_TRUE(pair.responder->open_stream({}));
    co_await sleep_for(100ms);
    pair.responder->close();
    co_await pair.initiator->wait_ended();
    co_await sleep_for(100ms);
  }());
  pair.initiator.reset();
  EXPECT_TRUE(initiator.expired()) << "a queued stream kept the ended session alive";
}

TEST_F(SessionTest, WronglyTypedHandshakeFieldsAreAFailureNotACrash) {
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    net::tcp::acceptor acceptor(ex, {asio::ip::address_v4::loopback(), 0});
    net::tcp::socket impostor(ex);
    co_await impostor.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
    auto ours = co_await acceptor.async_accept(asio::use_awaitable);
    const nlohmann::json garbled{{"type", "session_hello"}, {"version", "one"}, {"identity", 7}};
    co_await wire::write_frame(impostor, garbled);
    const auto me = identity::generate();
    std::vector<std::uint8_t> nothing_received;
    session::peer_expectation anyone;
    auto result = co_await session::run_handshake(ours, std::move(nothing_received), me, false, anyone,
                                                  net::clock::now() + 5s);
    EXPECT_FALSE(result.keys);
    EXPECT_EQ(result.failure, "malformed session hello");
  }());
}

TEST_F(SessionTest, StreamLimitsAreEnforcedOnBothSides) {
  session::session_options options;
  options.max_streams = 4;
  auto pair = test::make_session_pair(io_, options);
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    std::vector<stream_ptr> open;
    for (int i = 0; i < 4; ++i) open.push_back(pair.initiator->open_stream({}));
    std::string why;
    EXPECT_FALSE(pair.initiator->open_stream({}, &why));
    EXPECT_NE(why.find("4 streams open"), std::string::npos) << why;
    // Reset one: its slot frees and a new stream opens.
    open[0]->reset("no longer needed");
    EXPECT_TRUE(pair.initiator->open_stream({}));
    auto first = co_await pair.responder->accept_stream();
    auto [data, error] = co_await read_all(first);
    EXPECT_NE(error.find("reset by the peer: no longer needed"), std::string::npos) << error;
  }());
}

}  // namespace

namespace {

/// A session on one end of a loopback connection, and on the other a hostile peer that holds the
/// keys but writes hand-sealed records and never reads.
struct hostile_peer {
  explicit hostile_peer(asio::io_context& io) : raw(io) {}
  std::shared_ptr<session::session> victim;
  net::tcp::socket raw;
  std::optional<session::record_cipher> sealer;
};

net::awaitable<void> make_hostile_peer(asio::io_context& io, hostile_peer& out) {
  net::tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
  net::tcp::socket a(io);
  co_await a.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
  auto b = co_await acceptor.async_accept(asio::use_awaitable);
  const auto victim_keys = identity::generate();
  const auto hostile_keys = identity::generate();
  const auto deadline = net::clock::now() + 10s;
  session::peer_expectation anyone;
  std::vector<std::uint8_t> none_a, none_b;
  auto [ra, rb] = co_await (session::run_handshake(a, std::move(none_a), victim_keys, true, anyone, deadline) &&
                            session::run_handshake(b, std::move(none_b), hostile_keys, false, anyone, deadline));
  if (!ra.keys || !rb.keys) throw std::runtime_error("handshake failed");
  out.victim = std::make_shared<session::session>(std::move(a), *ra.keys, true, std::move(ra.leftover));
  out.sealer.emplace(rb.keys->aead, rb.keys->send);
  out.raw = std::move(b);
  asio::co_spawn(io, out.victim->run(), net::log_escaped("victim session"));
}

TEST(SessionHostile, APingFloodEndsTheSessionAndOpensBehindItAreNeverAccepted) {
  // The peer makes us owe it over 16 MiB of pongs without reading them; opens later in the same
  // reads must not revive streams the failed session released (each would hold the session and
  // its 16 MiB forever: LeakSanitizer sees it in the sanitizer run).
  asio::io_context io;
  hostile_peer peer(io);
  test::run_until_done(io, make_hostile_peer(io, peer));
  std::vector<std::uint8_t> flood;
  std::uint32_t next_stream = 2;  // the responder's parity
  for (int i = 0; i < 800'000; ++i) {
    peer.sealer->seal(session::encode_u64_frame(session::frame_kind::ping, 0, 1), flood);
    if (i % 1000 == 999) {  // 800 opens: under the 1024-stream limits, so a ping is what fails the session
      peer.sealer->seal(session::encode_frame(session::frame_kind::open, next_stream, std::string("{}")), flood);
      next_stream += 2;
    }
  }
  bool accepted_any = false;
  test::run_until_done(io, [&]() -> net::awaitable<void> {
    auto [ec, n] = co_await asio::async_write(peer.raw, asio::buffer(flood), net::use_nothrow);
    (void)n;
    if (ec) co_return;  // the victim closed on us: fine
  }(), 20s);
  test::run_until_done(io, [&]() -> net::awaitable<void> {
    co_await peer.victim->wait_ended();
    // Opens queued before the failure were dropped with it; none arrives afterwards.
    accepted_any = co_await peer.victim->accept_stream() != nullptr;
  }(), 5s);
  EXPECT_FALSE(peer.victim->is_open());
  EXPECT_NE(peer.victim->end_reason().find("stopped reading"), std::string::npos) << peer.victim->end_reason();
  EXPECT_EQ(peer.victim->open_streams(), 0u);
  EXPECT_FALSE(accepted_any);
  std::weak_ptr<session::session> gone = peer.victim;
  peer.victim.reset();
  io.restart();
  io.run_for(200ms);  // the session's coroutines finish and let go
  EXPECT_TRUE(gone.expired()) << "the failed session is still held (a stream <-> session cycle)";
}

}  // namespace
