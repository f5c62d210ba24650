#include <gtest/gtest.h>

#include "common/frame_codec.hpp"

namespace {

std::vector<std::uint8_t> raw_frame(std::uint32_t length, const std::string& body) {
  std::vector<std::uint8_t> bytes(4 + body.size());
  for (int i = 0; i < 4; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(length >> (24 - 8 * i));
  std::copy(body.begin(), body.end(), bytes.begin() + 4);
  return bytes;
}

std::string error_of(const wire::decode_result& result) {
  auto* error = std::get_if<wire::decode_error>(&result);
  return error ? error->reason : "";
}

TEST(Codec, RoundTripKeepsMessageAndReportsBytesUsed) {
  const nlohmann::json message{{"type", "register"}, {"id", "bob"}, {"n", 42}};
  const auto bytes = wire::encode(message);
  auto result = wire::decode(bytes);
  auto* frame = std::get_if<wire::decoded>(&result);
  ASSERT_NE(frame, nullptr);
  EXPECT_EQ(frame->message, message);
  EXPECT_EQ(frame->consumed, bytes.size());
}

TEST(Codec, TwoFramesBackToBackDecodeOneAtATime) {
  auto bytes = wire::encode({{"type", "a"}});
  const auto second = wire::encode({{"type", "b"}});
  const auto first_size = bytes.size();
  bytes.insert(bytes.end(), second.begin(), second.end());
  auto result = wire::decode(bytes);
  ASSERT_TRUE(std::holds_alternative<wire::decoded>(result));
  EXPECT_EQ(std::get<wire::decoded>(result).consumed, first_size);
  EXPECT_EQ(std::get<wire::decoded>(result).message["type"], "a");
}

TEST(Codec, TruncatedFrameNeedsMoreAtEveryCut) {
  const auto bytes = wire::encode({{"type", "list"}, {"req", 7}});
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    auto result = wire::decode(std::span(bytes.data(), cut));
    EXPECT_TRUE(std::holds_alternative<wire::need_more>(result)) << "cut at " << cut;
  }
}

TEST(Codec, OversizedLengthIsAnErrorBeforeAnyBodyArrives) {
  const auto result = wire::decode(raw_frame(wire::max_frame_body + 1, ""));
  EXPECT_NE(error_of(result).find("exceeds"), std::string::npos);
  EXPECT_FALSE(error_of(wire::decode(raw_frame(0xFFFFFFFFu, ""))).empty());
}

TEST(Codec, LargestAllowedFrameDecodes) {
  std::string padding(wire::max_frame_body - 30, 'x');
  const nlohmann::json message{{"type", "t"}, {"p", padding}};
  const auto bytes = wire::encode(message);
  EXPECT_LE(bytes.size() - wire::frame_header_size, wire::max_frame_body);
  EXPECT_TRUE(std::holds_alternative<wire::decoded>(wire::decode(bytes)));
}

TEST(Codec, EncodeRefusesOversizedMessage) {
  const nlohmann::json message{{"type", "t"}, {"p", std::string(wire::max_frame_body, 'x')}};
  EXPECT_THROW(wire::encode(message), std::length_error);
}

TEST(Codec, GarbageIsAnError) {
  EXPECT_NE(error_of(wire::decode(raw_frame(5, "\x01\x02{]x"))).find("not valid JSON"), std::string::npos);
  EXPECT_FALSE(error_of(wire::decode(raw_frame(0, ""))).empty());
}

TEST(Codec, BodyMustBeAnObjectWithStringType) {
  EXPECT_NE(error_of(wire::decode(raw_frame(7, "[1,2,3]"))).find("not a JSON object"), std::string::npos);
  EXPECT_NE(error_of(wire::decode(raw_frame(2, "{}"))).find("type"), std::string::npos);
  EXPECT_NE(error_of(wire::decode(raw_frame(10, R"({"type":1})"))).find("type"), std::string::npos);
}

TEST(Codec, UnknownTypeDecodesSoTheProtocolLayerCanAnswerIt) {
  // The codec does not know message types: an unknown one is a well-formed frame, and the server
  // answers it with an "unknown_type" error (tested end to end in server_hygiene_test).
  auto result = wire::decode(wire::encode({{"type", "no-such-type"}}));
  ASSERT_TRUE(std::holds_alternative<wire::decoded>(result));
  EXPECT_EQ(std::get<wire::decoded>(result).message["type"], "no-such-type");
}

}  // namespace
