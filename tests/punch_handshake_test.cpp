#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>

#include "nat/punch_handshake.hpp"

namespace {

using namespace asio::experimental::awaitable_operators;

const nat::attempt_secret secret{"attempt-1", "token-abc"};
const std::string nonce_a(32, 'a');
const std::string nonce_b(32, 'b');

TEST(PunchHandshake, HelloFromTheOtherRoleYieldsItsNonce) {
  std::string why;
  auto nonce = nat::check_punch_hello(secret, nat::role::responder,
                                      nat::make_punch_hello(secret, nat::role::initiator, nonce_a), why);
  ASSERT_TRUE(nonce) << why;
  EXPECT_EQ(*nonce, nonce_a);
}

TEST(PunchHandshake, OwnRoleOtherAttemptOrMissingNonceIsRefused) {
  std::string why;
  EXPECT_FALSE(nat::check_punch_hello(secret, nat::role::initiator,
                                      nat::make_punch_hello(secret, nat::role::initiator, nonce_a), why));
  EXPECT_FALSE(nat::check_punch_hello(secret, nat::role::responder,
                                      nat::make_punch_hello({"attempt-2", secret.token}, nat::role::initiator, nonce_a), why));
  EXPECT_FALSE(nat::check_punch_hello(secret, nat::role::responder,
                                      nat::make_punch_hello(secret, nat::role::initiator, "short"), why));
  EXPECT_FALSE(nat::check_punch_hello(secret, nat::role::responder, {{"type", "punch_hello"}, {"attempt", 5}}, why));
}

TEST(PunchHandshake, ProofsAreBoundToRoleTokenAndBothNonces) {
  const auto proof = nat::punch_proof(secret, nat::role::initiator, nonce_a, nonce_b);
  EXPECT_EQ(proof, nat::punch_proof(secret, nat::role::initiator, nonce_a, nonce_b));
  EXPECT_NE(proof, nat::punch_proof(secret, nat::role::responder, nonce_a, nonce_b));
  EXPECT_NE(proof, nat::punch_proof(secret, nat::role::initiator, nonce_a, std::string(32, 'c')));  // replay elsewhere
  EXPECT_NE(proof, nat::punch_proof({secret.attempt_id, "other"}, nat::role::initiator, nonce_a, nonce_b));
  EXPECT_EQ(proof.find(secret.token), std::string::npos);
}

TEST(PunchHandshake, SelectMustCarryThisConnectionsMac) {
  const auto mac = nat::select_mac(secret, nonce_a, nonce_b);
  EXPECT_TRUE(nat::is_valid_select({{"type", "punch_select"}, {"mac", mac}}, mac));
  EXPECT_FALSE(nat::is_valid_select({{"type", "punch_select"}}, mac));
  EXPECT_FALSE(nat::is_valid_select({{"type", "punch_select"}, {"mac", nat::select_mac(secret, nonce_b, nonce_a)}}, mac));
}

/// Runs handshake_single on both ends of a loopback connection with the given secrets.
std::pair<std::string, std::string> handshake_pair(const nat::attempt_secret& initiator, const nat::attempt_secret& responder) {
  asio::io_context io;
  net::tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
  net::tcp::socket a(io), b(io);
  a.connect(acceptor.local_endpoint());
  b = acceptor.accept();
  std::string why_a = "unset", why_b = "unset";
  auto run = [&](net::tcp::socket& s, const nat::attempt_secret& sec, nat::role r, std::string& why) -> net::awaitable<void> {
    auto leftover = co_await nat::handshake_single(s, sec, r, why);
    if (leftover) why.clear();
    else s.close();  // a refusing side hangs up, as the real code does
  };
  asio::co_spawn(io, run(a, initiator, nat::role::initiator, why_a) && run(b, responder, nat::role::responder, why_b),
                 asio::detached);
  io.run();
  return {why_a, why_b};
}

TEST(PunchHandshake, SingleConnectionHandshakeSucceedsWithTheSameToken) {
  auto [a, b] = handshake_pair(secret, secret);
  EXPECT_EQ(a, "");
  EXPECT_EQ(b, "");
}

TEST(PunchHandshake, SingleConnectionHandshakeFailsOnEitherSideWithAnotherToken) {
  auto [a, b] = handshake_pair(secret, {secret.attempt_id, "guessed"});
  EXPECT_EQ(a, "wrong attempt proof");
  EXPECT_EQ(b, "wrong attempt proof");
}

}  // namespace
