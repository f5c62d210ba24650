// One `peer online` as a whole box, with the real binaries: a target reached with
// `peer connect --target` (ssh's ProxyCommand), a forward, an inbox and an exposed port under one
// ID; refusals that exit 7 or 3 at once; and a thousand concurrent clients from one address
// through an exposed port (an office behind one NAT).
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "common/descriptor_limit.hpp"
#include "tests/loopback_fixture.hpp"
#include "tests/support/echo_server.hpp"
#include "tests/support/web.hpp"

namespace test {
namespace {

using namespace std::chrono_literals;

class OnlineRolesTest : public loopback_test {
 protected:
  void SetUp() override {
    loopback_test::SetUp();
    start_server({"--expose-ports", "20000-20999"});
    web_ = start_web(path("www"), {{"index.txt", "the home page\n"}}, web_port_);
  }
  std::string web() const { return "127.0.0.1:" + std::to_string(web_port_); }
  static int public_port() { return 20000 + static_cast<int>(free_port() % 1000); }
  std::uint16_t web_port_ = 0;
  std::unique_ptr<child_process> web_;
};

TEST_F(OnlineRolesTest, ConnectTargetReachesAnAllowedServiceAndRefusalsExit7) {
  auto box = start_peer("box", {"--id", "box", "online", "--allow", web()});
  ASSERT_TRUE(peer_says("box", "registered as box")) << err("box");
  std::ofstream(path("request")) << "GET /index.txt HTTP/1.0\r\nHost: box\r\n\r\n";
  auto fetch = start_peer("fetch", {"connect", "box", "--target", web()}, path("request"));
  EXPECT_EQ(fetch->wait_for(20s), 0) << err("fetch");
  EXPECT_NE(out("fetch").find("the home page"), std::string::npos) << out("fetch");

  EXPECT_EQ(run_peer("sneaky", {"connect", "box", "--target", "127.0.0.1:22"}), 7) << err("sneaky");
  EXPECT_NE(err("sneaky").find("box refused the connection: forwarding to 127.0.0.1:22 is not allowed"), std::string::npos)
      << err("sneaky");
  // A plain stream to an online box is refused with what to do instead.
  EXPECT_EQ(run_peer("plain", {"connect", "box"}), 7) << err("plain");
  EXPECT_NE(err("plain").find("--target HOST:PORT"), std::string::npos) << err("plain");
}

TEST_F(OnlineRolesTest, OneOnlineServesAForwardAnInboxAndAnExposedPort) {
  const int exposed = public_port();
  auto box = start_peer("box", {"--id", "box", "--json", "online", "--allow", web(), "--inbox", path("inbox"),
                                "--accept-any", "--expose", web() + "=" + std::to_string(exposed)});
  ASSERT_TRUE(peer_says("box", "\"exposed\"")) << err("box");
  // The exposed port, by anyone on the internet.
  EXPECT_NE(http_get(static_cast<std::uint16_t>(exposed), "/index.txt").find("the home page"), std::string::npos) << err("box");
  // A forward, by a peer.
  const auto local = free_port();
  auto fwd = start_peer("fwd", {"forward", "box", "--listen", std::to_string(local), "--target", web()});
  ASSERT_TRUE(peer_says("fwd", "forwarding")) << err("fwd");
  EXPECT_NE(http_get(local, "/index.txt").find("the home page"), std::string::npos) << err("fwd");
  // A file, into the inbox.
  std::ofstream(path("note.txt")) << "a note for the box\n";
  EXPECT_EQ(run_peer("alice", {"--id", "alice", "send", "box", path("note.txt")}), 0) << err("alice");
  EXPECT_EQ(read_file(path("inbox/note.txt")), "a note for the box\n");
  // All of it under one registration: the exposed port still answers after the rest.
  EXPECT_NE(http_get(static_cast<std::uint16_t>(exposed), "/index.txt").find("the home page"), std::string::npos);
  EXPECT_EQ(err("box").find("\"level\":\"warning\""), std::string::npos) << err("box");
}

TEST_F(OnlineRolesTest, ExposeOfAPortAnotherPeerHoldsExits3AtOnce) {
  const int port = public_port();
  auto first = start_peer("first", {"--id", "first", "online", "--expose", web() + "=" + std::to_string(port)});
  ASSERT_TRUE(peer_says("first", "exposed")) << err("first");
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(run_peer("second", {"--id", "second", "expose", "--local", web(), "--remote-port", std::to_string(port)}), 3);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_NE(err("second").find("already exposed by first"), std::string::npos) << err("second");
  // The same refusal for `online --expose`.
  EXPECT_EQ(run_peer("third", {"--id", "third", "online", "--expose", web() + "=" + std::to_string(port)}), 3);
  EXPECT_NE(err("third").find("already exposed by first"), std::string::npos) << err("third");
}

TEST_F(OnlineRolesTest, AThousandConcurrentClientsFromOneAddressAreAllAnswered) {
  net::raise_descriptor_limit();  // a thousand clients here, a thousand more in the echo service
  echo_server echo;
  const int port = public_port();
  auto box = start_peer("box", {"--id", "box", "expose", "--local", "127.0.0.1:" + std::to_string(echo.port()),
                                "--remote-port", std::to_string(port)});
  ASSERT_TRUE(peer_says("box", "exposed")) << err("box");
  constexpr int clients = 1000;
  std::vector<int> fds;
  for (int i = 0; i < clients; ++i) fds.push_back(connect_loopback(static_cast<std::uint16_t>(port), 30));
  // All thousand are connected at once before any is answered.
  for (int i = 0; i < clients; ++i) {
    const auto line = "client " + std::to_string(i) + "\n";
    if (fds[i] >= 0) ::send(fds[i], line.data(), line.size(), MSG_NOSIGNAL);
  }
  int right = 0;
  for (int i = 0; i < clients; ++i) {
    const auto line = "client " + std::to_string(i) + "\n";
    std::string got;
    char chunk[64];
    ssize_t n = 0;
    while (fds[i] >= 0 && got.size() < line.size() && (n = ::recv(fds[i], chunk, sizeof chunk, 0)) > 0) got.append(chunk, n);
    right += got == line;
  }
  for (const int fd : fds) ::close(fd);
  EXPECT_EQ(right, clients) << read_file(path("server.err")).substr(0, 4000);
  EXPECT_EQ(read_file(path("server.err")).find("refused"), std::string::npos);
}

}  // namespace
}  // namespace test
