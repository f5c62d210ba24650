#include "peer/relay_join.hpp"

#include <asio/experimental/awaitable_operators.hpp>

#include "common/connect.hpp"
#include "common/endpoint.hpp"
#include "common/frame_reader.hpp"

namespace peer {

using namespace asio::experimental::awaitable_operators;

namespace {
constexpr auto connect_timeout = std::chrono::seconds(10);
}  // namespace

net::awaitable<std::string> join_relay(net::tcp::socket& socket, const net::tcp::endpoint& relay, const std::string& token,
                                       std::chrono::milliseconds partner_wait) {
  if (auto ec = co_await net::connect_within(socket, relay, connect_timeout)) {
    co_return "cannot reach the relay port " + net::to_string(relay) + ": " + ec.message();
  }
  const nlohmann::json request{{"type", "relay"}, {"token", token}};
  if (auto error = co_await wire::write_frame(socket, request)) co_return "relay request failed: " + error.message();
  asio::steady_timer timer(socket.get_executor(), partner_wait);
  auto reply = co_await (wire::read_exact_frame(socket) || timer.async_wait(net::use_nothrow));
  if (reply.index() == 1) co_return "the other side never joined at the relay";
  auto& read = std::get<0>(reply);
  if (!read.message) co_return "the relay closed the connection";
  if (read.message->value("type", "") != "relay_ok") co_return "the relay refused: " + read.message->value("message", "?");
  co_return "";
}

}  // namespace peer
