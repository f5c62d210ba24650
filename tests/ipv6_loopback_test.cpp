// The whole product over IPv6 loopback: a server on [::1], peers given --server [::1]:PORT,
// registering, listing, connecting direct and relayed, exposing a port and sending files.
#include <fstream>

#include "tests/loopback_fixture.hpp"
#include "tests/support/web.hpp"

namespace {

using namespace std::chrono_literals;
using test::read_file;
using test::write_random_file;

class Ipv6LoopbackTest : public test::loopback_test {
 protected:
  void SetUp() override {
    loopback_test::SetUp();
    host_ = "::1";
  }
};

TEST_F(Ipv6LoopbackTest, RegisterListAndConnectDirectAndRelayedWithBytesIntact) {
  start_server();
  write_random_file(path("to-alice"), 1 << 20, 11);
  write_random_file(path("to-bob"), 1 << 20, 12);
  for (const std::string path_kind : {"punch-first", "relay"}) {
    auto bob = start_peer("bob-" + path_kind, {"--id", "bob", "--json", "listen"}, path("to-alice"));
    ASSERT_TRUE(peer_says("bob-" + path_kind, "\"registered\"")) << err("bob-" + path_kind);
    EXPECT_NE(err("bob-" + path_kind).find(R"("observed":"[::1]:)"), std::string::npos) << err("bob-" + path_kind);
    if (path_kind != "relay") {
      EXPECT_EQ(run_peer("list", {"list"}), 0) << err("list");
      EXPECT_EQ(out("list"), "bob\n");
    }
    auto alice = start_peer("alice-" + path_kind, {"connect", "bob", "--json", "--path", path_kind}, path("to-bob"));
    EXPECT_EQ(alice->wait_for(30s), 0) << err("alice-" + path_kind);
    EXPECT_EQ(bob->wait_for(30s), 0) << err("bob-" + path_kind);
    EXPECT_TRUE(out("alice-" + path_kind) == read_file(path("to-alice"))) << path_kind;
    EXPECT_TRUE(out("bob-" + path_kind) == read_file(path("to-bob"))) << path_kind;
    const auto connected = err("alice-" + path_kind);
    EXPECT_NE(connected.find(R"("family":"ipv6")"), std::string::npos) << connected;
    EXPECT_NE(connected.find(path_kind == "relay" ? R"("path":"relay")" : R"("path":"direct")"), std::string::npos) << connected;
    EXPECT_NE(connected.find(R"("remote":"[::1]:)"), std::string::npos) << connected;
  }
}

TEST_F(Ipv6LoopbackTest, AnExposedPortAnswersHttpOverIpv6) {
  start_server({"--expose-ports", "20000-20999"});
  std::uint16_t web_port = 0;
  auto web = test::start_web(path("www"), {{"index.txt", "over ipv6\n"}}, web_port);
  const int public_port = 20000 + static_cast<int>(test::free_port() % 1000);
  auto exposer = start_peer("web", {"--id", "web", "expose", "--local", "127.0.0.1:" + std::to_string(web_port),
                                    "--remote-port", std::to_string(public_port)});
  ASSERT_TRUE(peer_says("web", "exposed")) << err("web");
  const auto response = test::http_get(static_cast<std::uint16_t>(public_port), "/index.txt", "::1");
  EXPECT_NE(response.find("over ipv6"), std::string::npos) << response << err("web") << read_file(path("server.err"));
  EXPECT_NE(read_file(path("server.err")).find("[::1]:"), std::string::npos);  // the client, printed as [addr]:port
}

TEST_F(Ipv6LoopbackTest, SendDeliversAFileOverIpv6) {
  start_server();
  std::filesystem::create_directories(path("inbox"));
  write_random_file(path("photo.bin"), 256 << 10, 13);
  auto bob = start_peer("bob", {"--id", "bob", "--json", "receive", "--dir", path("inbox")});
  ASSERT_TRUE(peer_says("bob", "\"registered\"")) << err("bob");
  EXPECT_EQ(run_peer("alice", {"--id", "alice", "send", "bob", path("photo.bin")}, 30s), 0) << err("alice");
  EXPECT_EQ(bob->wait_for(30s), 0) << err("bob");
  EXPECT_TRUE(read_file(path("inbox/photo.bin")) == read_file(path("photo.bin")));
}

TEST_F(Ipv6LoopbackTest, ADualStackServerTakesBothFamiliesAndPrintsIpv4ClientsAsIpv4) {
  host_ = "::";
  start_server();
  host_ = "127.0.0.1";
  auto bob = start_peer("bob", {"--id", "bob", "--json", "listen"});
  ASSERT_TRUE(peer_says("bob", "\"registered\"")) << err("bob");
  // Not ::ffff:127.0.0.1: an IPv4 peer of a [::] server sees (and is listed with) its IPv4 endpoint.
  EXPECT_NE(err("bob").find(R"("observed":"127.0.0.1:)"), std::string::npos) << err("bob");
  host_ = "::1";
  EXPECT_EQ(run_peer("list", {"list"}), 0) << err("list");
  EXPECT_EQ(out("list"), "bob\n");
  EXPECT_EQ(read_file(path("server.err")).find("::ffff:"), std::string::npos) << read_file(path("server.err"));
}

TEST_F(Ipv6LoopbackTest, AServerOnAnIpv4AndAnIpv6AddressPairsPeersOfEitherAndTheyPunchOverIpv6) {
  listen_ = "127.0.0.1:0,[::1]:0";
  start_server();
  std::ofstream(path("to-alice")) << "from bob over the IPv4 address\n";
  std::ofstream(path("to-bob")) << "from alice over the IPv6 address\n";
  host_ = "127.0.0.1";
  auto bob = start_peer("bob", {"--id", "bob", "--json", "listen"}, path("to-alice"));
  ASSERT_TRUE(peer_says("bob", "\"registered\"")) << err("bob");
  EXPECT_NE(err("bob").find(R"("observed":"127.0.0.1:)"), std::string::npos) << err("bob");
  host_ = "::1";
  auto alice = start_peer("alice", {"connect", "bob", "--json", "--path", "punch-first"}, path("to-bob"));
  EXPECT_EQ(alice->wait_for(30s), 0) << err("alice") << read_file(path("server.err"));
  EXPECT_EQ(bob->wait_for(30s), 0) << err("bob");
  EXPECT_EQ(out("alice"), "from bob over the IPv4 address\n");
  EXPECT_EQ(out("bob"), "from alice over the IPv6 address\n");
  // Both reported over both families (the server told them both its addresses): IPv6 won.
  EXPECT_NE(err("alice").find(R"("family":"ipv6")"), std::string::npos) << err("alice");
  EXPECT_NE(err("alice").find(R"("path":"direct")"), std::string::npos) << err("alice");
}

}  // namespace
