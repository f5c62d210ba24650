#include <gtest/gtest.h>

#include "nat/stun_codec.hpp"

namespace {

const stun::transaction_id tid{0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

// The IPv4 response of RFC 5769 section 2.2 (XOR-MAPPED-ADDRESS 192.0.2.1:32853), with its
// SOFTWARE, MESSAGE-INTEGRITY and FINGERPRINT attributes, which a client may ignore.
const std::vector<std::uint8_t> rfc5769_response{
    0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87,
    0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20,
    0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91,
    0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7,
    0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96};

TEST(StunCodec, RequestIsAHeaderWithCookieAndId) {
  const auto request = stun::binding_request(tid);
  ASSERT_EQ(request.size(), 20u);
  EXPECT_EQ(request[0], 0x00);
  EXPECT_EQ(request[1], 0x01);
  EXPECT_EQ(request[4], 0x21);
  EXPECT_EQ(request[7], 0x42);
  EXPECT_TRUE(std::equal(tid.begin(), tid.end(), request.begin() + 8));
  EXPECT_EQ(stun::message_size(request), 20u);
}

TEST(StunCodec, ParsesTheRfc5769Vector) {
  EXPECT_EQ(stun::message_size(rfc5769_response), rfc5769_response.size());
  const auto response = stun::parse_binding_response(rfc5769_response, tid);
  ASSERT_TRUE(response.mapped);
  EXPECT_EQ(*response.mapped, net::tcp::endpoint(asio::ip::make_address("192.0.2.1"), 32853));
  EXPECT_FALSE(response.other);
}

TEST(StunCodec, ReadsOtherAddressFromRfc5780Servers) {
  auto message = rfc5769_response;
  // Append OTHER-ADDRESS 198.51.100.9:3479 and fix the length.
  const std::vector<std::uint8_t> other{0x80, 0x2c, 0x00, 0x08, 0x00, 0x01, 0x0d, 0x97, 198, 51, 100, 9};
  message.insert(message.end(), other.begin(), other.end());
  message[3] = static_cast<std::uint8_t>(message.size() - 20);
  const auto response = stun::parse_binding_response(message, tid);
  ASSERT_TRUE(response.other);
  EXPECT_EQ(*response.other, net::tcp::endpoint(asio::ip::make_address("198.51.100.9"), 3479));
}

TEST(StunCodec, RefusesOtherTransactionsTruncationAndNonStun) {
  auto other_id = tid;
  other_id[0] ^= 1;
  EXPECT_THROW(stun::parse_binding_response(rfc5769_response, other_id), std::runtime_error);
  auto truncated = rfc5769_response;
  truncated.pop_back();
  EXPECT_THROW(stun::parse_binding_response(truncated, tid), std::runtime_error);
  const std::vector<std::uint8_t> http{'H', 'T', 'T', 'P', '/', '1', '.', '1', ' ', '2', '0', '0', ' ', 'O', 'K', '\r', '\n', '\r', '\n', 'x'};
  EXPECT_FALSE(stun::message_size(http));
}

}  // namespace
