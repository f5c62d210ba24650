// SIGHUP with the real binaries: the server reads its --config file again and applies a new peer
// limit and a new server-wide token at once, while every connection stays up (peers online, a
// relayed session carrying requests before and after); a file that does not parse is refused and
// logged, and the running settings stay in force.
#include <csignal>
#include <thread>

#include "tests/loopback_fixture.hpp"
#include "tests/support/web.hpp"

namespace test {
namespace {

using namespace std::chrono_literals;

class ReloadTest : public loopback_test {
 protected:
  /// Sends SIGHUP and waits for the server's log to show `needle` once more than it did.
  bool reload_and_expect(const std::string& needle) {
    const auto before = occurrences(needle);
    server_->signal(SIGHUP);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (occurrences(needle) > before) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  std::size_t occurrences(const std::string& needle) const {
    const auto log = read_file(path("server.err"));
    std::size_t count = 0;
    for (auto at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++count;
    return count;
  }
  /// A GET through the forwarded port answers with the page.
  bool page_arrives(std::uint16_t port) {
    const auto response = http_get(port, "/page.txt");
    return response.rfind("HTTP/1.0 200", 0) == 0 && response.find("the page\n") != std::string::npos;
  }
};

TEST_F(ReloadTest, SighupAppliesANewLimitAndTokenAndKeepsEveryConnection) {
  write_file(path("config.json"), R"({"max_peers": 10})");
  start_server({"--config", path("config.json")});
  std::uint16_t web_port = 0;
  auto web = start_web(path("www"), {{"page.txt", "the page\n"}}, web_port);
  const auto target = "127.0.0.1:" + std::to_string(web_port);
  auto bob = start_peer("bob", {"--id", "bob", "online", "--allow", target});
  ASSERT_TRUE(peer_says("bob", "registered as bob")) << err("bob");
  auto carol = start_peer("carol", {"--id", "carol", "online"});
  ASSERT_TRUE(peer_says("carol", "registered as carol")) << err("carol");
  const auto port = free_port();
  auto forward = start_peer("fwd", {"--path", "relay", "forward", "bob", "--listen", std::to_string(port), "--target", target});
  ASSERT_TRUE(peer_says("fwd", "forwarding")) << err("fwd");
  ASSERT_TRUE(page_arrives(port)) << err("fwd") << err("bob");

  // Two peers online, and a limit of two now: newcomers are refused, nobody is dropped.
  write_file(path("config.json"), R"({"max_peers": 2})");
  ASSERT_TRUE(reload_and_expect("config reloaded: max_peers 10 -> 2")) << read_file(path("server.err"));
  {
    auto dave = start_peer("dave", {"--id", "dave", "online"});
    EXPECT_TRUE(peer_says("dave", "peer limit")) << err("dave");
  }
  EXPECT_TRUE(page_arrives(port)) << err("fwd") << err("bob");

  // A file that does not parse changes nothing.
  write_file(path("config.json"), R"({"max_peers": 10,)");
  ASSERT_TRUE(reload_and_expect("config reload refused, the running settings kept")) << read_file(path("server.err"));
  {
    auto erin = start_peer("erin", {"--id", "erin", "online"});
    EXPECT_TRUE(peer_says("erin", "peer limit")) << err("erin");
  }
  // Nor does a setting out of range.
  write_file(path("config.json"), R"({"max_peers": 0})");
  ASSERT_TRUE(reload_and_expect("config reload refused, the running settings kept")) << read_file(path("server.err"));
  {
    auto frank = start_peer("frank", {"--id", "frank", "online"});
    EXPECT_TRUE(peer_says("frank", "peer limit")) << err("frank");
  }

  // A server-wide token, set while they are connected: newcomers need it; those in stay.
  write_file(path("config.json"), R"({"max_peers": 10, "token": "fresh-secret"})");
  ASSERT_TRUE(reload_and_expect("config reloaded: token set, max_peers 2 -> 10")) << read_file(path("server.err"));
  EXPECT_EQ(run_peer("tokenless", {"list"}), 3) << err("tokenless");
  EXPECT_NE(err("tokenless").find("token"), std::string::npos) << err("tokenless");
  EXPECT_EQ(run_peer("holder", {"--token", "fresh-secret", "list"}), 0) << err("holder");

  // Every connection lived through it all: the same relayed session still carries requests.
  EXPECT_TRUE(page_arrives(port)) << err("fwd") << err("bob");
  for (auto* peer : {bob.get(), carol.get(), forward.get()}) EXPECT_TRUE(peer->running());
  EXPECT_EQ(occurrences("started (path"), 1u) << read_file(path("server.err"));
  // And a new connection after the reloads finds the relay and hole-assist ports where they were.
  const auto second_port = free_port();
  auto second = start_peer("fwd2", {"--token", "fresh-secret", "--path", "relay", "forward", "bob", "--listen",
                                    std::to_string(second_port), "--target", target});
  ASSERT_TRUE(peer_says("fwd2", "forwarding")) << err("fwd2");
  EXPECT_TRUE(page_arrives(second_port)) << err("fwd2") << err("bob");
  EXPECT_EQ(occurrences("bob: closed"), 0u) << read_file(path("server.err"));
  EXPECT_EQ(occurrences("carol: closed"), 0u) << read_file(path("server.err"));
}

TEST_F(ReloadTest, SighupWithoutAConfigFileSaysSoAndChangesNothing) {
  start_server();
  ASSERT_TRUE(reload_and_expect("no --config file to read again")) << read_file(path("server.err"));
  EXPECT_EQ(run_peer("after", {"list"}), 0) << err("after");
}

TEST_F(ReloadTest, SettingsThatTakeARestartAreKeptAndSaidSo) {
  write_file(path("config.json"), R"({"stats_interval": 60})");
  start_server({"--config", path("config.json")});
  write_file(path("config.json"), R"({"stats_interval": 1, "node_lease": 30})");
  ASSERT_TRUE(reload_and_expect("config reloaded: stats_interval 60 -> 1")) << read_file(path("server.err"));
  EXPECT_EQ(occurrences("\"node_lease\" changed, which takes a restart"), 1u) << read_file(path("server.err"));
  // The new interval applies at once: a stats line within a few seconds.
  const auto stats_before = occurrences("stats: ");
  std::this_thread::sleep_for(2500ms);
  EXPECT_GT(occurrences("stats: "), stats_before) << read_file(path("server.err"));
}

}  // namespace
}  // namespace test
