#include "common/connect.hpp"

#include <asio/experimental/awaitable_operators.hpp>

namespace net {

using namespace asio::experimental::awaitable_operators;

awaitable<std::error_code> connect_within(tcp::socket& socket, const tcp::endpoint& endpoint,
                                          std::chrono::milliseconds limit) {
  asio::steady_timer timer(socket.get_executor(), limit);
  auto outcome = co_await (socket.async_connect(endpoint, use_nothrow) || timer.async_wait(use_nothrow));
  co_return outcome.index() == 0 ? std::get<0>(std::get<0>(outcome)) : make_error_code(std::errc::timed_out);
}

awaitable<std::error_code> connect_within(tcp::socket& socket, const host_port& target, std::chrono::milliseconds limit) {
  // An address literal (the usual target: 127.0.0.1:8080) needs no resolver: getaddrinfo runs on
  // asio's resolver thread, and the hand-offs cost more than the connect itself.
  std::error_code not_literal;
  const auto literal = asio::ip::make_address(target.host, not_literal);
  if (!not_literal) co_return co_await connect_within(socket, tcp::endpoint(literal, target.port), limit);
  const auto deadline = clock::now() + limit;
  tcp::resolver resolver(socket.get_executor());
  auto [resolve_error, results] = co_await resolver.async_resolve(target.host, std::to_string(target.port), use_nothrow);
  if (resolve_error) co_return resolve_error;
  std::error_code error = asio::error::host_not_found;
  for (const auto& entry : results) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0) co_return make_error_code(std::errc::timed_out);
    socket = tcp::socket(socket.get_executor());
    error = co_await connect_within(socket, entry.endpoint(), left);
    if (!error) break;
  }
  co_return error;
}

}  // namespace net
