// Bad input never wins: hostile or broken clients get an error or a close with a logged reason,
// and a working pair of peers keeps working throughout.
#include <signal.h>

#include <thread>

#include "tests/loopback_fixture.hpp"
#include "common/frame_codec.hpp"
#include "common/identity.hpp"
#include "tests/support/raw_client.hpp"

namespace test {
namespace {

using namespace std::chrono_literals;

class ServerHygieneTest : public loopback_test {
 protected:
  /// Completes the hello/auth handshake on a raw connection (server without token), proving one
  /// identity key shared by every raw client of the test run (so an ID can register again).
  static void authenticate(raw_client& client) { ASSERT_TRUE(client.authenticate()); }
};

TEST_F(ServerHygieneTest, MalformedFramesAndSilenceDoNotDisturbAWorkingPair) {
  start_server({"--handshake-timeout", "1"});
  auto bob = start_peer("bob", {"--id", "bob", "listen"});
  ASSERT_TRUE(peer_says("bob", "registered as bob"));
  auto alice = start_peer("alice", {"connect", "bob"});
  ASSERT_TRUE(peer_says("alice", "connected to bob")) << err("alice");

  {  // A length prefix far over the 64 KiB cap: an error frame, then the server closes.
    raw_client client(port_);
    client.read_message(5s);  // hello
    client.send_bytes(std::string("\xff\xff\xff\xff", 4));
    auto reply = client.read_message(5s);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ((*reply)["code"], "malformed_frame");
    EXPECT_TRUE(client.closed_within(5s));
  }
  {  // A body that is not JSON.
    raw_client client(port_);
    client.read_message(5s);
    client.send_bytes(std::string("\x00\x00\x00\x05{]]]x", 9));
    auto reply = client.read_message(5s);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ((*reply)["code"], "malformed_frame");
    EXPECT_TRUE(client.closed_within(5s));
  }
  {  // A truncated frame and then silence: closed by the handshake deadline.
    raw_client client(port_);
    client.send_bytes(std::string("\x00\x00\x01\x00{\"ty", 8));
    EXPECT_TRUE(client.closed_within(5s));
  }
  {  // Connects and says nothing at all.
    raw_client client(port_);
    EXPECT_TRUE(client.closed_within(5s));
  }
  EXPECT_TRUE(wait_for_text(path("server.err"), "malformed frame", 5s)) << read_file(path("server.err"));
  EXPECT_TRUE(wait_for_text(path("server.err"), "no handshake within 1 s", 5s));

  // The pair still moves data, and the server still answers.
  alice->write_stdin("still here\n");
  alice->close_stdin();
  bob->write_stdin("me too\n");
  bob->close_stdin();
  EXPECT_EQ(alice->wait_for(10s), 0) << err("alice");
  EXPECT_EQ(bob->wait_for(10s), 0) << err("bob");
  EXPECT_EQ(out("bob"), "still here\n");
  EXPECT_EQ(out("alice"), "me too\n");
  EXPECT_EQ(run_peer("list", {"list"}), 0);
  EXPECT_TRUE(server_->running());
}

TEST_F(ServerHygieneTest, UnknownTypesAndBadFieldsGetErrorsAndTheConnectionStays) {
  start_server();
  raw_client client(port_);
  authenticate(client);
  client.send_message({{"type", "teleport"}, {"req", 1}});
  auto reply = client.read_message(5s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["code"], "unknown_type");
  client.send_message({{"type", "register"}, {"id", 12345}});
  reply = client.read_message(5s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["type"], "error");
  client.send_message({{"type", "register"}, {"id", "bad id!"}, {"req", 2}});
  reply = client.read_message(5s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["code"], "invalid_id");
  client.send_message({{"type", "register"}, {"id", "carol"}, {"req", 3}});
  reply = client.read_message(5s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["type"], "registered");
  EXPECT_EQ(run_peer("list", {"list"}), 0);
  EXPECT_EQ(out("list"), "carol\n");
}

TEST_F(ServerHygieneTest, AnAuthMessageWithFieldsOfTheWrongTypeGetsARefusalNotTheBugPath) {
  start_server();
  raw_client client(port_);
  ASSERT_TRUE(client.read_message(5s).has_value());
  client.send_message(nlohmann::json::parse(R"({"type":"auth","proof":"","key":12345,"key_sig":[]})"));
  auto reply = client.read_message(5s);
  ASSERT_TRUE(reply.has_value()) << read_file(path("server.err"));
  EXPECT_EQ((*reply)["code"], "bad_request");
  EXPECT_NE(reply->value("message", "").find("\"key\" must be a string"), std::string::npos) << reply->dump();
  EXPECT_TRUE(client.closed_within(5s));
  EXPECT_EQ(read_file(path("server.err")).find("session failed"), std::string::npos) << read_file(path("server.err"));
  EXPECT_TRUE(server_->running());
}

TEST_F(ServerHygieneTest, NumbersOutOfRangeAreRefusedByName) {
  start_server({"--expose-ports", "40000-40010"});
  raw_client client(port_);
  authenticate(client);
  client.send_message(nlohmann::json::parse(R"({"type":"list","req":1e300})"));
  auto reply = client.read_message(5s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["type"], "peers");
  EXPECT_EQ((*reply)["req"], 0);  // an unusable request number is echoed as 0, never cast
  client.send_message({{"type", "register"}, {"id", "numbers"}, {"req", 1}});
  ASSERT_TRUE(client.read_message(5s).has_value());
  client.send_message(nlohmann::json::parse(R"({"type":"expose","port":1e300,"req":2})"));
  reply = client.read_message(5s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["code"], "bad_request");
  EXPECT_EQ((*reply)["req"], 2);
  EXPECT_EQ((*reply)["message"], "field \"port\" must be an integer from 0 to 65535");
  raw_client target(port_);
  authenticate(target);
  target.send_message({{"type", "register"}, {"id", "target"}, {"req", 1}});
  ASSERT_TRUE(target.read_message(5s).has_value());
  client.send_message(nlohmann::json::parse(R"({"type":"connect","target":"target","punch_timeout_ms":-1e300,"req":3})"));
  reply = client.read_message(5s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["code"], "bad_request");
  EXPECT_TRUE(server_->running());
}

TEST_F(ServerHygieneTest, ValuesNestedDeeperThanAnyMessageNeedsAreRefusedOnEveryPort) {
  start_server();
  const std::string body = "{\"type\":\"hole\",\"private\":" + std::string(32700, '[') + std::string(32700, ']') + "}";
  std::string frame(4, '\0');
  const auto n = static_cast<std::uint32_t>(body.size());
  for (int i = 0; i < 4; ++i) frame[static_cast<std::size_t>(i)] = static_cast<char>(n >> (24 - 8 * i));
  frame += body;
  for (const auto port : {port_, hole_port_, relay_port_, probe_port_}) {
    raw_client client(port);
    client.send_bytes(frame);
    EXPECT_TRUE(client.closed_within(5s)) << "port " << port;
  }
  EXPECT_TRUE(wait_for_text(path("server.err"), "nested deeper than 32 levels", 5s)) << read_file(path("server.err"));
  EXPECT_TRUE(server_->running());
  EXPECT_EQ(run_peer("list", {"list"}), 0) << err("list");
}

TEST_F(ServerHygieneTest, RequestsBeforeAuthAreRefused) {
  start_server();
  raw_client client(port_);
  client.read_message(5s);
  client.send_message({{"type", "list"}, {"req", 1}});
  auto reply = client.read_message(5s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["code"], "auth_required");
  EXPECT_TRUE(client.closed_within(5s));
}

TEST_F(ServerHygieneTest, FloodFromOneAddressIsCappedAndOthersStillServed) {
  start_server({"--max-handshakes-per-ip", "8"});
  auto bob = start_peer("bob", {"--id", "bob", "listen"});
  ASSERT_TRUE(peer_says("bob", "registered as bob"));
  std::vector<std::unique_ptr<raw_client>> flood;
  for (int i = 0; i < 20; ++i) flood.push_back(std::make_unique<raw_client>(port_));
  // bob has authenticated and no longer counts; 8 silent connections are admitted, 12 closed at once.
  int closed = 0;
  for (auto& client : flood) closed += client->closed_within(300ms) ? 1 : 0;
  EXPECT_EQ(closed, 12);
  EXPECT_TRUE(wait_for_text(path("server.err"), "too many handshaking connections from 127.0.0.1", 5s));
  flood.clear();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(run_peer("list", {"list"}), 0) << err("list");
  EXPECT_EQ(out("list"), "bob\n");
}

TEST_F(ServerHygieneTest, SilentRegisteredPeerIsDroppedWithinPeerTimeout) {
  start_server({"--peer-timeout", "2"});
  raw_client client(port_);
  authenticate(client);
  client.send_message({{"type", "register"}, {"id", "ghost"}, {"req", 1}});
  ASSERT_TRUE(client.read_message(5s).has_value());
  // The raw client never answers pings: the server must drop it and free the ID.
  EXPECT_TRUE(client.closed_within(6s));
  EXPECT_TRUE(wait_for_text(path("server.err"), "ghost left (silent too long", 5s)) << read_file(path("server.err"));
  EXPECT_EQ(run_peer("list", {"list"}), 0);
  EXPECT_EQ(out("list"), "");
}

TEST_F(ServerHygieneTest, FramesPipelinedBehindAWrongTokenAreNeverHandled) {
  start_server({"--token", "s3cret"});
  auto bob = start_peer("bob", {"--id", "bob", "--token", "s3cret", "listen"});
  ASSERT_TRUE(peer_says("bob", "registered as bob"));
  raw_client client(port_);
  client.read_message(5s);
  // One write: a bad proof with requests right behind it, all decoded before auth is judged.
  auto bytes = wire::encode({{"type", "auth"}, {"proof", "bad"}});
  for (const auto& m : {nlohmann::json{{"type", "register"}, {"id", "mallory"}},
                        nlohmann::json{{"type", "connect"}, {"target", "bob"}}}) {
    auto more = wire::encode(m);
    bytes.insert(bytes.end(), more.begin(), more.end());
  }
  client.send_bytes(std::string(bytes.begin(), bytes.end()));
  auto reply = client.read_message(5s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["code"], "auth_failed");
  EXPECT_TRUE(client.closed_within(5s));
  EXPECT_EQ(run_peer("list", {"list", "--token", "s3cret"}), 0);
  EXPECT_EQ(out("list"), "bob\n");  // mallory never registered
  EXPECT_EQ(read_file(path("bob.err")).find("incoming"), std::string::npos) << "bob was sent an attempt";
}

TEST_F(ServerHygieneTest, HostileHeartbeatsAndHugeEchoesNeverStrandAnId) {
  start_server();
  {
    raw_client client(port_);
    authenticate(client);
    client.send_message({{"type", "register"}, {"id", "dave"}, {"req", 1}});
    ASSERT_TRUE(client.read_message(5s).has_value());
    client.send_message({{"type", "ping"}, {"t", "not-a-number"}});
    client.send_message({{"type", "pong"}, {"t", nullptr}});
    client.send_message({{"type", std::string(60000, 'x')}, {"req", 2}});  // echoed back clipped
    client.send_message({{"type", "decline"}, {"attempt", "nope"}, {"reason", std::string(60000, 'y')}});
    auto reply = client.read_message(5s);
    while (reply && (*reply)["type"] == "pong") reply = client.read_message(5s);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ((*reply)["code"], "unknown_type");
    EXPECT_LT(reply->dump().size(), 1000u);
  }  // dave disconnects: the ID must be free again
  std::this_thread::sleep_for(300ms);
  raw_client again(port_);
  authenticate(again);
  again.send_message({{"type", "register"}, {"id", "dave"}, {"req", 3}});
  auto reply = again.read_message(5s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ((*reply)["type"], "registered") << reply->dump();
  EXPECT_TRUE(server_->running());
}

TEST_F(ServerHygieneTest, ConnectFloodIsCappedAndTheTargetStaysOnline) {
  start_server();
  auto bob = start_peer("bob", {"--id", "bob", "listen"});
  ASSERT_TRUE(peer_says("bob", "registered as bob"));
  raw_client client(port_);
  authenticate(client);
  for (int i = 0; i < 50; ++i) client.send_message({{"type", "connect"}, {"target", "bob"}, {"req", i + 1}});
  int attempts = 0, busy = 0, limited = 0;
  for (int i = 0; i < 50; ++i) {
    auto reply = client.read_message(5s);
    ASSERT_TRUE(reply.has_value()) << "reply " << i;
    if ((*reply)["type"] == "attempt") ++attempts;
    if ((*reply).value("code", "") == "busy") ++busy;
    if ((*reply).value("code", "") == "rate_limited") ++limited;
  }
  EXPECT_EQ(attempts, 2);  // at most two attempts from one requester to one target
  // The rest of the burst of 10 is busy; beyond it, 2 a second (the budget refills a little
  // while the 50 are read, themselves slowed to 20 requests a second after a burst of 40).
  EXPECT_GE(busy, 8);
  EXPECT_GE(limited, 36);
  EXPECT_EQ(busy + limited, 48);
  // The flooder never joined its attempts, so bob never heard of them.
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(err("bob").find("incoming"), std::string::npos) << err("bob");
  EXPECT_EQ(run_peer("list", {"list"}), 0);
  EXPECT_EQ(out("list"), "bob\n");
}

TEST_F(ServerHygieneTest, ListIsCappedFarBelowTheFrameLimitAndSaysSo) {
  start_server();
  std::vector<std::unique_ptr<raw_client>> peers;
  for (int i = 0; i < 501; ++i) {
    peers.push_back(std::make_unique<raw_client>(port_));
    authenticate(*peers.back());
    peers.back()->send_message({{"type", "register"}, {"id", "peer-" + std::to_string(i)}, {"req", 1}});
    ASSERT_TRUE(peers.back()->read_message(5s).has_value());
  }
  EXPECT_EQ(run_peer("list", {"list", "--json"}), 0) << err("list");
  EXPECT_EQ(nlohmann::json::parse(out("list")).size(), 500u);
  EXPECT_NE(err("list").find("the server lists 500 of 501 peers online"), std::string::npos) << err("list");
}

TEST_F(ServerHygieneTest, SigtermWithPeersConnectedExitsCleanly) {
  start_server();
  auto bob = start_peer("bob", {"--id", "bob", "listen"});
  ASSERT_TRUE(peer_says("bob", "registered as bob"));
  raw_client silent(port_);  // one unauthenticated connection too
  server_->signal(SIGTERM);
  EXPECT_EQ(server_->wait_for(10s), 0) << read_file(path("server.err"));
  EXPECT_TRUE(wait_for_text(path("server.err"), "stopped", 1s));
  EXPECT_EQ(bob->wait_for(10s), 3) << err("bob");  // listen loses its server: exit 3
}

}  // namespace
}  // namespace test
