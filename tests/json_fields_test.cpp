// Untrusted JSON: nesting is capped where frames are decoded, and numeric and string fields are
// read through one checked accessor, so no value a client sends can overflow the stack, cast a
// double out of range, or throw past a handler.
#include <gtest/gtest.h>

#include "common/frame_codec.hpp"
#include "common/json_fields.hpp"

namespace {

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(JsonFields, NestingAtTheCapParsesAndDeeperIsRefusedWithAReason) {
  EXPECT_TRUE(wire::parse_bounded(nested(wire::max_json_depth)).error.empty());
  const auto deep = wire::parse_bounded(nested(wire::max_json_depth + 1));
  EXPECT_NE(deep.error.find("nested deeper than 32"), std::string::npos) << deep.error;
  EXPECT_TRUE(deep.value.is_discarded());
  EXPECT_EQ(wire::parse_bounded("{\"a\":").error, "not valid JSON");
}

TEST(JsonFields, AHoleReportNested32700DeepIsRefusedAtDecode) {
  // The one-frame crash: 65,426 bytes of brackets in the "private" field of a hole report.
  const std::string body = "{\"type\":\"hole\",\"private\":" + nested(32700) + "}";
  std::vector<std::uint8_t> frame(4 + body.size());
  const auto n = static_cast<std::uint32_t>(body.size());
  frame[0] = static_cast<std::uint8_t>(n >> 24);
  frame[1] = static_cast<std::uint8_t>(n >> 16);
  frame[2] = static_cast<std::uint8_t>(n >> 8);
  frame[3] = static_cast<std::uint8_t>(n);
  std::copy(body.begin(), body.end(), frame.begin() + 4);
  const auto result = wire::decode(frame);
  ASSERT_TRUE(std::holds_alternative<wire::decode_error>(result));
  EXPECT_NE(std::get<wire::decode_error>(result).reason.find("nested deeper"), std::string::npos);
}

TEST(JsonFields, BracketsInsideStringsDoNotCountAsNesting) {
  const auto parsed = wire::parse_bounded("{\"type\":\"x\",\"s\":\"" + nested(100) + "\"}");
  EXPECT_TRUE(parsed.error.empty()) << parsed.error;
}

TEST(JsonFields, IntegersAreCheckedNeverCastOutOfRange) {
  using nlohmann::json;
  EXPECT_EQ(wire::to_integer(json(42)), 42);
  EXPECT_EQ(wire::to_integer(json(-7)), -7);
  EXPECT_EQ(wire::to_integer(json(5.0)), 5);
  EXPECT_EQ(wire::to_integer(json(1e300)), std::nullopt);
  EXPECT_EQ(wire::to_integer(json(-1e300)), std::nullopt);
  EXPECT_EQ(wire::to_integer(json(2.5)), std::nullopt);
  EXPECT_EQ(wire::to_integer(json(18446744073709551615ULL)), std::nullopt);
  EXPECT_EQ(wire::to_integer(json("12")), std::nullopt);
  EXPECT_EQ(wire::to_integer(json("12"), true), 12);
  EXPECT_EQ(wire::to_integer(json("1e999"), true), std::nullopt);
  EXPECT_EQ(wire::to_integer(json("12abc"), true), std::nullopt);
  EXPECT_EQ(wire::to_integer(json(""), true), std::nullopt);
  EXPECT_EQ(wire::to_integer(json::array()), std::nullopt);
}

TEST(JsonFields, FieldAccessorsNameTheFieldThatIsWrong) {
  const auto message = nlohmann::json::parse(R"({"req":1e300,"port":70000,"id":12345,"ok":true,"name":"x","none":null})");
  EXPECT_EQ(wire::request_number(message), 0);  // unusable: a reply echoes 0
  EXPECT_EQ(wire::int_field(message, "absent", 9, 0, 10), 9);
  EXPECT_EQ(wire::int_field(message, "none", 9, 0, 10), 9);
  try {
    wire::int_field(message, "port", 0, 0, 65535);
    FAIL() << "no error";
  } catch (const wire::field_error& e) {
    EXPECT_STREQ(e.what(), "field \"port\" must be an integer from 0 to 65535");
  }
  EXPECT_THROW(wire::int_field(message, "req", 0, 0, 1LL << 62), wire::field_error);
  EXPECT_THROW(wire::string_field(message, "id"), wire::field_error);
  EXPECT_EQ(wire::string_field(message, "name"), "x");
  EXPECT_EQ(wire::string_field(message, "absent", "d"), "d");
  EXPECT_TRUE(wire::bool_field(message, "ok", false));
  EXPECT_THROW(wire::bool_field(message, "name", false), wire::field_error);
  EXPECT_EQ(wire::request_number(nlohmann::json::array()), 0);
}

}  // namespace
