#include "tests/support/tap_proxy.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/write.hpp>

#include <map>
#include <thread>

#include "common/listen.hpp"

#include "common/net.hpp"

namespace test {

struct tap_proxy::impl {
  asio::io_context io;
  std::vector<std::unique_ptr<net::tcp::acceptor>> acceptors;
  mutable std::mutex mutex;
  std::map<std::uint16_t, std::string> carried;
  std::uint64_t flip_after = 0;
  std::uint64_t upstream_bytes = 0;
  bool flipped = false;
  std::thread thread;

  net::awaitable<void> pump(std::shared_ptr<net::tcp::socket> from, std::shared_ptr<net::tcp::socket> to,
                            std::uint16_t port, bool upstream) {
    std::vector<std::uint8_t> buffer(64 * 1024);
    for (;;) {
      auto [ec, n] = co_await from->async_read_some(asio::buffer(buffer), net::use_nothrow);
      if (ec) break;
      {
        std::lock_guard lock(mutex);
        if (upstream && flip_after > 0 && !flipped && upstream_bytes + n > flip_after) {
          buffer[flip_after - upstream_bytes] ^= 0x01;
          flipped = true;
        }
        if (upstream) upstream_bytes += n;
        carried[port].append(reinterpret_cast<const char*>(buffer.data()), n);
      }
      auto [wec, wn] = co_await asio::async_write(*to, asio::buffer(buffer.data(), n), net::use_nothrow);
      if (wec) break;
    }
    std::error_code ignored;
    to->shutdown(net::tcp::socket::shutdown_send, ignored);
  }

  net::awaitable<void> serve(net::tcp::acceptor& acceptor, std::uint16_t port) {
    for (;;) {
      auto [ec, client] = co_await acceptor.async_accept(net::use_nothrow);
      if (ec) co_return;
      auto server = std::make_shared<net::tcp::socket>(io);
      auto [cec] = co_await server->async_connect({asio::ip::address_v4::loopback(), port}, net::use_nothrow);
      if (cec) continue;
      auto near = std::make_shared<net::tcp::socket>(std::move(client));
      asio::co_spawn(io, pump(near, server, port, true), asio::detached);
      asio::co_spawn(io, pump(server, near, port, false), asio::detached);
    }
  }
};

tap_proxy::tap_proxy(std::vector<std::uint16_t> ports, std::uint64_t flip_after) : impl_(std::make_unique<impl>()) {
  impl_->flip_after = flip_after;
  for (auto port : ports) {
    auto acceptor = std::make_unique<net::tcp::acceptor>(impl_->io);
    const net::tcp::endpoint at(asio::ip::make_address_v4("127.0.0.2"), port);
    if (auto ec = net::open_listener(*acceptor, at)) throw std::system_error(ec, "tap proxy cannot listen");
    asio::co_spawn(impl_->io, impl_->serve(*acceptor, port), asio::detached);
    impl_->acceptors.push_back(std::move(acceptor));
  }
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

tap_proxy::~tap_proxy() {
  impl_->io.stop();
  impl_->thread.join();
}

std::string tap_proxy::carried(std::uint16_t port) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->carried.find(port);
  return it == impl_->carried.end() ? std::string() : it->second;
}

bool tap_proxy::flipped() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->flipped;
}

}  // namespace test
