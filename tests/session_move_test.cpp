// A session moves from one TCP connection to another mid-flight (a relayed path replaced by a
// punched one): many streams, both directions at once, every byte intact and nothing more on the
// old path; a connection that cannot prove it belongs to the session is refused and the session
// goes on where it was. A session whose path dies (black-holed or cut) resumes on a new
// connection with nothing lost, duplicated or reordered, or ends once nobody gives it one.
#include <gtest/gtest.h>

#include <asio/experimental/awaitable_operators.hpp>

#include "common/spawn.hpp"
#include "session/path_proof.hpp"
#include "tests/session_support.hpp"

namespace {

using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;
using stream_ptr = std::shared_ptr<session::stream>;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr std::size_t each_way = 32u << 20;  // the same test, at a sanitizer's speed
#else
constexpr std::size_t each_way = 200u << 20;
#endif
constexpr std::uint32_t stream_count = 8;
constexpr std::size_t per_stream = each_way / stream_count;

/// A deterministic byte sequence per seed (so a reordered, lost or repeated byte shows).
struct pattern_source {
  std::uint32_t x;
  explicit pattern_source(std::uint32_t seed) : x(seed * 2654435761u + 1) {}
  void fill(std::span<std::uint8_t> out) {
    for (auto& byte : out) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      byte = static_cast<std::uint8_t>(x);
    }
  }
};

struct tally {
  std::size_t received = 0;  ///< bytes checked, all streams, both directions
  int intact = 0;            ///< streams that arrived whole and right
  int sent = 0;              ///< streams written whole
  std::string first_error;
};

net::awaitable<void> send_pattern(stream_ptr s, std::uint32_t seed, std::shared_ptr<tally> t) {
  pattern_source source(seed);
  std::vector<std::uint8_t> chunk(64 * 1024);
  for (std::size_t done = 0; done < per_stream; done += chunk.size()) {
    source.fill(chunk);
    const auto error = co_await s->write(chunk);
    if (!error.empty()) {
      if (t->first_error.empty()) t->first_error = "write: " + error;
      co_return;
    }
  }
  s->shutdown_send();
  ++t->sent;
}

net::awaitable<void> check_pattern(stream_ptr s, std::uint32_t seed, std::shared_ptr<tally> t) {
  pattern_source source(seed);
  std::vector<std::uint8_t> buffer(64 * 1024), expected(64 * 1024);
  std::size_t got = 0;
  for (;;) {
    auto result = co_await s->read_some(buffer);
    if (!result.error.empty()) {
      if (t->first_error.empty()) t->first_error = "read: " + result.error;
      co_return;
    }
    if (result.eof) break;
    source.fill(std::span(expected).first(result.size));
    if (!std::equal(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(result.size), expected.begin())) {
      if (t->first_error.empty()) t->first_error = "stream " + std::to_string(seed) + " differs at byte " + std::to_string(got);
      co_return;
    }
    got += result.size;
    t->received += result.size;
  }
  if (got == per_stream) ++t->intact;
}

/// Accepts `count` streams on `s` and checks each against the pattern its description names.
net::awaitable<void> accept_and_check(std::shared_ptr<session::session> s, std::uint32_t count, std::shared_ptr<tally> t) {
  auto ex = co_await asio::this_coro::executor;
  for (std::uint32_t i = 0; i < count; ++i) {
    auto accepted = co_await s->accept_stream();
    if (!accepted) co_return;
    const std::uint32_t seed = accepted->meta().value("seed", 0u);
    asio::co_spawn(ex, check_pattern(accepted, seed, t), asio::detached);
  }
}

net::awaitable<void> pause(std::chrono::milliseconds how_long) {
  asio::steady_timer timer(co_await asio::this_coro::executor, how_long);
  co_await timer.async_wait(net::use_nothrow);
}

