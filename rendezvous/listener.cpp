#include "rendezvous/listener.hpp"

#include <stdexcept>

#include "common/endpoint.hpp"

namespace rendezvous {

std::error_code open_listener(net::tcp::acceptor& acceptor, const net::tcp::endpoint& endpoint) {
  std::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::error_code ignored;
    acceptor.close(ignored);
  }
  return ec;
}

std::uint16_t listen_or_throw(net::tcp::acceptor& acceptor, const net::tcp::endpoint& endpoint, const char* what) {
  if (auto ec = open_listener(acceptor, endpoint)) {
    throw std::runtime_error(std::string("cannot listen for ") + what + " on " + net::to_string(endpoint) + ": " + ec.message());
  }
  return acceptor.local_endpoint().port();
}

}  // namespace rendezvous
