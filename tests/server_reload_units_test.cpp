// The pieces under SIGHUP and the connect metrics, without a network: which settings a reload
// applies and which it keeps, how a change reads in the log (never the token), and how connect
// outcomes are counted (once, only from the connection that asked).
#include <gtest/gtest.h>

#include "rendezvous/config_reload.hpp"
#include "rendezvous/connect_outcomes.hpp"

namespace rendezvous {
namespace {

TEST(ConfigReload, AppliesLimitsAndTokenAndKeepsWhatTakesARestart) {
  server_config running;
  running.state_dir = "/var/lib/a";
  server_config next = running;
  next.max_peers = 3;
  next.token = "new-secret";
  next.expose_first = 20000;
  next.expose_last = 20010;
  next.state_dir = "/var/lib/b";
  next.listen_hosts = {"127.0.0.1"};
  next.main_port = 9000;
  const auto merged = with_reloadable(running, next);
  EXPECT_EQ(merged.max_peers, 3);
  EXPECT_EQ(merged.token, "new-secret");
  EXPECT_EQ(merged.expose_first, 20000);
  EXPECT_EQ(merged.state_dir, "/var/lib/a");
  EXPECT_EQ(merged.main_port, running.main_port);
  // "listen" once, though its host and its port both changed.
  EXPECT_EQ(restart_only_changes(running, next), (std::vector<std::string>{"listen", "state"}));
}

TEST(ConfigReload, DescribesChangesWithoutTheToken) {
  server_config before;
  server_config after = before;
  after.token = "s3cret-value";
  after.max_peers = 5;
  after.expose_first = after.expose_last = 21000;
  const auto changes = describe_changes(before, after);
  EXPECT_EQ(changes, (std::vector<std::string>{"token set", "max_peers 10000 -> 5", "expose_ports none -> 21000-21000"}));
  before = after;
  after.token = "another";
  EXPECT_EQ(describe_changes(before, after), std::vector<std::string>{"token changed"});
  EXPECT_TRUE(describe_changes(after, after).empty());
}

TEST(ConfigReload, NamesFileChangesThatAFlagOrTheEnvironmentOverrides) {
  const nlohmann::json old_file{{"max_peers", 10}, {"token", "a"}};
  const nlohmann::json new_file{{"max_peers", 3}, {"token", "b"}, {"log_level", "debug"}};
  const nlohmann::json env{{"token", "from-env"}};
  const nlohmann::json flags{{"log_level", "info"}};
  EXPECT_EQ(overridden_changes(old_file, new_file, env, flags), (std::vector<std::string>{"token", "log_level"}));
}

TEST(ConnectOutcomes, CountsEachAttemptOnceFromItsInitiatorOnly) {
  connect_outcomes outcomes;
  const int alice = 0, mallory = 0;
  const auto t0 = net::clock::now();
  ASSERT_TRUE(outcomes.started("a1", &alice, t0, t0 + std::chrono::minutes(2)));
  outcomes.reported("a1", &mallory, "direct", t0);  // not the initiator: ignored
  outcomes.reported("a1", &alice, "sideways", t0);  // not an outcome: ignored
  EXPECT_EQ(outcomes.direct(), 0u);
  outcomes.reported("a1", &alice, "direct", t0 + std::chrono::milliseconds(300));
  outcomes.reported("a1", &alice, "direct", t0 + std::chrono::milliseconds(400));  // once
  outcomes.failed("a1");  // the server ending it later changes nothing
  EXPECT_EQ(outcomes.direct(), 1u);
  EXPECT_EQ(outcomes.failures(), 0u);
  const auto& h = outcomes.time_to_direct();
  EXPECT_EQ(h.count, 1u);
  EXPECT_NEAR(h.sum_seconds, 0.3, 1e-6);
  EXPECT_EQ(h.at_most[3], 1u);  // (0.25, 0.5]

  ASSERT_TRUE(outcomes.started("a2", &alice, t0, t0 + std::chrono::minutes(2)));
  outcomes.failed("a2");
  ASSERT_TRUE(outcomes.started("a3", &alice, t0, t0 + std::chrono::minutes(2)));
  outcomes.reported("a3", &alice, "failed", t0);
  ASSERT_TRUE(outcomes.started("a4", &alice, t0, t0 + std::chrono::minutes(2)));
  outcomes.reported("a4", &alice, "relay", t0 + std::chrono::seconds(100));  // past the last bound: +Inf only
  EXPECT_EQ(outcomes.failures(), 2u);
  EXPECT_EQ(outcomes.relayed(), 1u);
  std::uint64_t bucketed = 0;
  for (auto n : outcomes.time_to_relay().at_most) bucketed += n;
  EXPECT_EQ(bucketed, 0u);
  EXPECT_EQ(outcomes.time_to_relay().count, 1u);
}

TEST(ConnectOutcomes, ForgetsUnreportedAttemptsAndStaysBounded) {
  connect_outcomes outcomes;
  const int alice = 0, bob = 0;
  const auto t0 = net::clock::now();
  const auto deadline = t0 + std::chrono::seconds(80);
  ASSERT_TRUE(outcomes.started("late", &alice, t0, deadline));
  outcomes.expire(deadline - std::chrono::seconds(1));
  outcomes.reported("late", &alice, "direct", deadline - std::chrono::seconds(1));  // before its deadline: counted
  EXPECT_EQ(outcomes.direct(), 1u);
  ASSERT_TRUE(outcomes.started("old", &alice, t0, deadline));
  outcomes.expire(deadline);
  outcomes.reported("old", &alice, "direct", deadline);
  EXPECT_EQ(outcomes.direct(), 1u);
  // One connection's unreported attempts: a few, not everyone's room.
  for (int i = 0; i < connect_outcomes::max_awaited_per_initiator; ++i) {
    ASSERT_TRUE(outcomes.started("alice" + std::to_string(i), &alice, t0, deadline));
  }
  EXPECT_FALSE(outcomes.started("alice-more", &alice, t0, deadline));
  EXPECT_TRUE(outcomes.started("bob0", &bob, t0, deadline));
  // Gone: its attempts are dropped (neither counted nor kept), and its room is free again.
  outcomes.initiator_gone(&alice);
  outcomes.reported("alice0", &alice, "direct", t0);
  EXPECT_EQ(outcomes.direct(), 1u);
  EXPECT_EQ(outcomes.failures(), 0u);
  EXPECT_TRUE(outcomes.started("alice-again", &alice, t0, deadline));
  outcomes.reported("bob0", &bob, "relay", t0);
  EXPECT_EQ(outcomes.relayed(), 1u);
  // And in all: a crowd of connections fills the room, and the next waits for none.
  std::vector<int> crowd(connect_outcomes::max_awaited);
  std::size_t room = 0;
  for (auto& initiator : crowd) room += outcomes.started("crowd" + std::to_string(room), &initiator, t0, deadline) ? 1 : 0;
  EXPECT_EQ(room, connect_outcomes::max_awaited - 1);  // (alice-again is still awaited)
  EXPECT_FALSE(outcomes.started("late-comer", &bob, t0, deadline));
}

}  // namespace
}  // namespace rendezvous