/// Both ends prove a new connection between them; the two reasons ("" each when proved).
net::awaitable<std::pair<std::string, std::string>> prove_both(net::tcp::socket& a, session::path_proof_keys a_keys,
                                                               net::tcp::socket& b, session::path_proof_keys b_keys) {
  std::vector<std::uint8_t> none_a, none_b;
  auto [ra, rb] = co_await (session::prove_path(a, a_keys, std::move(none_a), 5000ms) &&
                            session::prove_path(b, b_keys, std::move(none_b), 5000ms));
  co_return std::make_pair(std::move(ra), std::move(rb));
}

/// One echo round trip on a fresh stream: whether it came back intact.
net::awaitable<bool> echo_works(std::shared_ptr<session::session> from, std::shared_ptr<session::session> to) {
  auto ex = co_await asio::this_coro::executor;
  auto opened = from->open_stream({{"kind", "echo"}});
  if (!opened) co_return false;
  auto accepted = co_await to->accept_stream();
  if (!accepted) co_return false;
  asio::co_spawn(ex, test::echo_stream(accepted), asio::detached);
  const std::string text = "still here";
  const auto error = co_await opened->write(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  if (!error.empty()) co_return false;
  opened->shutdown_send();
  std::string back;
  std::vector<std::uint8_t> buffer(256);
  for (;;) {
    auto result = co_await opened->read_some(buffer);
    if (!result.error.empty()) co_return false;
    if (result.eof) break;
    back.append(reinterpret_cast<const char*>(buffer.data()), result.size);
  }
  co_return back == text;
}

/// Opens the streams both ways and starts their writers and checkers.
net::awaitable<void> start_transfer(const test::session_pair& pair, std::shared_ptr<tally> t) {
  auto ex = co_await asio::this_coro::executor;
  asio::co_spawn(ex, accept_and_check(pair.responder, stream_count, t), asio::detached);
  asio::co_spawn(ex, accept_and_check(pair.initiator, stream_count, t), asio::detached);
  for (std::uint32_t i = 0; i < stream_count; ++i) {
    auto a = pair.initiator->open_stream({{"seed", i + 1}});
    auto b = pair.responder->open_stream({{"seed", 100 + i}});
    if (!a || !b) throw std::runtime_error("could not open the streams");
    asio::co_spawn(ex, send_pattern(a, i + 1, t), asio::detached);
    asio::co_spawn(ex, send_pattern(b, 100 + i, t), asio::detached);
  }
}

/// Waits until every stream both ways arrived (or one failed).
net::awaitable<void> until_transferred(std::shared_ptr<tally> t) {
  while (t->intact + (t->first_error.empty() ? 0 : 1000) < 2 * static_cast<int>(stream_count)) co_await pause(5ms);
}

/// Both ends resume on a fresh connection between them; the two reasons ("" each when resumed).
net::awaitable<std::pair<std::string, std::string>> resume_both(asio::io_context& io, const test::session_pair& pair) {
  auto [a, b] = co_await test::connected_pair(io);
  std::vector<std::uint8_t> none_a, none_b;
  auto [ra, rb] = co_await (pair.initiator->resume_on(std::move(a), std::move(none_a), 5000ms) &&
                            pair.responder->resume_on(std::move(b), std::move(none_b), 5000ms));
  co_return std::make_pair(std::move(ra), std::move(rb));
}

/// Options of a session that may lose its path: noticed within 400 ms, a new one awaited 10 s.
session::session_options resumable_options() {
  session::session_options options;
  options.lost_after = 400ms;
  options.resume_wait = 10'000ms;
  return options;
}

class SessionMoveTest : public ::testing::Test {
 protected:
  asio::io_context io_;
};

TEST_F(SessionMoveTest, ManyStreamsBothWaysMoveToANewConnectionMidFlightIntact) {
  // The first path runs through a forwarder (our stand-in for the relay) that counts what it carries.
  auto old_path_bytes = std::make_shared<std::size_t>(0);
  auto pair = test::make_session_pair(io_, {}, [old_path_bytes](std::vector<std::uint8_t>& chunk) {
    *old_path_bytes += chunk.size();
    return test::tap_action::pass;
  });
  auto t = std::make_shared<tally>();
  std::string move_a = "not run", move_b = "not run";
  std::size_t old_bytes_at_move = 0, received_at_move = 0;
  bool fresh_stream_after_move = false;
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    co_await start_transfer(pair, t);
    // A quarter of the way, in both directions at once: a new connection, proved, then the move.
    while (t->received < each_way / 2 && t->first_error.empty()) co_await pause(2ms);
    auto [direct_a, direct_b] = co_await test::connected_pair(io_);
    const auto keys_a = *pair.initiator->path_keys();
    const auto keys_b = *pair.responder->path_keys();
    auto [proof_a, proof_b] = co_await prove_both(direct_a, keys_a, direct_b, keys_b);
    if (!proof_a.empty() || !proof_b.empty()) throw std::runtime_error("proof failed: " + proof_a + " / " + proof_b);
    auto [ma, mb] = co_await (pair.initiator->move_to(std::move(direct_a), 10'000ms) &&
                              pair.responder->move_to(std::move(direct_b), 10'000ms));
    move_a = ma;
    move_b = mb;
    old_bytes_at_move = *old_path_bytes;
    received_at_move = t->received;
    co_await until_transferred(t);
    fresh_stream_after_move = co_await echo_works(pair.initiator, pair.responder);
  }(), 300s);
  EXPECT_EQ(move_a, "");
  EXPECT_EQ(move_b, "");
  EXPECT_EQ(t->first_error, "");
  EXPECT_EQ(t->intact, 2 * static_cast<int>(stream_count));
  EXPECT_EQ(t->sent, 2 * static_cast<int>(stream_count));
  EXPECT_EQ(pair.initiator->moves(), 1);
  EXPECT_EQ(pair.responder->moves(), 1);
  // The move happened mid-flight, and after it the old path carried nothing more.
  EXPECT_LT(received_at_move, 2 * each_way);
  EXPECT_EQ(*old_path_bytes, old_bytes_at_move);
  EXPECT_TRUE(fresh_stream_after_move);
  EXPECT_TRUE(pair.initiator->is_open());
}

TEST_F(SessionMoveTest, AConnectionThatCannotProveItselfIsRefusedAndTheSessionStays) {
  auto pair = test::make_session_pair(io_);
  std::pair<std::string, std::string> proofs;
  bool still_works = false;
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    auto [ours, forged] = co_await test::connected_pair(io_);
    const auto keys = *pair.initiator->path_keys();
    session::path_proof_keys guessed;  // an impostor (the server, say) without the session's keys
    guessed.mine.fill(7);
    guessed.theirs = keys.mine;  // it may even know what our proof looks like: it still cannot make its own
    proofs = co_await prove_both(ours, keys, forged, guessed);
    still_works = co_await echo_works(pair.initiator, pair.responder);
  }());
  EXPECT_NE(proofs.first.find("not from our session's peer"), std::string::npos) << proofs.first;
  EXPECT_NE(proofs.second, "");
  EXPECT_TRUE(still_works);
  EXPECT_EQ(pair.initiator->moves(), 0);
}

