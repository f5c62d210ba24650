// The relay and the reverse-proxy mode on loopback with the real binaries and a real HTTP server.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <filesystem>
#include <thread>

#include "tests/loopback_fixture.hpp"
#include "tests/support/raw_client.hpp"
#include "tests/support/web.hpp"

namespace test {
namespace {

using namespace std::chrono_literals;

int open_fds(pid_t pid) {
  int n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) ++n;
  return n;
}

/// The descriptor count once it has held still for 300 ms (an exposer's pool fills after it says "exposed").
int settled_fds(pid_t pid) {
  int last = open_fds(pid);
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(300ms);
    const int now = open_fds(pid);
    if (now == last) return now;
    last = now;
  }
  return last;
}

class RelayTest : public loopback_test {
 protected:
  /// Starts python's http.server on a free port serving `files` (name -> content).
  void start_web(const std::map<std::string, std::string>& files) { web_ = test::start_web(path("www"), files, web_port_); }
  std::unique_ptr<child_process> start_expose(const std::string& name, int remote_port, std::uint16_t local_port,
                                              std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--id", name, "expose", "--local", "127.0.0.1:" + std::to_string(local_port),
                                  "--remote-port", std::to_string(remote_port)};
    args.insert(args.end(), extra.begin(), extra.end());
    return start_peer(name, args);
  }
  /// Lines of the server's log that contain `needle`.
  std::size_t server_lines_with(const std::string& needle) const {
    const auto log = read_file(path("server.err"));
    std::size_t n = 0;
    for (auto at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
    return n;
  }
  std::uint16_t web_port_ = 0;
  std::unique_ptr<child_process> web_;
};

TEST_F(RelayTest, ForcedRelayCarries64MiBEachWayIntact) {
  start_server();
  write_random_file(path("to-alice"), 64 << 20, 5);
  write_random_file(path("to-bob"), 64 << 20, 6);
  auto bob = start_peer("bob", {"--id", "bob", "listen"}, path("to-alice"));
  ASSERT_TRUE(peer_says("bob", "registered as bob"));
  auto alice = start_peer("alice", {"connect", "bob", "--path", "relay", "--json"}, path("to-bob"));
  EXPECT_EQ(alice->wait_for(120s), 0) << err("alice");
  EXPECT_EQ(bob->wait_for(120s), 0) << err("bob");
  EXPECT_TRUE(out("alice") == read_file(path("to-alice"))) << "alice got " << out("alice").size() << " bytes";
  EXPECT_TRUE(out("bob") == read_file(path("to-bob"))) << "bob got " << out("bob").size() << " bytes";
  EXPECT_NE(err("alice").find(R"("path":"relay")"), std::string::npos) << err("alice");
  // The per-pair accounting line: each side sent its 64 MiB plus the attempt handshake.
  EXPECT_TRUE(wait_for_text(path("server.err"), "<-> bob ended after", 5s)) << read_file(path("server.err"));
  EXPECT_NE(read_file(path("server.err")).find("bob sent 671"), std::string::npos);
}

TEST_F(RelayTest, RelayedHalfCloseKeepsTheOtherDirectionOpen) {
  start_server();
  expect_half_close_keeps_other_direction({"connect", "bob", "--path", "relay"});
}

TEST_F(RelayTest, DirectOnlyPathDoesNotFallBack) {
  start_server();
  auto bob = start_peer("bob", {"--id", "bob", "listen"}, "/dev/null");
  ASSERT_TRUE(peer_says("bob", "registered as bob"));
  auto alice = start_peer("alice", {"connect", "bob", "--path", "direct", "--json"}, "/dev/null");
  EXPECT_EQ(alice->wait_for(20s), 0) << err("alice");
  EXPECT_NE(err("alice").find(R"("path":"direct")"), std::string::npos);
}

TEST_F(RelayTest, VanishedSideIsDetectedByTheSessionKeepalive) {
  // The session's keep-alives are relay traffic, so the relay's idle timeout no longer ends a
  // pair with one live side; the live side's dead-path timeout must.
  start_server();
  auto bob = start_peer("bob", {"--id", "bob", "--dead-after", "2", "listen"}, "/dev/null");
  ASSERT_TRUE(peer_says("bob", "registered as bob"));
  auto alice = start_peer("alice", {"connect", "bob", "--path", "relay"});
  ASSERT_TRUE(peer_says("bob", "connected to")) << err("bob");
  alice->write_stdin("last words\n");
  ASSERT_TRUE(wait_for_text(path("bob.out"), "last words", 5s));
  alice->signal(SIGSTOP);  // alive to TCP, silent to the relay
  const auto stopped = std::chrono::steady_clock::now();
  EXPECT_EQ(bob->wait_for(8s), 1) << err("bob");
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, 5s);
  EXPECT_NE(err("bob").find("the path is dead"), std::string::npos) << err("bob");
  alice->signal(SIGCONT);
}

