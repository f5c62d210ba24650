#include "nat/reuse_socket.hpp"

#include <sys/socket.h>

#include <asio/detail/socket_option.hpp>

namespace nat {
namespace {

using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

template <typename Socket>
void share_port(Socket& socket) {
  socket.set_option(asio::socket_base::reuse_address(true));
  socket.set_option(reuse_port(true));
}

}  // namespace

net::tcp::acceptor open_shared_listener(const asio::any_io_executor& ex, std::uint16_t port) {
  net::tcp::acceptor acceptor(ex);
  acceptor.open(net::tcp::v4());
  share_port(acceptor);
  acceptor.bind({asio::ip::address_v4::any(), port});
  acceptor.listen(64);
  return acceptor;
}

net::tcp::socket open_shared_dialer(const asio::any_io_executor& ex, std::uint16_t port) {
  net::tcp::socket socket(ex);
  socket.open(net::tcp::v4());
  share_port(socket);
  socket.bind({asio::ip::address_v4::any(), port});
  return socket;
}

}  // namespace nat
