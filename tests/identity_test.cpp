// Identities end to end with the real binaries: `peer id`, the server's pins across a restart,
// a stolen ID refused, the operator's release-id, and --expect-key.
#include "tests/loopback_fixture.hpp"

namespace test {
namespace {

using namespace std::chrono_literals;

class IdentityEndToEndTest : public loopback_test {
 protected:
  /// The fingerprint `peer id` prints for a key file.
  std::string fingerprint_of(const std::string& key_file) {
    EXPECT_EQ(run_peer("id", {"--identity", key_file, "id"}), 0) << err("id");
    auto text = out("id");
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }
  int rendezvous(const std::vector<std::string>& args) {
    std::vector<std::string> argv{binary("rendezvous"), "--state", path("server-state")};
    argv.insert(argv.end(), args.begin(), args.end());
    child_process child(argv, child_io{"/dev/null", path("admin.out"), path("admin.err")});
    return child.wait_for(10s).value_or(-1);
  }
};

TEST_F(IdentityEndToEndTest, PeerIdIsStableAndTheFileIsPrivate) {
  start_server();  // peer id needs none, but the fixture passes its address
  const auto first = fingerprint_of(path("me.key"));
  EXPECT_EQ(first.size(), 44u) << first;
  EXPECT_EQ(fingerprint_of(path("me.key")), first);
  EXPECT_EQ(std::filesystem::status(path("me.key")).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_NE(fingerprint_of(path("other.key")), first);
}

TEST_F(IdentityEndToEndTest, StolenIdIsRefusedAcrossARestartUntilReleased) {
  start_server();
  EXPECT_EQ(run_peer("bob", {"--id", "bob", "--identity", path("bob.key"), "--punch-timeout", "1", "connect", "nobody"}), 4);
  // Another key claiming bob: refused, with a message saying what to do.
  EXPECT_EQ(run_peer("mallory", {"--id", "bob", "--identity", path("mallory.key"), "connect", "nobody"}), 3);
  EXPECT_NE(err("mallory").find("belongs to another key"), std::string::npos) << err("mallory");
  // The pin survives a server restart.
  server_.reset();
  std::filesystem::remove(path("ready.json"));
  start_server();
  EXPECT_EQ(run_peer("mallory", {"--id", "bob", "--identity", path("mallory.key"), "connect", "nobody"}), 3);
  server_.reset();
  EXPECT_EQ(rendezvous({"list-ids"}), 0) << read_file(path("admin.err"));
  EXPECT_NE(read_file(path("admin.out")).find("bob  " + fingerprint_of(path("bob.key"))), std::string::npos)
      << read_file(path("admin.out"));
  EXPECT_EQ(rendezvous({"release-id", "bob"}), 0) << read_file(path("admin.err"));
  EXPECT_EQ(rendezvous({"release-id", "bob"}), 1);
  std::filesystem::remove(path("ready.json"));
  start_server();
  EXPECT_EQ(run_peer("mallory", {"--id", "bob", "--identity", path("mallory.key"), "connect", "nobody"}), 4)
      << err("mallory");  // registered fine; "nobody" is simply not online
}

TEST_F(IdentityEndToEndTest, ExpectKeyAcceptsTheRightPeerAndRefusesAnother) {
  start_server();
  const auto bob_fingerprint = fingerprint_of(path("id-bob.key"));
  const auto carol_fingerprint = fingerprint_of(path("carol.key"));
  write_file(path("hello"), "hello bob\n");
  {
    auto bob = start_peer("bob", {"--id", "bob", "listen"}, "/dev/null");
    ASSERT_TRUE(peer_says("bob", "registered as bob"));
    auto alice = start_peer("alice", {"--json", "--expect-key", bob_fingerprint, "connect", "bob"}, path("hello"));
    EXPECT_EQ(alice->wait_for(15s), 0) << err("alice");
    EXPECT_NE(err("alice").find("\"peer_key\":\"" + bob_fingerprint + "\""), std::string::npos) << err("alice");
    EXPECT_EQ(bob->wait_for(10s), 0) << err("bob");
    EXPECT_EQ(out("bob"), "hello bob\n");
  }
  // Bob again, under his own log files: the first bob's "registered as bob" must not count.
  auto bob = start_peer("bob2", {"--id", "bob", "listen"}, "/dev/null");
  ASSERT_TRUE(peer_says("bob2", "registered as bob"));
  auto alice = start_peer("alice2", {"--expect-key", carol_fingerprint, "connect", "bob"}, path("hello"));
  EXPECT_EQ(alice->wait_for(15s), 6) << err("alice2");
  EXPECT_NE(err("alice2").find("not the expected " + carol_fingerprint), std::string::npos) << err("alice2");
  EXPECT_EQ(out("bob2"), "");  // not a byte reached bob
}

}  // namespace
}  // namespace test