TEST_F(SessionMoveTest, APeerThatMovesToAPathWeNeverGotEndsTheSessionWithTheReason) {
  session::session_options options;
  options.move_timeout = 300ms;
  auto pair = test::make_session_pair(io_, options);
  std::string moved;
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    auto [a, b] = co_await test::connected_pair(io_);
    const auto keys_a = *pair.initiator->path_keys();
    const auto keys_b = *pair.responder->path_keys();
    co_await prove_both(a, keys_a, b, keys_b);
    // The initiator moves; the responder never takes its end of the new path.
    moved = co_await pair.initiator->move_to(std::move(a), 3000ms);
    co_await pair.responder->wait_ended();
  }());
  EXPECT_NE(moved, "");
  EXPECT_NE(pair.responder->end_reason().find("a path we do not have"), std::string::npos) << pair.responder->end_reason();
}

TEST_F(SessionMoveTest, ASessionThatClosesWhileThePeerMovesStillEndsCleanly) {
  // Our close goes out on the old path while the peer moves its writing onto the new one: our
  // end must still take the new path, where the answer to our close comes.
  auto pair = test::make_session_pair(io_);
  std::pair<std::string, std::string> moves{"not run", "not run"};
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    auto [a, b] = co_await test::connected_pair(io_);
    const auto keys_a = *pair.initiator->path_keys();
    const auto keys_b = *pair.responder->path_keys();
    co_await prove_both(a, keys_a, b, keys_b);
    pair.initiator->close("done");
    auto [ma, mb] = co_await (pair.initiator->move_to(std::move(a), 3000ms) && pair.responder->move_to(std::move(b), 3000ms));
    moves = {ma, mb};
    co_await pair.initiator->wait_ended();
    co_await pair.responder->wait_ended();
  }());
  EXPECT_TRUE(pair.initiator->clean()) << pair.initiator->end_reason() << " / moves: " << moves.first;
  EXPECT_TRUE(pair.responder->clean()) << pair.responder->end_reason() << " / moves: " << moves.second;
}

