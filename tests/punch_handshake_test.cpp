#include <gtest/gtest.h>

#include "nat/punch_handshake.hpp"

namespace {

const nat::attempt_secret secret{"attempt-1", "token-abc"};

TEST(PunchHandshake, EachRoleAcceptsTheOthersHello) {
  std::string why;
  EXPECT_TRUE(nat::verify_punch_hello(secret, nat::role::responder,
                                      nat::make_punch_hello(secret, nat::role::initiator), why)) << why;
  EXPECT_TRUE(nat::verify_punch_hello(secret, nat::role::initiator,
                                      nat::make_punch_hello(secret, nat::role::responder), why)) << why;
}

TEST(PunchHandshake, OwnHelloReflectedBackIsRefused) {
  // A connection to ourselves (e.g. a private candidate that is our own address) must not win.
  std::string why;
  EXPECT_FALSE(nat::verify_punch_hello(secret, nat::role::initiator,
                                       nat::make_punch_hello(secret, nat::role::initiator), why));
}

TEST(PunchHandshake, WrongTokenOrAttemptIsRefused) {
  std::string why;
  const nat::attempt_secret stranger{"attempt-1", "other-token"};
  EXPECT_FALSE(nat::verify_punch_hello(secret, nat::role::responder,
                                       nat::make_punch_hello(stranger, nat::role::initiator), why));
  EXPECT_EQ(why, "wrong attempt proof");
  const nat::attempt_secret other_attempt{"attempt-2", "token-abc"};
  EXPECT_FALSE(nat::verify_punch_hello(secret, nat::role::responder,
                                       nat::make_punch_hello(other_attempt, nat::role::initiator), why));
}

TEST(PunchHandshake, TheTokenNeverAppearsOnTheWire) {
  const auto hello = nat::make_punch_hello(secret, nat::role::initiator).dump();
  EXPECT_EQ(hello.find(secret.token), std::string::npos);
}

}  // namespace
