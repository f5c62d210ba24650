#include "rendezvous/listener.hpp"

#include <stdexcept>

#include "common/endpoint.hpp"

namespace rendezvous {

std::uint16_t listen_or_throw(net::tcp::acceptor& acceptor, const net::tcp::endpoint& endpoint, const char* what) {
  if (auto ec = net::open_listener(acceptor, endpoint)) {
    throw std::runtime_error(std::string("cannot listen for ") + what + " on " + net::to_string(endpoint) + ": " + ec.message());
  }
  return acceptor.local_endpoint().port();
}

}  // namespace rendezvous