TEST_F(SessionMoveTest, AnUnprotectedSessionCannotMove) {
  auto pair = test::make_unprotected_pair(io_);
  std::string why;
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    auto [a, b] = co_await test::connected_pair(io_);
    why = co_await pair.initiator->move_to(std::move(a), 1000ms);
  }());
  EXPECT_FALSE(pair.initiator->path_keys());
  EXPECT_NE(why.find("unprotected"), std::string::npos);
}

TEST_F(SessionMoveTest, APathThatGoesSilentMidFlightIsLostAndTheSessionResumesOnANewOneIntact) {
  // Bytes from the initiator vanish a quarter of the way (a NAT dropped the mapping): its pings
  // go unanswered, and so do the responder's pongs. Records written into the hole are resent.
  auto forwarded = std::make_shared<std::size_t>(0);
  auto pair = test::make_session_pair(io_, resumable_options(), [forwarded](std::vector<std::uint8_t>& chunk) {
    if (*forwarded >= each_way / 4) return test::tap_action::drop;
    *forwarded += chunk.size();
    return test::tap_action::pass;
  });
  auto t = std::make_shared<tally>();
  std::pair<std::string, std::string> resumed{"not run", "not run"};
  std::string lost_a, lost_b;
  bool fresh_stream_after = false;
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    co_await start_transfer(pair, t);
    lost_a = co_await pair.initiator->wait_path_lost();
    lost_b = co_await pair.responder->wait_path_lost();
    resumed = co_await resume_both(io_, pair);
    co_await until_transferred(t);
    fresh_stream_after = co_await echo_works(pair.initiator, pair.responder);
  }(), 300s);
  // A black hole shows only as unanswered pings; the side that notices first closes its end,
  // which the other may see as the connection ending (the test's forwarder passes that on).
  const auto by_pings = [](const std::string& why) { return why.find("no answer to our pings") != std::string::npos; };
  EXPECT_TRUE(by_pings(lost_a) || by_pings(lost_b)) << lost_a << " / " << lost_b;
  EXPECT_NE(lost_a, "");
  EXPECT_NE(lost_b, "");
  EXPECT_EQ(resumed.first, "");
  EXPECT_EQ(resumed.second, "");
  EXPECT_EQ(t->first_error, "");
  EXPECT_EQ(t->intact, 2 * static_cast<int>(stream_count));
  EXPECT_EQ(pair.initiator->resumes(), 1);
  EXPECT_EQ(pair.responder->resumes(), 1);
  EXPECT_TRUE(fresh_stream_after);
  EXPECT_TRUE(pair.initiator->is_open());
}

