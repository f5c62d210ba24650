#include "rendezvous/public_addresses.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include <asio/io_context.hpp>

#include "common/local_addresses.hpp"

namespace rendezvous {
namespace {

/// Adds `address` unless its family is there already.
void add_once(std::vector<asio::ip::address>& chosen, const asio::ip::address& address) {
  for (const auto& c : chosen) {
    if (c.is_v4() == address.is_v4()) return;
  }
  chosen.push_back(address);
}

std::vector<asio::ip::address> interface_addresses(bool v4, bool v6) {
  std::vector<asio::ip::address> found;
  for (const auto& local : net::local_addresses()) {
    if (local.temporary || !net::is_public(local.address)) continue;
    if ((local.address.is_v4() && v4) || (local.address.is_v6() && v6)) add_once(found, local.address);
  }
  return found;
}

}  // namespace

std::vector<std::string> public_addresses(const std::vector<std::string>& listen_hosts, const std::string& advertise) {
  std::vector<asio::ip::address> chosen;
  if (!advertise.empty()) {
    std::stringstream list(advertise);
    for (std::string item; std::getline(list, item, ',');) {
      if (item.empty()) continue;
      std::error_code ec;
      auto literal = asio::ip::make_address(item, ec);
      if (ec) {
        asio::io_context io;
        asio::ip::tcp::resolver resolver(io);
        const auto found = resolver.resolve(item, "", ec);
        if (ec || found.empty()) throw std::runtime_error("cannot resolve --advertise " + item + ": " + ec.message());
        literal = found.begin()->endpoint().address();
      }
      add_once(chosen, literal);
    }
  } else {
    for (const auto& host : listen_hosts) {
      std::error_code ec;
      const auto listen = asio::ip::make_address(host, ec);
      if (!ec && !listen.is_unspecified()) add_once(chosen, listen);
      if (!ec && listen.is_unspecified()) {
        for (const auto& found : interface_addresses(true, listen.is_v6())) add_once(chosen, found);
      }
    }
  }
  std::stable_partition(chosen.begin(), chosen.end(), [](const asio::ip::address& a) { return a.is_v4(); });
  std::vector<std::string> text;
  for (const auto& address : chosen) text.push_back(address.to_string());
  return text;
}

}  // namespace rendezvous
