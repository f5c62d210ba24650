// Every input the fuzzers (fuzz/, scripts/fuzz.sh) found to break a decoder, kept as a test.
#include <gtest/gtest.h>

#include "common/endpoint.hpp"
#include "common/identity.hpp"
#include "session/handshake.hpp"
#include "transfer/transfer_error.hpp"

namespace {

TEST(FuzzFindings, ASessionHelloWithAHugeVersionIsRefusedNotCast) {
  // session_hello-version-1e300: the version went through value<int>() from a double (UB).
  const auto keys = identity::generate();
  for (const auto* text : {R"({"type":"session_hello","version":1e300})",
                           R"({"type":"session_hello","version":184467440737095516150})",
                           R"({"type":"session_hello","version":-1e300})"}) {
    session::handshake_state state(keys, false);
    const auto refusal = state.take_peer_hello(nlohmann::json::parse(text));
    ASSERT_TRUE(refusal.has_value()) << text;
    EXPECT_EQ(*refusal, "the peer speaks another session protocol version");
  }
}

TEST(FuzzFindings, ATransferFailureNamingAFileIsNeverReadAsARefusalOrBusy) {
  // transfer_wire-failed-read-as-refused / -busy-read-as-refused: the kind was found anywhere in
  // the reason, so a file name could turn a failure into a refusal.
  const transfer::transfer_error failed("cannot receive 'x: refused: y': a directory of that name is in the way");
  const auto back = transfer::stream_failure("stream reset by the peer: " + transfer::reset_reason(failed));
  EXPECT_EQ(back.kind(), transfer::failure_kind::failed);
  EXPECT_STREQ(back.what(), failed.what());
  const transfer::transfer_error busy("another transfer is receiving 'a: refused: b' right now", transfer::failure_kind::busy);
  const auto busy_back = transfer::stream_failure("stream reset by the peer: " + transfer::reset_reason(busy));
  EXPECT_EQ(busy_back.kind(), transfer::failure_kind::busy);
  EXPECT_STREQ(busy_back.what(), busy.what());
  const transfer::transfer_error refused("bob does not accept files from carol", transfer::failure_kind::refused);
  EXPECT_EQ(transfer::stream_failure(transfer::reset_reason(refused)).kind(), transfer::failure_kind::refused);
  // A local error that merely mentions the words stays a failure.
  EXPECT_EQ(transfer::stream_failure("the session ended: refused: x").kind(), transfer::failure_kind::failed);
}

TEST(FuzzFindings, HostsWithBracketsInsideDoNotParse) {
  // text_parsers-nested-bracket: "[[]:0" parsed as host "[", printed as "[:0", which no longer parses.
  EXPECT_FALSE(net::parse_host_port("[[]:0"));
  EXPECT_FALSE(net::parse_host_port("[[x]]:1"));
  EXPECT_FALSE(net::parse_host_port("a b:1"));
  const auto v6 = net::parse_host_port("[2001:db8::1]:7000");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "2001:db8::1");
  EXPECT_EQ(net::parse_host_port(net::to_string(*v6))->host, v6->host);
  EXPECT_TRUE(net::parse_host_port("example.org:80"));
}

}  // namespace
