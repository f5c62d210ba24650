// Listening sockets of the server: open one, and accept through admission control, with one
// descriptor held in reserve for the moment the process runs out.
#pragma once
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "common/listen.hpp"
#include "common/log_limiter.hpp"
#include "common/net.hpp"
#include "rendezvous/admission.hpp"

namespace rendezvous {

/// Opens a listener (net::open_listener), throwing std::runtime_error("cannot listen for <what> on ...: ..."); returns the bound port.
std::uint16_t listen_or_throw(net::tcp::acceptor& acceptor, const net::tcp::endpoint& endpoint, const char* what);

/// One listener per address in `hosts` (the server's --listen addresses), all on one port: the
/// first binds `port` (0: any free one), the others the port the first got. Throws as
/// listen_or_throw; returns the port.
std::uint16_t listen_all(std::vector<std::unique_ptr<net::tcp::acceptor>>& acceptors, const asio::any_io_executor& ex,
                         const std::vector<asio::ip::address>& hosts, std::uint16_t port, const char* what);

/// Writes one error frame if the socket takes it without waiting (best effort: a refused or
/// evicted client learns why), then closes the socket.
void refuse_now(net::tcp::socket& socket, const std::string& code, const std::string& message);

/// One open descriptor kept in reserve: at the descriptor wall a listener frees it, accepts the
/// waiting connection, tells it the server is full and closes it, then takes the reserve back,
/// so clients get an answer instead of a connection the kernel queues and nobody serves.
class descriptor_reserve {
 public:
  descriptor_reserve();
  ~descriptor_reserve();
  descriptor_reserve(const descriptor_reserve&) = delete;
  descriptor_reserve& operator=(const descriptor_reserve&) = delete;
  void release();
  void reopen();
  std::uint64_t wall_hits = 0;  ///< connections refused at the wall

 private:
  int fd_ = -1;
};

/// What an accept loop shares with the rest of the server.
struct accept_context {
  admission& control;
  descriptor_reserve& reserve;
  logging::log_limiter& log;
};

/// Accepts until the acceptor closes. Each connection passes the port's admission control (a
/// refusal tells the client why and is logged at most once per cause per interval) before
/// `serve(socket, ticket)` gets it. Out of descriptors, the reserve answers the waiting client.
net::awaitable<void> accept_admitted(net::tcp::acceptor& acceptor, accept_context context,
                                     std::function<void(net::tcp::socket, admission_ticket)> serve);

}  // namespace rendezvous
