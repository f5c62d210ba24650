#include "common/endpoint.hpp"

#include <charconv>

namespace net {

std::optional<host_port> parse_host_port(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3) return std::nullopt;
    host = host.substr(1, host.size() - 2);
  }
  // No brackets or blanks inside a host: "[[x]]:1" must not survive as "[x]" (it would print as
  // "[x]:1" and parse back as x).
  if (host.find_first_of("[] \t\r\n") != std::string_view::npos) return std::nullopt;
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) return std::nullopt;
  return host_port{std::string(host), static_cast<std::uint16_t>(port)};
}

std::optional<tcp::endpoint> parse_endpoint(std::string_view text) {
  auto parsed = parse_host_port(text);
  if (!parsed) return std::nullopt;
  std::error_code ec;
  auto address = asio::ip::make_address(parsed->host, ec);
  if (ec) return std::nullopt;
  return tcp::endpoint(address, parsed->port);
}

std::string to_string(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  if (address.is_v6()) return "[" + address.to_string() + "]:" + std::to_string(endpoint.port());
  return address.to_string() + ":" + std::to_string(endpoint.port());
}

asio::ip::address unmapped(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return address;
}

tcp::endpoint unmapped(const tcp::endpoint& endpoint) { return {unmapped(endpoint.address()), endpoint.port()}; }

const char* family_name(const asio::ip::address& address) { return unmapped(address).is_v4() ? "ipv4" : "ipv6"; }

std::string to_string(const host_port& target) {
  const bool v6 = target.host.find(':') != std::string::npos;
  return (v6 ? "[" + target.host + "]" : target.host) + ":" + std::to_string(target.port);
}

}  // namespace net
