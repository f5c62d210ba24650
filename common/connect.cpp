#include "common/connect.hpp"

#include <algorithm>
#include <random>

#include <asio/experimental/awaitable_operators.hpp>

namespace net {

using namespace asio::experimental::awaitable_operators;

awaitable<std::error_code> connect_within(tcp::socket& socket, const tcp::endpoint& endpoint,
                                          std::chrono::milliseconds limit) {
  asio::steady_timer timer(socket.get_executor(), limit);
  auto outcome = co_await (socket.async_connect(endpoint, use_nothrow) || timer.async_wait(use_nothrow));
  co_return outcome.index() == 0 ? std::get<0>(std::get<0>(outcome)) : make_error_code(std::errc::timed_out);
}

awaitable<std::error_code> connect_within(tcp::socket& socket, const host_port& target, std::chrono::milliseconds limit,
                                          address_order order) {
  // An address literal (the usual target: 127.0.0.1:8080) needs no resolver: getaddrinfo runs on
  // asio's resolver thread, and the hand-offs cost more than the connect itself.
  std::error_code not_literal;
  const auto literal = asio::ip::make_address(target.host, not_literal);
  if (!not_literal) co_return co_await connect_within(socket, tcp::endpoint(literal, target.port), limit);
  const auto deadline = clock::now() + limit;
  tcp::resolver resolver(socket.get_executor());
  auto [resolve_error, results] = co_await resolver.async_resolve(target.host, std::to_string(target.port), use_nothrow);
  if (resolve_error) co_return resolve_error;
  std::vector<tcp::endpoint> endpoints;
  for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
  co_return co_await connect_any_within(socket, std::move(endpoints), left, order);
}

awaitable<std::error_code> connect_any_within(tcp::socket& socket, std::vector<tcp::endpoint> endpoints,
                                              std::chrono::milliseconds limit, address_order order) {
  if (order == address_order::spread) {
    static thread_local std::mt19937_64 engine{std::random_device{}()};
    std::shuffle(endpoints.begin(), endpoints.end(), engine);
  }
  const auto deadline = clock::now() + limit;
  std::error_code error = asio::error::host_not_found;
  for (std::size_t i = 0; i < endpoints.size(); ++i) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0) co_return make_error_code(std::errc::timed_out);
    if (order == address_order::spread) left /= static_cast<long>(endpoints.size() - i);
    socket = tcp::socket(socket.get_executor());
    error = co_await connect_within(socket, endpoints[i], left);
    if (!error) break;
  }
  co_return error;
}

}  // namespace net
