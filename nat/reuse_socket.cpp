#include "nat/reuse_socket.hpp"

#include <sys/socket.h>

#include <asio/detail/socket_option.hpp>
#include <asio/ip/v6_only.hpp>

namespace nat {
namespace {

using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

template <typename Socket>
void share_port(Socket& socket, const net::tcp& family) {
  socket.set_option(asio::socket_base::reuse_address(true));
  socket.set_option(reuse_port(true));
  if (family == net::tcp::v6()) socket.set_option(asio::ip::v6_only(true));
}

asio::ip::address wildcard(const net::tcp& family) {
  if (family == net::tcp::v6()) return asio::ip::address_v6::any();
  return asio::ip::address_v4::any();
}

}  // namespace

net::tcp::acceptor open_shared_listener(const asio::any_io_executor& ex, std::uint16_t port, net::tcp family) {
  net::tcp::acceptor acceptor(ex);
  acceptor.open(family);
  share_port(acceptor, family);
  acceptor.bind({wildcard(family), port});
  acceptor.listen(64);
  return acceptor;
}

net::tcp::socket open_shared_dialer(const asio::any_io_executor& ex, std::uint16_t port, net::tcp family) {
  net::tcp::socket socket(ex);
  socket.open(family);
  share_port(socket, family);
  socket.bind({wildcard(family), port});
  return socket;
}

}  // namespace nat
