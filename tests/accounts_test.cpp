// Accounts with the real binaries: `rendezvous user ...` run while a real server runs on
// loopback, and real peers with the tokens it prints. A rotated token stops working and its live
// peer is closed; an expired or disabled account is refused with its reason and its live peer
// closed (for good: it does not retry); another account cannot take an ID; an account's ID limit
// and port range hold; the server-wide token keeps working beside accounts.
#include <cstdlib>
#include <ctime>
#include <thread>

#include "tests/accounts_fixture.hpp"

namespace test {
namespace {

using namespace std::chrono_literals;

/// Each test runs twice: on a single server's accounts (SQLite, in its state) and on a cluster
/// node's (the cluster's Redis), through the one account_store seam.
class AccountsTest : public AccountsFixture, public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    AccountsFixture::SetUp();
    if (GetParam() == "redis") use_cluster();
  }
};

INSTANTIATE_TEST_SUITE_P(Stores, AccountsTest, ::testing::Values("sqlite", "redis"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST_P(AccountsTest, AnAccountsTokenRegistersAndARotatedOneStopsWorking) {
  const auto first = add_account("alice");
  ASSERT_EQ(first.rfind("alice:", 0), 0u) << first;
  start_server();
  // The token registers; a made-up secret for the same name and a token without one are refused.
  auto box = online("box", "alice-box", first);
  EXPECT_EQ(run_peer("forged", {"--token", "alice:" + std::string(43, 'A'), "list"}), 3);
  EXPECT_NE(err("forged").find("wrong token"), std::string::npos) << err("forged");
  EXPECT_EQ(run_peer("none", {"list"}), 3);
  EXPECT_NE(err("none").find("requires a token"), std::string::npos) << err("none");

  const auto second = rotate("alice");
  ASSERT_NE(second, first);
  // The live peer of the old token is closed, and stops rather than retry with it.
  EXPECT_EQ(ends(*box), 3) << err("box");
  EXPECT_NE(err("box").find("was replaced"), std::string::npos) << err("box");
  EXPECT_EQ(run_peer("old", {"--token", first, "list"}), 3);
  EXPECT_NE(err("old").find("wrong token"), std::string::npos) << err("old");
  EXPECT_EQ(run_peer("new", {"--token", second, "list"}), 0) << err("new");
  EXPECT_TRUE(wait_for_text(path("server.err"), "refused account 'alice': wrong token", 5s));
}

TEST_P(AccountsTest, AnExpiredOrDisabledAccountIsRefusedWithItsReasonAndItsLivePeerClosed) {
  const auto brief = add_account("brief", {"--expires", "+3s"});
  const auto carol = add_account("carol");
  start_server();
  auto brief_box = online("brief-box", "brief-box", brief);
  auto carol_box = online("carol-box", "carol-box", carol);

  // Expiry closes the live peer within about a second of passing, without anyone acting.
  EXPECT_EQ(ends(*brief_box), 3) << err("brief-box");
  EXPECT_NE(err("brief-box").find("account 'brief' has expired"), std::string::npos) << err("brief-box");
  EXPECT_EQ(run_peer("brief-again", {"--token", brief, "list"}), 3);
  EXPECT_NE(err("brief-again").find("account 'brief' has expired"), std::string::npos) << err("brief-again");

  ASSERT_EQ(user({"disable", "carol"}), 0) << read_file(path("user.err"));
  EXPECT_EQ(ends(*carol_box), 3) << err("carol-box");
  EXPECT_NE(err("carol-box").find("account 'carol' is disabled"), std::string::npos) << err("carol-box");
  EXPECT_EQ(run_peer("carol-again", {"--token", carol, "list"}), 3);
  EXPECT_NE(err("carol-again").find("is disabled"), std::string::npos) << err("carol-again");
  ASSERT_EQ(user({"enable", "carol"}), 0);
  std::this_thread::sleep_for(1500ms);  // (the server reads the change within about a second)
  EXPECT_EQ(run_peer("carol-back", {"--token", carol, "list"}), 0) << err("carol-back");
}

TEST_P(AccountsTest, AnIdBelongsToTheAccountThatFirstRegisteredIt) {
  const auto alice = add_account("alice");
  const auto mallory = add_account("mallory");
  start_server();
  {
    auto box = online("box", "printer", alice);
  }
  // Another account with its own key: the pinned key refuses it.
  EXPECT_EQ(run_peer("thief", {"--id", "printer", "--identity", path("thief.key"), "--token", mallory, "listen"}), 3);
  EXPECT_NE(err("thief").find("belongs to another key"), std::string::npos) << err("thief");
  // Another account even with the owner's key (a copied identity file): the ID is alice's.
  EXPECT_EQ(run_peer("copy", {"--id", "printer", "--identity", path("id-printer.key"), "--token", mallory, "listen"}), 3);
  EXPECT_NE(err("copy").find("belongs to another account"), std::string::npos) << err("copy");
  // Removing the account releases its IDs.
  ASSERT_EQ(user({"remove", "alice"}), 0);
  EXPECT_NE(read_file(path("user.out")).find("released 1 ID"), std::string::npos) << read_file(path("user.out"));
  std::this_thread::sleep_for(1500ms);
  auto now_mallorys = online("mallory-box", "printer", mallory);
}

TEST_P(AccountsTest, AnAccountsIdLimitAndPortRangeHold) {
  const auto small = add_account("small", {"--max-ids", "1", "--expose-ports", "20100-20101"});
  start_server({"--expose-ports", "20000-20999"});
  auto one = online("one", "small-one", small);
  EXPECT_EQ(run_peer("two", {"--id", "small-two", "--token", small, "listen"}), 3);
  EXPECT_NE(err("two").find("already owns 1 IDs, its limit"), std::string::npos) << err("two");
  one.reset();
  // Its own ID again is no new one.
  auto again = online("again", "small-one", small);
  again.reset();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(run_peer("outside", {"--id", "small-one", "--token", small, "expose", "--local", "127.0.0.1:9", "--remote-port", "20500"}), 3);
  EXPECT_NE(err("outside").find("may expose only ports 20100-20101"), std::string::npos) << err("outside");
}

TEST_P(AccountsTest, TheServerWideTokenKeepsWorkingBesideAccounts) {
  const auto dave = add_account("dave");
  start_server({"--token", "s3cret"});
  EXPECT_EQ(run_peer("shared", {"--token", "s3cret", "list"}), 0) << err("shared");
  EXPECT_EQ(run_peer("account", {"--token", dave, "list"}), 0) << err("account");
  EXPECT_EQ(run_peer("wrong", {"--token", "guess", "list"}), 3);
  EXPECT_NE(err("wrong").find("wrong token"), std::string::npos) << err("wrong");
}

TEST_P(AccountsTest, TheFirstAccountClosesAnOpenServerToPeersWithoutAToken) {
  start_server();
  auto open = start_peer("open", {"--id", "open-box", "online"});
  ASSERT_TRUE(peer_says("open", "registered as open-box")) << err("open");
  add_account("first");
  EXPECT_TRUE(peer_says("open", "the server now requires a token")) << err("open");
  EXPECT_EQ(run_peer("late", {"list"}), 3);
  EXPECT_NE(err("late").find("requires a token"), std::string::npos) << err("late");
}

TEST_P(AccountsTest, TheOperatorListsPeersAndKicksOneOverTheControlSocket) {
  const auto alice = add_account("alice");
  start_server();
  auto box = online("box", "alice-box", alice);
  const auto run_rendezvous = [this](std::vector<std::string> args) {
    std::vector<std::string> argv{binary("rendezvous"), "--state", path("server-state")};
    argv.insert(argv.end(), args.begin(), args.end());
    child_process child(argv, child_io{"/dev/null", path("op.out"), path("op.err")});
    return child.wait_for(20s).value_or(-1);
  };
  ASSERT_EQ(run_rendezvous({"peers", "--json"}), 0) << read_file(path("op.err"));
  const auto listed = nlohmann::json::parse(read_file(path("op.out")));
  EXPECT_EQ(listed["id"], "alice-box");
  EXPECT_EQ(listed["account"], "alice");
  // Since when, on the wall clock (UTC): a moment ago.
  std::tm since{};
  const auto since_text = listed["since"].get<std::string>();
  ASSERT_NE(strptime(since_text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &since), nullptr) << since_text;
  EXPECT_LT(std::abs(static_cast<long long>(timegm(&since)) - static_cast<long long>(std::time(nullptr))), 120) << since_text;
  EXPECT_EQ(run_rendezvous({"kick", "nobody"}), 1);
  EXPECT_NE(read_file(path("op.err")).find("no peer 'nobody' is online"), std::string::npos) << read_file(path("op.err"));
  ASSERT_EQ(run_rendezvous({"kick", "alice-box"}), 0) << read_file(path("op.err"));
  // A kicked `peer online` stops instead of coming straight back.
  EXPECT_EQ(ends(*box), 3) << err("box");
  EXPECT_NE(err("box").find("rendezvous kick"), std::string::npos) << err("box");
  // The socket is only the server's user's.
  EXPECT_EQ(std::filesystem::status(path("server-state/control.sock")).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  stop_server();
  EXPECT_EQ(run_rendezvous({"peers"}), 1);
  EXPECT_NE(read_file(path("op.err")).find("no server is running"), std::string::npos) << read_file(path("op.err"));
}

}  // namespace
}  // namespace test
