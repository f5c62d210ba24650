#include "tests/support/echo_server.hpp"

#include <array>
#include <thread>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

namespace test {
namespace {

using asio::ip::tcp;

void echo(std::shared_ptr<tcp::socket> socket, std::shared_ptr<std::array<char, 16384>> buffer) {
  socket->async_read_some(asio::buffer(*buffer), [socket, buffer](std::error_code ec, std::size_t n) {
    if (ec) return;
    asio::async_write(*socket, asio::buffer(buffer->data(), n), [socket, buffer](std::error_code ec, std::size_t) {
      if (!ec) echo(socket, buffer);
    });
  });
}

void accept_next(tcp::acceptor& acceptor) {
  acceptor.async_accept([&acceptor](std::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) echo(std::make_shared<tcp::socket>(std::move(socket)), std::make_shared<std::array<char, 16384>>());
    accept_next(acceptor);
  });
}

}  // namespace

struct echo_server::impl {
  asio::io_context io;
  tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::address_v4::loopback(), 0)};
  std::thread thread;
};

echo_server::echo_server() : impl_(std::make_unique<impl>()) {
  accept_next(impl_->acceptor);
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

echo_server::~echo_server() {
  impl_->io.stop();
  impl_->thread.join();
}

std::uint16_t echo_server::port() const { return impl_->acceptor.local_endpoint().port(); }

}  // namespace test
