// SIGINT, SIGTERM and SIGHUP end each command cleanly, with the real binaries: the session is
// closed with a close record, so the other side sees a close (with the reason), never a
// truncation; and ssh's way of ending its ProxyCommand (our stdin ends, then SIGHUP) leaves both
// sides at exit 0.
#include <csignal>
#include <fstream>
#include <thread>

#include "tests/loopback_fixture.hpp"
#include "tests/support/web.hpp"

namespace test {
namespace {

using namespace std::chrono_literals;

class SignalEndTest : public loopback_test, public ::testing::WithParamInterface<int> {
 protected:
  void SetUp() override {
    loopback_test::SetUp();
    start_server({"--expose-ports", "20000-20999"});
  }
  static std::string name_of(int signal) { return std::string("SIG") + sigabbrev_np(signal); }
  /// Bob listens with his stdin open; alice connects with `alice_stdin` (a file: it ends at once).
  void start_pair(const std::string& alice_stdin) {
    bob_ = start_peer("bob", {"--id", "bob", "--json", "listen"});
    ASSERT_TRUE(peer_says("bob", "\"registered\"")) << err("bob");
    alice_ = start_peer("alice", {"connect", "bob"}, alice_stdin);
    ASSERT_TRUE(peer_says("alice", "connected to bob")) << err("alice");
  }
  std::unique_ptr<child_process> bob_, alice_;
};

TEST_P(SignalEndTest, ConnectSignalledAfterItsInputEndedLeavesBothSidesAtZero) {
  std::ofstream(path("question")) << "what is the time?\n";
  start_pair(path("question"));
  ASSERT_TRUE(wait_for_text(path("bob.out"), "what is the time?\n", 10s)) << err("alice") << err("bob");
  std::this_thread::sleep_for(200ms);
  alice_->signal(GetParam());  // as ssh ends its ProxyCommand
  EXPECT_EQ(alice_->wait_for(5s), 0) << err("alice");
  EXPECT_EQ(bob_->wait_for(5s), 0) << err("bob");
  EXPECT_NE(err("bob").find("\"peer_hung_up\":\"closed by the peer (interrupted by " + name_of(GetParam()) + ")\""),
            std::string::npos) << err("bob");
  EXPECT_EQ(err("bob").find("truncated"), std::string::npos) << err("bob");
}

TEST_P(SignalEndTest, ConnectSignalledMidStreamExits128PlusTheSignalAndTheOtherSideSeesWhy) {
  start_pair("");  // alice's stdin stays open: she is cut short
  alice_->write_stdin("half a sentence");
  ASSERT_TRUE(wait_for_text(path("bob.out"), "half a sentence", 10s)) << err("alice") << err("bob");
  alice_->signal(GetParam());
  EXPECT_EQ(alice_->wait_for(5s), 128 + GetParam()) << err("alice");
  EXPECT_EQ(bob_->wait_for(5s), 1) << err("bob");  // what he received was cut: not a success
  EXPECT_NE(err("bob").find("interrupted by " + name_of(GetParam())), std::string::npos) << err("bob");
  EXPECT_EQ(err("bob").find("truncated"), std::string::npos) << err("bob");
}

TEST_P(SignalEndTest, ListenSignalledMidStreamClosesCleanly) {
  start_pair("");
  alice_->write_stdin("a question");
  ASSERT_TRUE(wait_for_text(path("bob.out"), "a question", 10s)) << err("alice") << err("bob");
  bob_->signal(GetParam());
  EXPECT_EQ(bob_->wait_for(5s), 128 + GetParam()) << err("bob");
  EXPECT_EQ(alice_->wait_for(5s), 1) << err("alice");
  EXPECT_NE(err("alice").find("interrupted by " + name_of(GetParam())), std::string::npos) << err("alice");
  EXPECT_EQ(err("alice").find("truncated"), std::string::npos) << err("alice");
}

TEST_P(SignalEndTest, ReceiveAndExposeStopCleanly) {
  auto receiver = start_peer("receiver", {"--id", "receiver", "receive", "--dir", path("got")}, "/dev/null");
  ASSERT_TRUE(peer_says("receiver", "registered as receiver")) << err("receiver");
  write_random_file(path("big.bin"), 8 << 20, 9);
  auto sender = start_peer("sender", {"--json", "--rate-limit", "1", "send", "receiver", path("big.bin")}, "/dev/null");
  ASSERT_TRUE(peer_says("sender", "\"progress\"", 10s)) << err("sender");
  receiver->signal(GetParam());
  EXPECT_EQ(receiver->wait_for(5s), 128 + GetParam()) << err("receiver");
  EXPECT_NE(sender->wait_for(5s).value_or(0), 0) << err("sender");  // its transfer did not finish
  EXPECT_NE(err("sender").find("interrupted by " + name_of(GetParam())), std::string::npos) << err("sender");
  EXPECT_EQ(err("sender").find("truncated"), std::string::npos) << err("sender");
  // expose: its normal end.
  const auto port = std::to_string(20000 + free_port() % 1000);
  auto expose = start_peer("expose", {"--id", "web", "expose", "--local", "127.0.0.1:1", "--remote-port", port});
  ASSERT_TRUE(peer_says("expose", "exposed")) << err("expose");
  expose->signal(GetParam());
  EXPECT_EQ(expose->wait_for(5s), 0) << err("expose");
}

TEST_P(SignalEndTest, OnlineAndForwardStopWithACleanCloseAndExit0) {
  std::uint16_t web_port = 0;
  auto web = start_web(path("www"), {{"index.txt", "hello\n"}}, web_port);
  const auto target = "127.0.0.1:" + std::to_string(web_port);
  auto box = start_peer("box", {"--id", "box", "online", "--allow", target});
  ASSERT_TRUE(peer_says("box", "registered as box")) << err("box");
  const auto local = free_port();
  auto fwd = start_peer("fwd", {"--json", "forward", "box", "--listen", std::to_string(local), "--target", target});
  ASSERT_TRUE(peer_says("fwd", "forwarding")) << err("fwd");
  ASSERT_NE(http_get(local, "/index.txt").find("hello"), std::string::npos) << err("fwd");
  // The forward stops: the box sees its session closed on purpose.
  fwd->signal(GetParam());
  EXPECT_EQ(fwd->wait_for(5s), 0) << err("fwd");
  EXPECT_TRUE(peer_says("box", "closed by the peer (interrupted by " + name_of(GetParam()) + ")", 5s)) << err("box");
  EXPECT_EQ(err("box").find("truncated"), std::string::npos) << err("box");
  // The box stops while a peer is connected to it: that peer sees a close, not a cut.
  auto user = start_peer("user", {"connect", "box", "--target", target});
  ASSERT_TRUE(peer_says("user", "connected to box")) << err("user");
  box->signal(GetParam());
  EXPECT_EQ(box->wait_for(5s), 0) << err("box");
  user->close_stdin();
  EXPECT_TRUE(user->wait_for(5s).has_value());
  EXPECT_NE(err("user").find("interrupted by " + name_of(GetParam())), std::string::npos) << err("user");
  EXPECT_EQ(err("user").find("truncated"), std::string::npos) << err("user");
}

TEST_P(SignalEndTest, SendInterruptedExits128PlusTheSignalAndTheReceiverSeesAClose) {
  auto box = start_peer("box", {"--id", "box", "online", "--inbox", path("inbox"), "--accept-any"});
  ASSERT_TRUE(peer_says("box", "registered as box")) << err("box");
  write_random_file(path("big.bin"), 8 << 20, 7);
  auto sender = start_peer("sender", {"--id", "sender", "--json", "--rate-limit", "1", "send", "box", path("big.bin")},
                           "/dev/null");
  ASSERT_TRUE(peer_says("sender", "\"progress\"", 10s)) << err("sender");
  sender->signal(GetParam());
  EXPECT_EQ(sender->wait_for(5s), 128 + GetParam()) << err("sender");
  EXPECT_TRUE(peer_says("box", "interrupted by " + name_of(GetParam()), 5s)) << err("box");
  EXPECT_EQ(err("box").find("truncated"), std::string::npos) << err("box");
}

INSTANTIATE_TEST_SUITE_P(Signals, SignalEndTest, ::testing::Values(SIGHUP, SIGINT, SIGTERM),
                         [](const auto& info) { return std::string("SIG") + sigabbrev_np(info.param); });

}  // namespace
}  // namespace test
