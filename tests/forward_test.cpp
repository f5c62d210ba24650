// Port forwarding with the real binaries: a service behind `peer online` used through a local
// port opened by `peer forward`, many connections on one session, and refusals that close the
// local connection promptly with a logged reason.
#include <atomic>
#include <csignal>
#include <thread>

#include "tests/loopback_fixture.hpp"
#include "tests/support/web.hpp"

namespace test {
namespace {

using namespace std::chrono_literals;

class ForwardTest : public loopback_test {
 protected:
  void SetUp() override {
    loopback_test::SetUp();
    start_server();
    for (int i = 0; i < 50; ++i) files_["page" + std::to_string(i) + ".txt"] = "body of page " + std::to_string(i) + "\n";
    web_ = start_web(path("www"), files_, web_port_);
  }
  std::string web() const { return "127.0.0.1:" + std::to_string(web_port_); }
  /// `peer forward bob` on a free local port to `target`; waits until it listens.
  std::uint16_t start_forward(const std::string& target) {
    const auto port = free_port();
    forward_ = start_peer("fwd", {"forward", "bob", "--listen", std::to_string(port), "--target", target});
    EXPECT_TRUE(peer_says("fwd", "forwarding")) << err("fwd");
    return port;
  }
  std::map<std::string, std::string> files_;
  std::uint16_t web_port_ = 0;
  std::unique_ptr<child_process> web_, forward_;
};

TEST_F(ForwardTest, FiftyConcurrentRequestsShareOneSessionAndAllAnswerRight) {
  auto bob = start_peer("bob", {"--id", "bob", "online", "--allow", web()});
  ASSERT_TRUE(peer_says("bob", "registered as bob")) << err("bob");
  const auto port = start_forward(web());
  std::vector<std::thread> clients;
  std::atomic<int> right{0};
  for (int i = 0; i < 50; ++i) {
    clients.emplace_back([&, i] {
      const auto response = http_get(port, "/page" + std::to_string(i) + ".txt");
      if (response.rfind("HTTP/1.0 200", 0) == 0 && response.find("body of page " + std::to_string(i) + "\n") != std::string::npos) ++right;
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(right.load(), 50) << err("fwd") << err("bob");
  // One session: the server coordinated exactly one attempt.
  const auto log = read_file(path("server.err"));
  std::size_t attempts = 0;
  for (auto at = log.find("started (path"); at != std::string::npos; at = log.find("started (path", at + 1)) ++attempts;
  EXPECT_EQ(attempts, 1u) << log;
}

TEST_F(ForwardTest, TargetNotAllowedIsRefusedWithAReason) {
  auto bob = start_peer("bob", {"--id", "bob", "online", "--allow", web()});
  ASSERT_TRUE(peer_says("bob", "registered as bob")) << err("bob");
  const auto port = start_forward("127.0.0.1:22");
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(http_get(port, "/"), "");  // closed without an answer
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_TRUE(peer_says("fwd", "127.0.0.1:22 is not allowed by bob", 5s)) << err("fwd");
  EXPECT_TRUE(peer_says("bob", "not in --allow", 5s)) << err("bob");
}

TEST_F(ForwardTest, UnreachableTargetClosesTheLocalConnectionPromptly) {
  const auto dead = "127.0.0.1:" + std::to_string(free_port());
  auto bob = start_peer("bob", {"--id", "bob", "online", "--allow", dead});
  ASSERT_TRUE(peer_says("bob", "registered as bob")) << err("bob");
  const auto port = start_forward(dead);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(http_get(port, "/"), "");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_TRUE(peer_says("fwd", "cannot reach " + dead, 5s)) << err("fwd");
}

TEST_F(ForwardTest, JsonEventsShowEachSessionsPathAndEnd) {
  auto bob = start_peer("bob", {"--id", "bob", "online", "--allow", web()});
  ASSERT_TRUE(peer_says("bob", "registered as bob")) << err("bob");
  const auto port = free_port();
  forward_ = start_peer("fwd", {"--json", "forward", "bob", "--listen", std::to_string(port), "--target", web()});
  ASSERT_TRUE(peer_says("fwd", "\"forwarding\"")) << err("fwd");
  for (int i = 0; i < 3; ++i) EXPECT_NE(http_get(port, "/page1.txt").find("body of page 1"), std::string::npos);
  ASSERT_TRUE(peer_says("fwd", "\"connected\"")) << err("fwd");
  const auto log = err("fwd");
  const auto at = log.find("\"event\":\"connected\"");
  const auto line = log.substr(log.rfind('\n', at) + 1, log.find('\n', at) - log.rfind('\n', at) - 1);
  // Relay first (path auto), then the session moves onto the punched path.
  for (const char* field : {"\"path\":\"relay\"", "\"reason\":\"relay first", "\"peer_key\":", "\"cipher\":", "\"elapsed_ms\":"}) {
    EXPECT_NE(line.find(field), std::string::npos) << field << " in " << line;
  }
  ASSERT_TRUE(peer_says("fwd", "\"path_changed\"")) << err("fwd");
  EXPECT_NE(err("fwd").find(R"("to":"direct")"), std::string::npos) << err("fwd");
  for (int i = 0; i < 3; ++i) EXPECT_NE(http_get(port, "/page1.txt").find("body of page 1"), std::string::npos);
  // One session for the three connections: one connected event; and its end is told.
  std::size_t sessions = 0;
  for (auto at = err("fwd").find("\"connected\""); at != std::string::npos; at = err("fwd").find("\"connected\"", at + 1)) ++sessions;
  EXPECT_EQ(sessions, 1u) << err("fwd");
  bob->signal(SIGTERM);
  EXPECT_TRUE(peer_says("fwd", "\"session_ended\"", 5s)) << err("fwd");
  EXPECT_NE(err("fwd").find("\"clean\":true"), std::string::npos) << err("fwd");
  // Connections that ended normally are no warning.
  EXPECT_EQ(err("fwd").find("\"level\":\"warning\""), std::string::npos) << err("fwd");
}

TEST_F(ForwardTest, LosingTheServerBeforeASessionEndsForwardWithExit3) {
  auto bob = start_peer("bob", {"--id", "bob", "online", "--allow", web()});
  ASSERT_TRUE(peer_says("bob", "registered as bob")) << err("bob");
  const auto port = start_forward(web());
  server_.reset();  // no session yet, and now no server to make one
  EXPECT_EQ(http_get(port, "/"), "");
  EXPECT_EQ(forward_->wait_for(10s), 3) << err("fwd");
  EXPECT_NE(err("fwd").find("lost the server"), std::string::npos) << err("fwd");
}

}  // namespace
}  // namespace test
