#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "rendezvous/admission.hpp"
#include "rendezvous/descriptor_budget.hpp"

namespace {

using namespace std::chrono_literals;

const auto flooder = asio::ip::make_address("198.51.100.7");
const auto other = asio::ip::make_address("198.51.100.8");
const auto newcomer = asio::ip::make_address("203.0.113.9");

rendezvous::admission_limits limits(int per_address, int pending) {
  rendezvous::admission_limits l;
  l.per_address = per_address;
  l.pending = pending;
  l.handshake_time = 10s;
  l.pressed_handshake_time = 2s;
  return l;
}

TEST(Admission, CapsConnectionsPerAddressButNotOthers) {
  rendezvous::admission control("main", limits(2, 100));
  std::string why;
  auto a = control.admit(flooder, why);
  auto b = control.admit(flooder, why);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(control.admit(flooder, why));
  EXPECT_NE(why.find("too many handshaking connections"), std::string::npos);
  EXPECT_TRUE(control.admit(other, why));
  a.reset();  // a connection ends: its slot is free again
  auto c = control.admit(flooder, why);
  EXPECT_TRUE(c);
  c->handshake_done();  // an authenticated connection no longer counts against its address
  b->handshake_done();
  EXPECT_TRUE(control.admit(flooder, why));
  EXPECT_TRUE(control.admit(flooder, why));
}

TEST(Admission, AFullBudgetEvictsTheOldestOfTheBusiestAddressNotTheNewcomer) {
  rendezvous::admission control("main", limits(100, 4));
  std::string why;
  std::vector<std::string> evicted;
  std::vector<rendezvous::admission_ticket> held;
  for (int i = 0; i < 3; ++i) {
    auto t = control.admit(flooder, why);
    ASSERT_TRUE(t);
    t->on_evict([&evicted, i](const std::string& reason) { evicted.push_back("flooder-" + std::to_string(i) + ": " + reason); });
    held.push_back(std::move(*t));
  }
  auto lone = control.admit(other, why);
  ASSERT_TRUE(lone);
  lone->on_evict([&evicted](const std::string&) { evicted.push_back("other"); });
  // Full: the newcomer gets in, and the flooder's oldest connection makes room.
  auto fresh = control.admit(newcomer, why);
  ASSERT_TRUE(fresh) << why;
  ASSERT_EQ(evicted.size(), 1u);
  EXPECT_EQ(evicted[0].rfind("flooder-0: evicted", 0), 0u) << evicted[0];
  EXPECT_FALSE(held[0].pending());
  EXPECT_EQ(control.pending(), 4);
  EXPECT_EQ(control.evicted(), 1u);
  // The flooder itself cannot evict others to make room: it holds the most already.
  EXPECT_FALSE(control.admit(flooder, why));
  EXPECT_NE(why.find("too many pending handshakes on the main port"), std::string::npos) << why;
  // Releasing an evicted ticket frees nothing twice.
  held.clear();
  EXPECT_EQ(control.pending(), 2);
}

TEST(Admission, AConnectionEvictedBeforeItsOwnerSaidHowClosesWhenItDoes) {
  rendezvous::admission control("hole-assist", limits(100, 2));
  std::string why;
  auto early = control.admit(flooder, why);
  auto second = control.admit(flooder, why);
  ASSERT_TRUE(early && second);
  auto late = control.admit(newcomer, why);  // evicts `early`, whose owner has not called on_evict yet
  ASSERT_TRUE(late);
  EXPECT_TRUE(early->evicted());
  bool closed = false;
  early->on_evict([&closed](const std::string&) { closed = true; });
  EXPECT_TRUE(closed);
  EXPECT_EQ(control.pending(), 2);
}

TEST(Admission, ACrowdOfOneConnectionPerAddressIsRefusedNotChurnedUntilOneStalls) {
  // A restart storm: every address holds one pending handshake. Evicting each other mid-handshake
  // would let nobody finish, so a newcomer is refused (and retries) until a connection has been
  // pending longer than evict_after.
  auto l = limits(100, 3);
  l.evict_after = 50ms;
  rendezvous::admission control("main", l);
  std::string why;
  std::vector<rendezvous::admission_ticket> held;
  for (int i = 1; i <= 3; ++i) held.push_back(std::move(*control.admit(asio::ip::make_address("198.51.100." + std::to_string(i)), why)));
  EXPECT_FALSE(control.admit(newcomer, why));
  EXPECT_EQ(control.evicted(), 0u);
  std::this_thread::sleep_for(60ms);
  EXPECT_TRUE(control.admit(newcomer, why));  // the oldest has stalled: it goes
  EXPECT_FALSE(held[0].pending());
  EXPECT_TRUE(held[1].pending());
}

TEST(Admission, PressureShortensTheHandshakeDeadline) {
  rendezvous::admission control("relay", limits(100, 4));
  std::string why;
  auto a = control.admit(flooder, why);
  auto b = control.admit(other, why);
  EXPECT_EQ(a->handshake_time(), 10s);
  EXPECT_EQ(b->handshake_time(), 10s);
  auto c = control.admit(newcomer, why);  // half the budget is in use
  EXPECT_EQ(c->handshake_time(), 2s);
}

TEST(Admission, SlotsHeldForLifeAreNeverEvicted) {
  auto l = limits(100, 1);
  l.evict_when_full = false;
  rendezvous::admission control("exposed", l);
  std::string why;
  auto first = control.admit(flooder, why);
  ASSERT_TRUE(first);
  EXPECT_FALSE(control.admit(newcomer, why));
  EXPECT_NE(why.find("pending handshakes"), std::string::npos);
  first->handshake_done();
  EXPECT_TRUE(control.admit(other, why));
  EXPECT_EQ(control.refused(), 1u);
}

TEST(Admission, TicketsMoveWithoutLosingTheirSlot) {
  rendezvous::admission control("main", limits(100, 2));
  std::string why;
  auto t = control.admit(flooder, why);
  auto other_flooder = control.admit(flooder, why);
  ASSERT_TRUE(t && other_flooder);
  rendezvous::admission_ticket moved = std::move(*t);
  rendezvous::admission_ticket again;
  again = std::move(moved);
  bool closed = false;
  again.on_evict([&closed](const std::string&) { closed = true; });
  ASSERT_TRUE(control.admit(newcomer, why));  // evicts through the moved ticket
  EXPECT_TRUE(closed);
  EXPECT_FALSE(again.pending());
}

}  // namespace
namespace {

TEST(DescriptorBudget, DefaultsFitTheUsualHardLimit) {
  rendezvous::server_config config;  // 10,000 peers, 1,000 relayed pairs
  const auto budget = rendezvous::fit_to_descriptors(20000, config);
  EXPECT_FALSE(budget.reduced);
  EXPECT_EQ(budget.max_peers, 10000);
  EXPECT_EQ(budget.max_relay_pairs, 1000);
  const long used = budget.max_peers + budget.max_idle_clients +
                    budget.max_relay_pairs * rendezvous::descriptors_per_relay_pair + 4 * budget.max_pending_per_port;
  EXPECT_LT(used, 20000 - 64);
}

TEST(DescriptorBudget, ASmallLimitCutsEveryCapToFitWithHeadroom) {
  rendezvous::server_config config;
  config.max_peers = 20000;
  const auto budget = rendezvous::fit_to_descriptors(1024, config);
  EXPECT_TRUE(budget.reduced);
  const long used = budget.max_peers + budget.max_idle_clients +
                    budget.max_relay_pairs * rendezvous::descriptors_per_relay_pair + 4 * budget.max_pending_per_port;
  EXPECT_LE(used, 1024 - 64);
  EXPECT_GT(budget.max_peers, 100);
  EXPECT_GE(budget.max_relay_pairs, 1);
  EXPECT_EQ(budget.max_pending_per_port, 64);
  EXPECT_NE(rendezvous::describe(budget).find("less than configured"), std::string::npos);
}

}  // namespace
