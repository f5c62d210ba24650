// Connect-by-ID end to end on loopback with the real binaries: data integrity, half-close,
// exit codes, and a direct connection outliving the server.
#include <signal.h>

#include <filesystem>
#include <thread>

#include "tests/loopback_fixture.hpp"

namespace test {
namespace {

using namespace std::chrono_literals;

class ConnectTest : public loopback_test {};

TEST_F(ConnectTest, ListShowsRegisteredPeers) {
  start_server();
  auto bob = start_peer("bob", {"--id", "bob", "listen"});
  ASSERT_TRUE(peer_says("bob", "registered as bob")) << err("bob");
  EXPECT_EQ(run_peer("list", {"list"}), 0) << err("list");
  EXPECT_EQ(out("list"), "bob\n");
  EXPECT_EQ(run_peer("list-json", {"list", "--json"}), 0);
  EXPECT_EQ(out("list-json"), "[\"bob\"]\n");
}

TEST_F(ConnectTest, EightMiBEachWayArriveIntactOverADirectPath) {
  start_server();
  write_random_file(path("to-alice"), 8 << 20, 1);
  write_random_file(path("to-bob"), 8 << 20, 2);
  auto bob = start_peer("bob", {"--id", "bob", "listen"}, path("to-alice"));
  ASSERT_TRUE(peer_says("bob", "registered as bob")) << err("bob");
  auto alice = start_peer("alice", {"connect", "bob", "--json", "--path", "punch-first"}, path("to-bob"));
  EXPECT_EQ(alice->wait_for(60s), 0) << err("alice");
  EXPECT_EQ(bob->wait_for(60s), 0) << err("bob");
  EXPECT_TRUE(out("alice") == read_file(path("to-alice"))) << "alice got " << out("alice").size() << " bytes";
  EXPECT_TRUE(out("bob") == read_file(path("to-bob"))) << "bob got " << out("bob").size() << " bytes";
  EXPECT_NE(err("alice").find(R"("event":"connected")"), std::string::npos) << err("alice");
  EXPECT_NE(err("alice").find(R"("path":"direct")"), std::string::npos) << err("alice");
}

TEST_F(ConnectTest, AutoStartsOnTheRelayAndMovesTheLiveStreamToTheDirectPath) {
  start_server();
  write_random_file(path("to-alice"), 16 << 20, 5);
  write_random_file(path("to-bob"), 16 << 20, 6);
  const auto to_alice = read_file(path("to-alice")), to_bob = read_file(path("to-bob"));
  const auto half = to_alice.size() / 2;
  auto bob = start_peer("bob", {"--id", "bob", "--json", "listen"});
  ASSERT_TRUE(peer_says("bob", "\"registered\"")) << err("bob");
  auto alice = start_peer("alice", {"--json", "connect", "bob"});
  // The first half goes at once, on the relay.
  ASSERT_TRUE(peer_says("alice", "\"connected\"")) << err("alice");
  EXPECT_NE(err("alice").find(R"("path":"relay")"), std::string::npos) << err("alice");
  alice->write_stdin(to_bob.substr(0, half));
  bob->write_stdin(to_alice.substr(0, half));
  // Then both sides move onto the punched path, and the relay pair ends.
  ASSERT_TRUE(peer_says("alice", "\"path_changed\"")) << err("alice");
  ASSERT_TRUE(peer_says("bob", "\"path_changed\"")) << err("bob");
  EXPECT_NE(err("alice").find(R"("to":"direct")"), std::string::npos) << err("alice");
  EXPECT_TRUE(wait_for_text(path("server.err"), "(upgraded to direct, both sides closed)", 5s)) << read_file(path("server.err"));
  // The second half can only go direct; the stream never noticed.
  alice->write_stdin(to_bob.substr(half));
  alice->close_stdin();
  bob->write_stdin(to_alice.substr(half));
  bob->close_stdin();
  EXPECT_EQ(alice->wait_for(60s), 0) << err("alice");
  EXPECT_EQ(bob->wait_for(60s), 0) << err("bob");
  EXPECT_TRUE(out("alice") == to_alice) << "alice got " << out("alice").size() << " bytes";
  EXPECT_TRUE(out("bob") == to_bob) << "bob got " << out("bob").size() << " bytes";
}

TEST_F(ConnectTest, APeerBackOnTheSameNetworkTellsTheServerItsLastNatVerdictAtOnce) {
  start_server();
  {
    auto bob = start_peer("bob", {"--id", "bob", "--json", "--log-level", "info", "listen"});
    ASSERT_TRUE(peer_says("bob", "NAT: ")) << err("bob");
    EXPECT_EQ(err("bob").find("as last seen on this network"), std::string::npos) << err("bob");
    bob->signal(SIGTERM);
    bob->wait_for(5s);
  }
  // The probe's verdict was kept (XDG_STATE_HOME): the next run reports it before probing again.
  EXPECT_TRUE(std::filesystem::exists(path("state/holepunch/nat-cache.json")));
  auto again = start_peer("bob-again", {"--id", "bob", "--json", "--log-level", "info", "listen"});
  ASSERT_TRUE(peer_says("bob-again", "as last seen on this network")) << err("bob-again");
  EXPECT_TRUE(wait_for_text(path("server.err"), "bob is behind", 5s));
}

TEST_F(ConnectTest, AListenerBusyWithAConnectionDeclinesTheNextAndItsCallerExitsFourAtOnce) {
  start_server();
  auto bob = start_peer("bob", {"--id", "bob", "listen"});
  ASSERT_TRUE(peer_says("bob", "registered as bob")) << err("bob");
  auto alice = start_peer("alice", {"connect", "bob"});
  ASSERT_TRUE(peer_says("alice", "connected to bob")) << err("alice");
  // Relay first, carol waits at the relay for bob; his decline must end that wait, not its timeout.
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(run_peer("carol", {"connect", "bob"}), 4) << err("carol");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_NE(err("carol").find("busy"), std::string::npos) << err("carol");
}

TEST_F(ConnectTest, HalfCloseKeepsTheOtherDirectionOpen) {
  start_server();
  expect_half_close_keeps_other_direction({"connect", "bob"});
}

TEST_F(ConnectTest, DirectConnectionOutlivesTheServer) {
  start_server();
  auto bob = start_peer("bob", {"--id", "bob", "listen"});
  ASSERT_TRUE(peer_says("bob", "registered as bob"));
  auto alice = start_peer("alice", {"connect", "bob"});
  ASSERT_TRUE(peer_says("alice", "connected to bob")) << err("alice");
  ASSERT_TRUE(peer_says("bob", "connected to")) << err("bob");
  // It started on the relay (path auto): once direct on both sides, the server is not needed.
  ASSERT_TRUE(peer_says("alice", "is now direct")) << err("alice");
  ASSERT_TRUE(peer_says("bob", "is now direct")) << err("bob");
  server_->signal(SIGKILL);
  ASSERT_TRUE(server_->wait_for(5s).has_value());

  write_random_file(path("blob"), 1 << 20, 4);
  const auto blob = read_file(path("blob"));
  alice->write_stdin(blob);
  alice->close_stdin();
  bob->write_stdin(blob);
  bob->close_stdin();
  EXPECT_EQ(alice->wait_for(20s), 0) << err("alice");
  EXPECT_EQ(bob->wait_for(20s), 0) << err("bob");
  EXPECT_TRUE(out("alice") == blob);
  EXPECT_TRUE(out("bob") == blob);
  EXPECT_NE(err("alice").find("lost the rendezvous server"), std::string::npos) << err("alice");
}

TEST_F(ConnectTest, DuplicateIdIsRefusedWithExitThree) {
  start_server();
  auto bob = start_peer("bob", {"--id", "bob", "listen"});
  ASSERT_TRUE(peer_says("bob", "registered as bob"));
  EXPECT_EQ(run_peer("bob2", {"--id", "bob", "listen"}), 3);
  EXPECT_NE(err("bob2").find("already registered"), std::string::npos) << err("bob2");
  EXPECT_TRUE(bob->running());
}

TEST_F(ConnectTest, UnknownPeerExitsFour) {
  start_server();
  EXPECT_EQ(run_peer("alice", {"connect", "nobody", "--json"}), 4);
  EXPECT_NE(err("alice").find(R"("event":"error")"), std::string::npos) << err("alice");
  EXPECT_NE(err("alice").find("nobody"), std::string::npos);
}

TEST_F(ConnectTest, WrongOrMissingTokenIsRefusedWithExitThree) {
  start_server({"--token", "s3cret"});
  EXPECT_EQ(run_peer("wrong", {"list", "--token", "guess"}), 3);
  EXPECT_NE(err("wrong").find("wrong token"), std::string::npos) << err("wrong");
  EXPECT_EQ(run_peer("none", {"list"}), 3);
  EXPECT_NE(err("none").find("requires a token"), std::string::npos) << err("none");
  EXPECT_EQ(run_peer("right", {"list", "--token", "s3cret"}), 0) << err("right");
  EXPECT_TRUE(wait_for_text(path("server.err"), "wrong token", 5s));
  EXPECT_TRUE(server_->running());
}

TEST_F(ConnectTest, UnreachableServerExitsThree) {
  start_server();
  server_->signal(SIGKILL);
  server_->wait_for(5s);
  EXPECT_EQ(run_peer("alice", {"list"}), 3);
  EXPECT_NE(err("alice").find("cannot reach server"), std::string::npos) << err("alice");
}

TEST_F(ConnectTest, UsageErrorsExitTwo) {
  start_server();
  EXPECT_EQ(run_peer("a", {"frobnicate"}), 2);
  EXPECT_EQ(run_peer("b", {"connect"}), 2);
  EXPECT_EQ(run_peer("c", {"listen"}), 2);  // no --id
  EXPECT_NE(err("c").find("--id"), std::string::npos) << err("c");
  EXPECT_EQ(run_peer("d", {"--json", "connect"}), 2);
  EXPECT_EQ(err("d").rfind(R"({"code":2,"event":"error")", 0), 0u) << err("d");  // still one JSON line
}

}  // namespace
}  // namespace test
