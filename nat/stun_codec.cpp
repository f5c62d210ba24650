#include "nat/stun_codec.hpp"

#include <stdexcept>

namespace stun {
namespace {

constexpr std::uint16_t binding_request_type = 0x0001;
constexpr std::uint16_t binding_success_type = 0x0101;
constexpr std::uint16_t binding_error_type = 0x0111;
constexpr std::uint16_t mapped_address = 0x0001;
constexpr std::uint16_t changed_address = 0x0005;
constexpr std::uint16_t xor_mapped_address = 0x0020;
constexpr std::uint16_t other_address = 0x802C;

std::uint16_t u16(std::span<const std::uint8_t> b, std::size_t at) {
  return static_cast<std::uint16_t>((b[at] << 8) | b[at + 1]);
}
std::uint32_t u32(std::span<const std::uint8_t> b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) | (std::uint32_t{b[at + 2]} << 8) | b[at + 3];
}

/// MAPPED-ADDRESS layout (also OTHER- and CHANGED-ADDRESS); with `xored`, XOR-MAPPED-ADDRESS.
std::optional<net::tcp::endpoint> address(std::span<const std::uint8_t> value, bool xored, const transaction_id& id) {
  if (value.size() < 4) return std::nullopt;
  const std::uint8_t family = value[1];
  std::uint16_t port = u16(value, 2);
  if (xored) port ^= static_cast<std::uint16_t>(magic_cookie >> 16);
  if (family == 0x01 && value.size() >= 8) {
    std::uint32_t ip = u32(value, 4);
    if (xored) ip ^= magic_cookie;
    return net::tcp::endpoint(asio::ip::address_v4(ip), port);
  }
  if (family == 0x02 && value.size() >= 20) {
    asio::ip::address_v6::bytes_type ip;
    for (std::size_t i = 0; i < 16; ++i) {
      std::uint8_t mask = 0;
      if (xored) mask = i < 4 ? static_cast<std::uint8_t>(magic_cookie >> (24 - 8 * i)) : id[i - 4];
      ip[i] = value[4 + i] ^ mask;
    }
    return net::tcp::endpoint(asio::ip::address_v6(ip), port);
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::uint8_t> binding_request(const transaction_id& id) {
  std::vector<std::uint8_t> out(header_size, 0);
  out[0] = binding_request_type >> 8;
  out[1] = binding_request_type & 0xff;  // length 0: no attributes
  for (int i = 0; i < 4; ++i) out[4 + i] = static_cast<std::uint8_t>(magic_cookie >> (24 - 8 * i));
  std::copy(id.begin(), id.end(), out.begin() + 8);
  return out;
}

std::optional<std::size_t> message_size(std::span<const std::uint8_t> header) {
  if (header.size() < header_size || (header[0] & 0xC0) != 0 || u32(header, 4) != magic_cookie) return std::nullopt;
  const std::size_t length = u16(header, 2);
  if (length % 4 != 0) return std::nullopt;
  return header_size + length;
}

binding_response parse_binding_response(std::span<const std::uint8_t> message, const transaction_id& id) {
  const auto size = message_size(message);
  if (!size || *size != message.size()) throw std::runtime_error("not a whole STUN message");
  if (!std::equal(id.begin(), id.end(), message.begin() + 8)) throw std::runtime_error("STUN reply to another request");
  const auto type = u16(message, 0);
  if (type == binding_error_type) throw std::runtime_error("the STUN server answered with an error");
  if (type != binding_success_type) throw std::runtime_error("not a STUN Binding success response");
  binding_response response;
  std::optional<net::tcp::endpoint> plain_mapped;
  for (std::size_t at = header_size; at + 4 <= message.size();) {
    const auto attribute = u16(message, at);
    const std::size_t length = u16(message, at + 2);
    if (at + 4 + length > message.size()) throw std::runtime_error("truncated STUN attribute");
    const auto value = message.subspan(at + 4, length);
    if (attribute == xor_mapped_address) response.mapped = address(value, true, id);
    if (attribute == mapped_address) plain_mapped = address(value, false, id);
    if (attribute == other_address || (attribute == changed_address && !response.other)) response.other = address(value, false, id);
    at += 4 + ((length + 3) & ~std::size_t{3});
  }
  if (!response.mapped) response.mapped = plain_mapped;
  if (!response.mapped) throw std::runtime_error("STUN response without a mapped address");
  return response;
}

}  // namespace stun
