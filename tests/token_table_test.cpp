#include <gtest/gtest.h>

#include "relay/token_table.hpp"

namespace {

using namespace std::chrono_literals;
using table = relay::token_table<int>;
const auto t0 = net::clock::now();

TEST(TokenTable, TwoSidesPairExactlyOnce) {
  table tokens;
  const auto [for_alice, for_bob] = tokens.issue({"alice", "bob"}, t0 + 30s);
  EXPECT_NE(for_alice, for_bob);
  EXPECT_EQ(tokens.claim(for_bob, 11, t0).outcome, relay::claim_outcome::waiting);
  auto paired = tokens.claim(for_alice, 10, t0);
  ASSERT_EQ(paired.outcome, relay::claim_outcome::paired);
  EXPECT_EQ((*paired.pair)[0], 10);  // side 0 first, whatever the arrival order
  EXPECT_EQ((*paired.pair)[1], 11);
  EXPECT_EQ(paired.names[0], "alice");
  auto again = tokens.claim(for_alice, 12, t0);
  EXPECT_EQ(again.outcome, relay::claim_outcome::reused);
  EXPECT_EQ(*again.rejected, 12);  // handed back so the caller can refuse it with a reason
  EXPECT_EQ(tokens.outstanding(), 0u);
}

TEST(TokenTable, OneTokenNeverTakesBothSides) {
  // Whoever holds alice's token (the initiator, say) cannot also stand in for bob.
  table tokens;
  const auto [for_alice, for_bob] = tokens.issue({"alice", "bob"}, t0 + 30s);
  EXPECT_EQ(tokens.claim(for_alice, 1, t0).outcome, relay::claim_outcome::waiting);
  EXPECT_EQ(tokens.claim(for_alice, 2, t0).outcome, relay::claim_outcome::reused);
  EXPECT_EQ(tokens.waiting(), 1u);
}

TEST(TokenTable, UnknownTokenIsRefused) {
  table tokens;
  auto result = tokens.claim("deadbeef", 1, t0);
  EXPECT_EQ(result.outcome, relay::claim_outcome::unknown);
  EXPECT_EQ(*result.rejected, 1);
}

TEST(TokenTable, ExpiredTokenIsRefusedAndItsWaitingHalfHandedBack) {
  table tokens;
  const auto [for_a, for_b] = tokens.issue({"a", "b"}, t0 + 30s);
  EXPECT_EQ(tokens.claim(for_a, 7, t0 + 1s).outcome, relay::claim_outcome::waiting);
  EXPECT_EQ(tokens.claim(for_b, 8, t0 + 31s).outcome, relay::claim_outcome::expired);
  auto stale = tokens.expire(t0 + 31s);
  ASSERT_EQ(stale.size(), 1u);
  EXPECT_EQ(stale[0].first, 7);  // the half that waited in vain, to be closed
  EXPECT_EQ(tokens.claim(for_b, 9, t0 + 32s).outcome, relay::claim_outcome::expired);
  tokens.expire(t0 + 200s);  // the server sweeps every second
  EXPECT_EQ(tokens.claim(for_b, 9, t0 + 200s).outcome, relay::claim_outcome::unknown);  // forgotten in time
}

TEST(TokenTable, IssuedWithAWaitingSideAndCancelled) {
  table tokens;
  const auto for_exposer = tokens.issue_with({"client@x", "web"}, t0 + 30s, 0, 42);
  EXPECT_EQ(tokens.waiting(), 1u);
  auto half = tokens.cancel(for_exposer);
  ASSERT_TRUE(half);
  EXPECT_EQ(*half, 42);
  EXPECT_EQ(tokens.claim(for_exposer, 1, t0).outcome, relay::claim_outcome::reused);
  EXPECT_EQ(tokens.outstanding(), 0u);
}

TEST(TokenTable, TokensAreUnguessable) {
  table tokens;
  const auto a = tokens.issue({"a", "b"}, t0 + 30s);
  const auto b = tokens.issue({"a", "b"}, t0 + 30s);
  EXPECT_NE(a[0], b[0]);
  EXPECT_EQ(a[0].size(), 32u);  // 128 random bits
}

}  // namespace
