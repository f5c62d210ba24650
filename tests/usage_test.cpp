// Metering and relay quotas with the real binaries: what `rendezvous usage` reports is what the
// relay carried (to the byte, per account and ID, from the server's own accounting line), it
// survives a server restart, and an account over its monthly quota has a running relayed pair
// closed and new ones refused (quota_exceeded), as are new clients of its exposed port.
#include <unistd.h>

#include <regex>
#include <thread>

#include "tests/accounts_fixture.hpp"
#include "tests/support/web.hpp"

namespace test {
namespace {

/// Bytes each side sent on the last relayed pair ending with `bob`, from the server's log:
/// "relay: A <-> bob ended after ... : A sent N bytes, bob sent M bytes".
std::optional<std::uint64_t> pair_bytes(const std::string& log, const std::string& bob) {
  const std::regex line("<-> " + bob + " ended after [^\\n]*: \\S+ sent (\\d+) bytes, " + bob + " sent (\\d+) bytes");
  std::optional<std::uint64_t> bytes;
  for (std::sregex_iterator it(log.begin(), log.end(), line), end; it != end; ++it) {
    bytes = std::stoull((*it)[1]) + std::stoull((*it)[2]);
  }
  return bytes;
}

/// The relayed bytes of `id` summed over the ID rows of `rows`.
std::uint64_t relayed_for(const std::vector<nlohmann::json>& rows, const std::string& id) {
  std::uint64_t sum = 0;
  for (const auto& row : rows) {
    if (!row.value("total", false) && row.value("id", "") == id) sum += row["relayed"].get<std::uint64_t>();
  }
  return sum;
}

/// The account's total relayed bytes (its "total" row).
std::uint64_t account_relayed(const std::vector<nlohmann::json>& rows) {
  for (const auto& row : rows) {
    if (row.value("total", false)) return row["relayed"].get<std::uint64_t>();
  }
  return 0;
}

using UsageTest = AccountsFixture;

TEST_F(UsageTest, UsageIsWhatTheRelayCarriedAndSurvivesARestart) {
  const auto token = add_account("metered");
  start_server();
  write_random_file(path("first"), 1 << 20, 1);
  auto bob = start_peer("bob", {"--id", "bob", "--token", token, "listen"}, "/dev/null");
  ASSERT_TRUE(peer_says("bob", "registered as bob")) << err("bob");
  auto alice = start_peer("alice", {"--id", "alice", "--token", token, "connect", "bob", "--path", "relay"}, path("first"));
  ASSERT_EQ(alice->wait_for(30s), 0) << err("alice");
  ASSERT_EQ(bob->wait_for(20s), 0) << err("bob");
  ASSERT_EQ(out("bob"), read_file(path("first")));
  ASSERT_TRUE(wait_for_text(path("server.err"), "<-> bob ended after", 5s));
  const auto first = pair_bytes(read_file(path("server.err")), "bob");
  ASSERT_TRUE(first) << read_file(path("server.err"));
  EXPECT_GT(*first, 1u << 20);
  stop_server();  // (written at shutdown, whatever the 5 s flush had not)

  auto rows = usage_of("metered");
  EXPECT_EQ(relayed_for(rows, "alice"), *first) << read_file(path("usage.out"));
  EXPECT_EQ(relayed_for(rows, "bob"), *first) << read_file(path("usage.out"));
  // Both IDs are the account's: it was carried those bytes once.
  EXPECT_EQ(account_relayed(rows), *first) << read_file(path("usage.out"));

  // A restarted server adds to it.
  start_server();
  write_random_file(path("second"), 256 << 10, 2);
  bob = start_peer("bob-again", {"--id", "bob", "--token", token, "listen"}, "/dev/null");
  ASSERT_TRUE(peer_says("bob-again", "registered as bob")) << err("bob-again");
  alice = start_peer("alice-again", {"--id", "alice", "--token", token, "connect", "bob", "--path", "relay"}, path("second"));
  ASSERT_EQ(alice->wait_for(30s), 0) << err("alice-again");
  ASSERT_EQ(bob->wait_for(20s), 0) << err("bob-again");
  ASSERT_TRUE(wait_for_text(path("server.err"), "<-> bob ended after", 5s));
  const auto second = pair_bytes(read_file(path("server.err")), "bob");
  ASSERT_TRUE(second);
  stop_server();
  rows = usage_of("metered");
  EXPECT_EQ(relayed_for(rows, "alice"), *first + *second) << read_file(path("usage.out"));
  EXPECT_EQ(relayed_for(rows, "bob"), *first + *second) << read_file(path("usage.out"));
  EXPECT_EQ(account_relayed(rows), *first + *second) << read_file(path("usage.out"));
  // Another account's view holds none of it.
  EXPECT_TRUE(usage_of("nobody").empty());
}

TEST_F(UsageTest, AnAccountOverItsQuotaHasItsRunningPairClosedAndNewOnesRefused) {
  std::signal(SIGPIPE, SIG_IGN);  // (alice's stdin is a pipe that dies with her)
  const auto token = add_account("capped", {"--relay-quota-gib", "0.002"});  // about 2 MiB a month
  start_server();
  auto bob = start_peer("bob", {"--id", "bob", "--token", token, "listen"}, "/dev/null");
  ASSERT_TRUE(peer_says("bob", "registered as bob")) << err("bob");
  auto alice = start_peer("alice", {"--id", "alice", "--token", token, "connect", "bob", "--path", "relay"});
  ASSERT_TRUE(peer_says("bob", "connected to")) << err("bob");
  // 256 KiB every 100 ms: the quota is crossed within a second, and the server (metering every
  // second) closes the pair within about one more.
  const std::string chunk(256 << 10, 'q');
  std::size_t written = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  try {
    while (alice->running() && std::chrono::steady_clock::now() < deadline) {
      alice->write_stdin(chunk);
      written += chunk.size();
      std::this_thread::sleep_for(100ms);
    }
  } catch (const std::runtime_error&) {
    // alice's stdin closed: she has ended
  }
  EXPECT_NE(alice->wait_for(15s).value_or(0), 0) << err("alice");
  EXPECT_TRUE(wait_for_text(path("server.err"), "closed: account 'capped' has used its relay quota for this month", 5s))
      << read_file(path("server.err"));
  EXPECT_LT(out("bob").size(), 8u << 20) << "written " << written;
  bob->wait_for(10s);

  // A new relayed pair is refused, saying why.
  bob = start_peer("bob2", {"--id", "bob", "--token", token, "listen"}, "/dev/null");
  ASSERT_TRUE(peer_says("bob2", "registered as bob")) << err("bob2");
  EXPECT_NE(run_peer("again", {"--id", "alice", "--token", token, "connect", "bob", "--path", "relay"}, 30s), 0);
  EXPECT_NE(err("again").find("relay quota"), std::string::npos) << err("again");
  // And usage says so too.
  stop_server();
  EXPECT_GE(account_relayed(usage_of("capped")), static_cast<std::uint64_t>(0.002 * (1 << 30)));
}

TEST_F(UsageTest, AnExposedPortOfAnAccountOverItsQuotaRefusesNewClients) {
  const auto token = add_account("webby", {"--relay-quota-gib", "0.0005"});  // about 512 KiB
  start_server({"--expose-ports", "20000-20999"});
  std::uint16_t web_port = 0;
  auto web = start_web(path("www"), {{"big.bin", std::string(1 << 20, 'w')}}, web_port);
  const int public_port = 20000 + static_cast<int>(free_port() % 1000);
  auto box = start_peer("box", {"--id", "box", "--token", token, "expose", "--local", "127.0.0.1:" + std::to_string(web_port),
                                "--remote-port", std::to_string(public_port)});
  ASSERT_TRUE(peer_says("box", "exposed")) << err("box");
  // The first client gets its megabyte (the quota was not used up when it came).
  EXPECT_GT(http_get(static_cast<std::uint16_t>(public_port), "/big.bin").size(), 1u << 20) << err("box");
  // Then the port refuses new clients until the month is over (or the operator raises it).
  std::this_thread::sleep_for(1500ms);  // (metered as the client ends, at the latest within a second)
  EXPECT_TRUE(http_get(static_cast<std::uint16_t>(public_port), "/big.bin").empty());
  EXPECT_TRUE(wait_for_text(path("server.err"), "refused 127.0.0.1", 5s)) << read_file(path("server.err"));
  EXPECT_NE(read_file(path("server.err")).find("account 'webby' has used its relay quota"), std::string::npos);
  ASSERT_EQ(user({"set", "webby", "--relay-quota-gib", "none"}), 0) << read_file(path("user.err"));
  std::this_thread::sleep_for(1500ms);
  EXPECT_GT(http_get(static_cast<std::uint16_t>(public_port), "/big.bin").size(), 1u << 20);
}

}  // namespace
}  // namespace test
