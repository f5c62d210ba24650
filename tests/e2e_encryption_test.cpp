// End to end, with the real binaries: what the server's relay carries is ciphertext only, and a
// bit flipped on the way through it ends the session with an error instead of altered data.
// A tap on 127.0.0.2 stands between alice and the server (bound to 127.0.0.1), so alice's
// relay connection passes through it; bob talks to the server directly.
#include <nlohmann/json.hpp>

#include "tests/loopback_fixture.hpp"
#include "tests/support/tap_proxy.hpp"

namespace test {
namespace {

using namespace std::chrono_literals;

class EndToEndEncryptionTest : public loopback_test {
 protected:
  std::vector<std::uint16_t> server_ports() {
    const auto ready = nlohmann::json::parse(read_file(path("ready.json")));
    return {ready["main"].get<std::uint16_t>(), ready["hole"].get<std::uint16_t>(), ready["relay"].get<std::uint16_t>()};
  }
  std::uint16_t relay_port() { return server_ports()[2]; }

  /// Alice connects to bob through the tap over the relay, sending `alice.in`.
  std::unique_ptr<child_process> alice_via_tap() {
    std::vector<std::string> argv{binary("peer"), "--server", "127.0.0.2:" + std::to_string(port_), "--identity",
                                  path("alice.key"), "connect", "bob", "--path", "relay"};
    return std::make_unique<child_process>(argv, child_io{path("alice.in"), path("alice.out"), path("alice.err")});
  }

  void write_secret(std::size_t copies) {
    std::string text;
    for (std::size_t i = 0; i < copies; ++i) text += "TOP-SECRET-PLAINTEXT line " + std::to_string(i) + "\n";
    write_file(path("alice.in"), text);
  }
};

TEST_F(EndToEndEncryptionTest, RelaySeesOnlyCiphertext) {
  start_server();
  tap_proxy tap(server_ports());
  write_file(path("bob.in"), "BOB-SECRET-REPLY\n");
  auto bob = start_peer("bob", {"--id", "bob", "listen"}, path("bob.in"));
  ASSERT_TRUE(peer_says("bob", "registered as bob"));
  write_secret(20000);  // about 600 KB
  auto alice = alice_via_tap();
  EXPECT_EQ(alice->wait_for(20s), 0) << read_file(path("alice.err"));
  EXPECT_EQ(bob->wait_for(10s), 0) << err("bob");
  EXPECT_EQ(out("bob"), read_file(path("alice.in")));
  EXPECT_EQ(out("alice"), "BOB-SECRET-REPLY\n");
  const auto carried = tap.carried(relay_port());
  EXPECT_GT(carried.size(), read_file(path("alice.in")).size());  // all of it went through the relay
  EXPECT_EQ(carried.find("TOP-SECRET"), std::string::npos);
  EXPECT_EQ(carried.find("BOB-SECRET"), std::string::npos);
  EXPECT_EQ(carried.find("line 1234"), std::string::npos);
}

TEST_F(EndToEndEncryptionTest, FlippedBitOnTheRelayPathEndsTheSession) {
  start_server();
  tap_proxy tap(server_ports(), /*flip_after=*/300'000);
  auto bob = start_peer("bob", {"--id", "bob", "listen"}, "/dev/null");
  ASSERT_TRUE(peer_says("bob", "registered as bob"));
  write_secret(40000);  // about 1.2 MB; the flip lands in stream data
  auto alice = alice_via_tap();
  EXPECT_EQ(bob->wait_for(20s), 1) << err("bob");
  EXPECT_NE(err("bob").find("failed authentication"), std::string::npos) << err("bob");
  EXPECT_TRUE(tap.flipped());
  // Whatever bob wrote before the error is a true prefix of what alice sent: nothing altered.
  const auto sent = read_file(path("alice.in"));
  const auto got = out("bob");
  EXPECT_LT(got.size(), sent.size());
  EXPECT_EQ(sent.compare(0, got.size(), got), 0);
  EXPECT_NE(alice->wait_for(20s).value_or(0), 0) << read_file(path("alice.err"));
}

}  // namespace
}  // namespace test
