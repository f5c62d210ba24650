#include "peer/server_link.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "common/connect.hpp"
#include "common/crypto.hpp"
#include "common/json_fields.hpp"
#include "common/spawn.hpp"
#include "peer/exit_codes.hpp"

namespace peer {

using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto connect_timeout = std::chrono::seconds(10);
constexpr auto reply_timeout = std::chrono::seconds(15);

}  // namespace

server_link::~server_link() {
  if (channel_) channel_->close(wire::close_reason::closed_locally);
}

net::awaitable<void> server_link::open(const net::host_port& server, const std::string& token,
                                       const identity::key_pair* keys) {
  net::tcp::socket socket(executor_);
  if (auto error = co_await net::connect_within(socket, server, connect_timeout)) {
    throw command_error(exit_server, "cannot reach server " + net::to_string(server) + ": " + error.message());
  }
  server_endpoint_ = socket.remote_endpoint();
  socket.set_option(net::tcp::no_delay(true));

  channel_ = std::make_shared<wire::message_channel>(std::move(socket), wire::channel_options{});
  asio::co_spawn(executor_, channel_->run(), net::log_escaped("server link"));

  auto hello = co_await channel_->receive(net::clock::now() + reply_timeout);
  if (hello.message && hello.message->value("type", "") == "error") {
    // Refused before the greeting (full, or too many connections from our address): say why.
    throw command_error(exit_server, "server " + net::to_string(server) + " refused us: " +
                                         hello.message->value("message", "no reason given"));
  }
  if (!hello.message || hello.message->value("type", "") != "hello") {
    throw command_error(exit_server, "server " + net::to_string(server) + " did not greet us (" + close_reason() + ")");
  }
  const bool required = hello.message->value("auth_required", false);
  if (required && token.empty()) throw command_error(exit_server, "the server requires a token (--token or PEER_TOKEN)");
  const auto challenge = hello.message->value("challenge", "");
  const auto proof = token.empty() ? std::string() : crypto::hmac_hex(token, challenge);
  channel_->send(keys ? identity::server_auth_message(*keys, challenge, proof) : nlohmann::json{{"type", "auth"}, {"proof", proof}});
  auto reply = co_await channel_->receive(net::clock::now() + reply_timeout);
  if (!reply.message) throw command_error(exit_server, "server closed during authentication (" + close_reason() + ")");
  if (reply.message->value("type", "") != "auth_ok") {
    throw command_error(exit_server, "server refused us: " + reply.message->value("message", "authentication failed"));
  }
  spdlog::info("connected to server {}", net::to_string(server));
}

net::awaitable<std::string> server_link::register_id(const std::string& id) {
  const nlohmann::json registration{{"type", "register"}, {"id", id}};
  auto reply = co_await request(registration);
  if (reply.value("type", "") != "registered") {
    throw command_error(exit_server, "server refused ID '" + id + "': " + reply.value("message", "unknown reason"));
  }
  co_return reply.value("observed", "");
}

net::awaitable<std::vector<std::string>> server_link::list() {
  const nlohmann::json list_request{{"type", "list"}};
  auto reply = co_await request(list_request);
  if (reply.value("type", "") != "peers") throw command_error(exit_server, "server refused the list: " + reply.value("message", "?"));
  if (reply.value("truncated", false)) {
    spdlog::warn("the server lists {} of {} peers online", reply["ids"].size(),
                 wire::to_integer(reply.value("total", nlohmann::json(0))).value_or(0));
  }
  co_return reply["ids"].get<std::vector<std::string>>();
}

net::awaitable<nlohmann::json> server_link::request(nlohmann::json message) {
  const long long id = next_request_++;
  message["req"] = id;
  channel_->send(message);
  const auto deadline = net::clock::now() + reply_timeout;
  for (;;) {
    auto next = co_await channel_->receive(deadline);
    if (next.timed_out) throw command_error(exit_server, "server did not answer in time");
    if (!next.message) throw command_error(exit_server, "lost the server (" + close_reason() + ")");
    auto& reply = *next.message;
    if (wire::request_number(reply) == id) co_return std::move(reply);
    events_.push_back(std::move(reply));
  }
}

net::awaitable<std::optional<nlohmann::json>> server_link::next_event(net::clock::time_point deadline) {
  if (!events_.empty()) {
    auto event = std::move(events_.front());
    events_.pop_front();
    co_return event;
  }
  auto next = co_await channel_->receive(deadline);
  co_return next.message;
}

std::string server_link::close_reason() const {
  if (!channel_) return "not connected";
  std::string text = wire::to_string(channel_->reason());
  if (!channel_->detail().empty()) text += ": " + channel_->detail();
  return text;
}

}  // namespace peer