TEST_F(RelayTest, ExposedHttpServiceAnswers50ConcurrentRequests) {
  start_server({"--expose-ports", "20000-20999"});
  std::map<std::string, std::string> files;
  for (int i = 0; i < 50; ++i) files["page" + std::to_string(i) + ".txt"] = "body of page " + std::to_string(i) + "\n";
  start_web(files);
  const int public_port = 20000 + static_cast<int>(free_port() % 1000);
  auto web_peer = start_expose("web", public_port, web_port_);
  ASSERT_TRUE(peer_says("web", "exposed")) << err("web");
  std::vector<std::thread> clients;
  std::atomic<int> right{0};
  for (int i = 0; i < 50; ++i) {
    clients.emplace_back([&, i] {
      const auto response = http_get(static_cast<std::uint16_t>(public_port), "/page" + std::to_string(i) + ".txt");
      if (response.rfind("HTTP/1.0 200", 0) == 0 && response.find("body of page " + std::to_string(i) + "\n") != std::string::npos) ++right;
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(right.load(), 50);
}

TEST_F(RelayTest, PooledConnectionsJoinClientsAtOnceAndWithoutAPoolClientsAreAnnounced) {
  start_server({"--expose-ports", "20000-20999", "--log-level", "debug"});
  start_web({{"index.txt", "pooled\n"}});
  const int pooled_port = 20000 + static_cast<int>(free_port() % 500);
  auto pooled = start_expose("pooled", pooled_port, web_port_, {"--expose-pool", "4", "--expose-channels", "0"});
  ASSERT_TRUE(peer_says("pooled", "exposed")) << err("pooled");
  // The pool fills (4 idle connections at the relay port), then every client joins one of them.
  for (int i = 0; i < 50 && server_lines_with("idle pool connections") == 0; ++i) std::this_thread::sleep_for(20ms);
  int right = 0;
  for (int i = 0; i < 40; ++i) {
    right += http_get(static_cast<std::uint16_t>(pooled_port), "/index.txt").find("pooled\n") != std::string::npos;
  }
  EXPECT_EQ(right, 40);
  EXPECT_GE(server_lines_with("joined to a pool connection of pooled"), 30u) << read_file(path("server.err")).substr(0, 3000);
  // No pool and no channel: the announcement path, as before.
  const int announced_port = 20500 + static_cast<int>(free_port() % 500);
  auto announced = start_expose("announced", announced_port, web_port_, {"--expose-pool", "0", "--expose-channels", "0"});
  ASSERT_TRUE(peer_says("announced", "exposed")) << err("announced");
  EXPECT_NE(http_get(static_cast<std::uint16_t>(announced_port), "/index.txt").find("pooled\n"), std::string::npos);
  EXPECT_EQ(server_lines_with("joined to a pool connection of announced"), 0u);
  EXPECT_GE(server_lines_with("announced to announced"), 1u);
}

TEST_F(RelayTest, AChannelCarriesEveryClientAsAStreamAndLeavesNoDescriptorsBehind) {
  start_server({"--expose-ports", "20000-20999", "--log-level", "debug"});
  start_web({{"index.txt", "on a channel\n"}});
  const int port = 20000 + static_cast<int>(free_port() % 1000);
  auto exposer = start_expose("chan", port, web_port_, {"--expose-pool", "0"});  // one channel, the default
  ASSERT_TRUE(peer_says("chan", "exposed")) << err("chan");
  for (int i = 0; i < 50 && server_lines_with("chan opened a channel") == 0; ++i) std::this_thread::sleep_for(20ms);
  ASSERT_EQ(server_lines_with("chan opened a channel"), 1u) << read_file(path("server.err")).substr(0, 3000);
  const int before = settled_fds(server_->pid());  // the main connection and the channel
  // Clients one after another and eight at a time: every one answered, each carried on the channel.
  int right = 0;
  for (int i = 0; i < 60; ++i) {
    right += http_get(static_cast<std::uint16_t>(port), "/index.txt").find("on a channel\n") != std::string::npos;
  }
  std::atomic<int> parallel_right{0};
  std::vector<std::thread> fetchers;
  for (int t = 0; t < 8; ++t) {
    fetchers.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        parallel_right += http_get(static_cast<std::uint16_t>(port), "/index.txt").find("on a channel\n") != std::string::npos;
      }
    });
  }
  for (auto& f : fetchers) f.join();
  EXPECT_EQ(right, 60);
  EXPECT_EQ(parallel_right.load(), 80);
  EXPECT_EQ(server_lines_with("joined to a pool connection"), 0u);
  EXPECT_EQ(server_lines_with("announced to chan"), 0u);
  for (int i = 0; i < 50 && server_lines_with("expose: client ") < 140; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(server_lines_with("expose: client "), 140u);  // one line per client carried on the channel
  int after = 0;
  for (int i = 0; i < 50 && (after = open_fds(server_->pid())) != before; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(after, before);
  // The exposer leaving closes its channel with its port.
  exposer->signal(SIGTERM);
  EXPECT_EQ(exposer->wait_for(5s), 0) << err("chan");
  for (int i = 0; i < 50 && (after = open_fds(server_->pid())) != before - 3; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(after, before - 3);  // the main connection, the channel and the port's listener
}

TEST_F(RelayTest, ThePoolIsFreedWhenTheExposerLeavesAndForeignTokensAreRefused) {
  start_server({"--expose-ports", "20000-20999"});
  start_web({{"index.txt", "hello\n"}});
  const int before = settled_fds(server_->pid());
  const int port = 20000 + static_cast<int>(free_port() % 1000);
  auto web_peer = start_expose("web", port, web_port_, {"--expose-pool", "16"});
  ASSERT_TRUE(peer_says("web", "exposed")) << err("web");
  int during = 0;
  for (int i = 0; i < 50 && (during = open_fds(server_->pid())) < before + 17; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_GE(during, before + 17);  // the main connection and 16 idle pool connections
  // A pool connection with a made-up token is closed.
  {
    raw_client forger(relay_port_);
    forger.send_message({{"type", "pool"}, {"token", "00112233445566778899aabbccddeeff"}});
    EXPECT_TRUE(forger.closed_within(3s));
  }
  web_peer->signal(SIGTERM);
  EXPECT_EQ(web_peer->wait_for(5s), 0) << err("web");
  int after = 0;
  for (int i = 0; i < 50 && (after = open_fds(server_->pid())) != before; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(after, before);
}

TEST_F(RelayTest, ExposeOutsideTheRangeIsRefused) {
  start_server({"--expose-ports", "20000-20010"});
  EXPECT_EQ(run_peer("web", {"--id", "web", "expose", "--local", "127.0.0.1:1", "--remote-port", "30000"}), 3);
  EXPECT_NE(err("web").find("outside the allowed range 20000-20010"), std::string::npos) << err("web");
}

TEST_F(RelayTest, PortIsFreedWhenTheExposingPeerExitsAndRefusedServiceClosesPromptly) {
  start_server({"--expose-ports", "20000-20999"});
  const int public_port = 20000 + static_cast<int>(free_port() % 1000);
  const auto nothing_there = free_port();
  auto web_peer = start_expose("web", public_port, nothing_there);
  ASSERT_TRUE(peer_says("web", "exposed")) << err("web");
  {  // The local service refuses: the public client is closed promptly, not left hanging.
    raw_client client(static_cast<std::uint16_t>(public_port));
    EXPECT_TRUE(client.closed_within(3s));
  }
  web_peer->signal(SIGTERM);
  EXPECT_EQ(web_peer->wait_for(5s), 0);
  std::this_thread::sleep_for(300ms);
  EXPECT_THROW(raw_client(static_cast<std::uint16_t>(public_port)), std::runtime_error);  // nobody listens
  auto again = start_expose("web2", public_port, nothing_there);
  EXPECT_TRUE(peer_says("web2", "exposed")) << err("web2");  // the port went back to the pool
}

TEST_F(RelayTest, TwoHundredRelayedSessionsLeaveNoDescriptorsBehind) {
  start_server({"--expose-ports", "20000-20999"});
  start_web({{"index.txt", "hello\n"}});
  const int public_port = 20000 + static_cast<int>(free_port() % 1000);
  auto web_peer = start_expose("web", public_port, web_port_);
  ASSERT_TRUE(peer_says("web", "exposed"));
  ASSERT_NE(http_get(static_cast<std::uint16_t>(public_port), "/index.txt").find("hello"), std::string::npos);
  const int before = settled_fds(server_->pid());  // the main connection and a full pool
  int right = 0;
  for (int i = 0; i < 200; ++i) right += http_get(static_cast<std::uint16_t>(public_port), "/index.txt").find("hello\n") != std::string::npos;
  EXPECT_EQ(right, 200);
  int after = 0;
  for (int i = 0; i < 50 && (after = open_fds(server_->pid())) != before; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(after, before);
}

TEST_F(RelayTest, ExposeComesBackAfterAServerRestart) {
  start_server({"--expose-ports", "20000-20999"});
  start_web({{"index.txt", "still here\n"}});
  const int public_port = 20000 + static_cast<int>(free_port() % 1000);
  auto web_peer = start_expose("web", public_port, web_port_);
  ASSERT_TRUE(peer_says("web", "exposed"));
  const auto main_port = port_;
  server_->signal(SIGKILL);
  server_->wait_for(5s);
  std::filesystem::remove(path("ready.json"));
  // Only the main port must be the same; the others (main+1..main+4 by default) may have been
  // taken by a parallel test meanwhile, so the restarted server picks free ones.
  start_server({"--expose-ports", "20000-20999", "--listen", "127.0.0.1:" + std::to_string(main_port), "--hole-port", "0",
                "--relay-port", "0", "--probe-port", "0"});
  ASSERT_TRUE(peer_says("web", "reconnecting"));
  std::string response;
  for (int i = 0; i < 100 && response.find("still here") == std::string::npos; ++i) {
    std::this_thread::sleep_for(100ms);
    response = http_get(static_cast<std::uint16_t>(public_port), "/index.txt");
  }
  EXPECT_NE(response.find("still here"), std::string::npos) << err("web");
}

}  // namespace
}  // namespace test
