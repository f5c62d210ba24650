#include <gtest/gtest.h>

#include "rendezvous/admission.hpp"

namespace {

const auto flooder = asio::ip::make_address("198.51.100.7");
const auto other = asio::ip::make_address("198.51.100.8");

TEST(Admission, CapsConnectionsPerAddressButNotOthers) {
  rendezvous::admission control(2, 100);
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

TEST(Admission, CapsPendingHandshakesUntilTheyAuthenticate) {
  rendezvous::admission control(100, 1);
  std::string why;
  auto first = control.admit(flooder, why);
  ASSERT_TRUE(first);
  EXPECT_FALSE(control.admit(other, why));
  EXPECT_NE(why.find("pending handshakes"), std::string::npos);
  first->handshake_done();
  EXPECT_TRUE(control.admit(other, why));
  EXPECT_EQ(control.refused(), 1u);
}

}  // namespace
