#include "rendezvous/listener.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <stdexcept>

#include "common/endpoint.hpp"
#include "common/frame_reader.hpp"

namespace rendezvous {

std::uint16_t listen_or_throw(net::tcp::acceptor& acceptor, const net::tcp::endpoint& endpoint, const char* what) {
  if (auto ec = net::open_listener(acceptor, endpoint)) {
    throw std::runtime_error(std::string("cannot listen for ") + what + " on " + net::to_string(endpoint) + ": " + ec.message());
  }
  return acceptor.local_endpoint().port();
}

std::uint16_t listen_all(std::vector<std::unique_ptr<net::tcp::acceptor>>& acceptors, const asio::any_io_executor& ex,
                         const std::vector<asio::ip::address>& hosts, std::uint16_t port, const char* what) {
  for (const auto& host : hosts) {
    acceptors.push_back(std::make_unique<net::tcp::acceptor>(ex));
    port = listen_or_throw(*acceptors.back(), {host, port}, what);
  }
  return port;
}

void refuse_now(net::tcp::socket& socket, const std::string& code, const std::string& message) {
  if (!socket.is_open()) return;
  wire::write_frame_now(socket, {{"type", "error"}, {"code", code}, {"message", message}});
  std::error_code ec;
  socket.shutdown(net::tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

descriptor_reserve::descriptor_reserve() { reopen(); }
descriptor_reserve::~descriptor_reserve() { release(); }

void descriptor_reserve::release() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void descriptor_reserve::reopen() {
  if (fd_ < 0) fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

net::awaitable<void> accept_admitted(net::tcp::acceptor& acceptor, accept_context context,
                                     std::function<void(net::tcp::socket, admission_ticket)> serve) {
  asio::steady_timer backoff(acceptor.get_executor());
  const std::string& what = context.control.name();
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(net::use_nothrow);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec == asio::error::no_descriptors || ec.value() == ENFILE) {
      // The wall: answer the waiting client with the reserve descriptor rather than leave it hanging.
      context.reserve.release();
      auto [again, refused] = co_await acceptor.async_accept(net::use_nothrow);
      if (!again) {
        ++context.reserve.wall_hits;
        refuse_now(refused, "server_full", "the server has no file descriptors left; try again later");
      }
      context.reserve.reopen();
      context.log.log(spdlog::level::err, what + ": out of file descriptors",
                      what + ": out of file descriptors (" + ec.message() + "): refusing new connections");
      if (!again) continue;
    }
    if (ec) {
      context.log.log(spdlog::level::err, what + ": accept failed", what + ": accept failed: " + ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(net::use_nothrow);
      continue;
    }
    std::error_code peer_ec;
    const auto address = net::unmapped(socket.remote_endpoint(peer_ec).address());
    if (peer_ec) continue;
    std::string why;
    const auto evicted_before = context.control.evicted();
    auto ticket = context.control.admit(address, why);
    if (context.control.evicted() != evicted_before) {
      context.log.log(spdlog::level::warn, what + ": evictions",
                      what + ": pending connections fill the port; evicted the oldest of an address holding the most, "
                      "or one stalled for a second");
    }
    if (!ticket) {
      context.log.log(spdlog::level::warn, what + ": refused connections", what + ": refused " + address.to_string() + ": " + why);
      refuse_now(socket, "server_busy", why);
      continue;
    }
    // Every port speaks small frames that are answered (hello, auth, attempts, relay_ok): with
    // Nagle a second small write waits for the client's delayed ACK, 40 ms on Linux.
    std::error_code ignored;
    socket.set_option(net::tcp::no_delay(true), ignored);
    serve(std::move(socket), std::move(*ticket));
  }
}

}  // namespace rendezvous