TEST_F(SessionMoveTest, ACutPathResumesEvenWhenOneSideHadNotNoticedYet) {
  // The path ends with a FIN towards the responder; the initiator is given the new path at once,
  // before its own pings could tell it anything.
  auto forwarded = std::make_shared<std::size_t>(0);
  auto pair = test::make_session_pair(io_, resumable_options(), [forwarded](std::vector<std::uint8_t>& chunk) {
    *forwarded += chunk.size();
    return *forwarded > each_way / 3 ? test::tap_action::cut : test::tap_action::pass;
  });
  auto t = std::make_shared<tally>();
  std::pair<std::string, std::string> resumed{"not run", "not run"};
  std::string lost_b;
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    co_await start_transfer(pair, t);
    lost_b = co_await pair.responder->wait_path_lost();
    resumed = co_await resume_both(io_, pair);
    co_await until_transferred(t);
  }(), 300s);
  EXPECT_NE(lost_b.find("without a close record"), std::string::npos) << lost_b;
  EXPECT_EQ(resumed.first, "");
  EXPECT_EQ(resumed.second, "");
  EXPECT_EQ(t->first_error, "");
  EXPECT_EQ(t->intact, 2 * static_cast<int>(stream_count));
}

TEST_F(SessionMoveTest, ALostPathThatNobodyReplacesEndsTheSessionWithTheReason) {
  auto options = resumable_options();
  options.resume_wait = 600ms;
  auto cut = std::make_shared<bool>(false);  // (after the handshake)
  auto pair = test::make_session_pair(io_, options, [cut](std::vector<std::uint8_t>&) {
    return *cut ? test::tap_action::cut : test::tap_action::pass;
  });
  std::string lost;
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    *cut = true;
    auto s = pair.initiator->open_stream({{"kind", "anything"}});  // its open record hits the cut
    lost = co_await pair.responder->wait_path_lost();
    co_await pair.responder->wait_ended();
    co_await pair.initiator->wait_ended();
  }());
  EXPECT_NE(lost, "");
  EXPECT_NE(pair.responder->end_reason().find("no new one came within 0.6 s"), std::string::npos) << pair.responder->end_reason();
  EXPECT_NE(pair.initiator->end_reason().find("no new one came within"), std::string::npos) << pair.initiator->end_reason();
}

TEST_F(SessionMoveTest, AResumeOverAConnectionThatCannotProveItselfLeavesTheSessionLost) {
  auto pair = test::make_session_pair(io_, resumable_options());
  std::string why;
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    auto [ours, forged] = co_await test::connected_pair(io_);
    session::path_proof_keys guessed;
    guessed.mine.fill(9);
    std::vector<std::uint8_t> none_a, none_b, statement(16), theirs;
    auto [a, b] = co_await (pair.initiator->resume_on(std::move(ours), std::move(none_a), 3000ms) &&
                            session::prove_path_stating(forged, guessed, std::move(none_b), 3000ms, std::move(statement), &theirs));
    why = a;
  }());
  EXPECT_NE(why.find("failed its proof"), std::string::npos) << why;
  EXPECT_TRUE(pair.initiator->path_lost());
  EXPECT_EQ(pair.initiator->resumes(), 0);
}

TEST_F(SessionMoveTest, SessionsOfferResumptionInTheHandshake) {
  auto pair = test::make_session_pair(io_, resumable_options());
  EXPECT_TRUE(pair.initiator->resumable());
  EXPECT_TRUE(pair.responder->resumable());
  EXPECT_EQ(pair.initiator->tag(), pair.responder->tag());
  EXPECT_EQ(pair.initiator->tag().size(), 32u);
  auto plain = test::make_session_pair(io_);  // resume_wait 0: a dead path ends the session, as before
  EXPECT_FALSE(plain.initiator->resumable());
  EXPECT_NE(plain.initiator->tag(), pair.initiator->tag());
}

}  // namespace
