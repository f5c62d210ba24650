// STUN Binding over TCP (RFC 5389 / 8489), just what the mapping test needs: a Binding request,
// and from the success response the mapped address (XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from
// older servers) and the server's other address (OTHER-ADDRESS, RFC 5780; CHANGED-ADDRESS, RFC
// 3489). Pure functions: bytes in, values out.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/net.hpp"

namespace stun {

inline constexpr std::size_t header_size = 20;
inline constexpr std::uint32_t magic_cookie = 0x2112A442;
using transaction_id = std::array<std::uint8_t, 12>;

/// A Binding request with this transaction ID.
std::vector<std::uint8_t> binding_request(const transaction_id& id);
/// The whole message's size once its 20-byte header is in; nothing if it is not a STUN header.
std::optional<std::size_t> message_size(std::span<const std::uint8_t> header);

/// What a Binding success response said.
struct binding_response {
  std::optional<net::tcp::endpoint> mapped;
  std::optional<net::tcp::endpoint> other;  ///< where the server's alternate address is, if it has one
};
/// Parses a whole response to `id`; throws std::runtime_error saying what is wrong.
binding_response parse_binding_response(std::span<const std::uint8_t> message, const transaction_id& id);

}  // namespace stun
