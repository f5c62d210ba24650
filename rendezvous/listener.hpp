// Listening sockets of the server: open one, and accept through admission control.
#pragma once
#include <string>
#include <system_error>

#include <spdlog/spdlog.h>

#include "common/listen.hpp"
#include "common/net.hpp"
#include "rendezvous/admission.hpp"

namespace rendezvous {

/// Opens a listener (net::open_listener), throwing std::runtime_error("cannot listen for <what> on ...: ..."); returns the bound port.
std::uint16_t listen_or_throw(net::tcp::acceptor& acceptor, const net::tcp::endpoint& endpoint, const char* what);

/// Accepts until the acceptor closes. Each connection passes admission control (a refusal is
/// logged at most once per 10 s per address) before `serve(socket, ticket)` gets it; an accept
/// error (out of descriptors, say) is logged and followed by a short pause, never a spin.
template <typename Serve>
net::awaitable<void> accept_admitted(net::tcp::acceptor& acceptor, admission& control, const char* what, Serve serve) {
  asio::steady_timer backoff(acceptor.get_executor());
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(net::use_nothrow);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      spdlog::error("{}: accept failed: {}", what, ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(net::use_nothrow);
      continue;
    }
    std::error_code peer_ec;
    const auto address = socket.remote_endpoint(peer_ec).address();
    if (peer_ec) continue;
    std::string why;
    auto ticket = control.admit(address, why);
    if (!ticket) {
      if (control.should_log_refusal(address)) spdlog::warn("{}: refused {}: {}", what, address.to_string(), why);
      continue;  // the socket closes here
    }
    serve(std::move(socket), std::move(*ticket));
  }
}

}  // namespace rendezvous
