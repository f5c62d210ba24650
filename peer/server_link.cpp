#include "peer/server_link.hpp"

#include <random>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "common/connect.hpp"
#include "common/account_token.hpp"
#include "common/crypto.hpp"
#include "common/json_fields.hpp"
#include "common/spawn.hpp"
#include "peer/exit_codes.hpp"
#include "peer/resume_router.hpp"

namespace peer {

using namespace asio::experimental::awaitable_operators;

namespace {

/// Error codes by which the server refuses an account (or its operator closed us): final until
/// the operator acts.
bool is_account_refusal(const std::string& code) {
  return code == "account_disabled" || code == "account_expired" || code == "account_removed" || code == "token_rotated" ||
         code == "kicked";
}

constexpr auto connect_timeout = std::chrono::seconds(10);
constexpr auto reply_timeout = std::chrono::seconds(15);
/// Events nobody has taken yet; a server that sends more is not one we can follow.
constexpr std::size_t max_queued_events = 1024;

}  // namespace

server_link::~server_link() {
  if (inbound_) inbound_->handlers.clear();  // they may refer to what dies with us
  if (channel_) channel_->close(wire::close_reason::closed_locally);
}

bool server_link::detached_sender::alive() const {
  const auto channel = channel_.lock();
  return channel && channel->is_open();
}

bool server_link::detached_sender::operator()(const nlohmann::json& message) const {
  const auto channel = channel_.lock();
  if (!channel || !channel->is_open()) return false;
  channel->send(message);
  return true;
}

net::awaitable<std::optional<nlohmann::json>> server_link::detached_sender::request(nlohmann::json message) const {
  auto channel = channel_.lock();
  auto in = std::static_pointer_cast<inbound>(inbound_.lock());
  if (!channel || !in || !channel->is_open()) co_return std::nullopt;
  co_return co_await exchange(std::move(channel), std::move(in), std::move(message));
}

net::awaitable<std::optional<nlohmann::json>> server_link::exchange(std::shared_ptr<wire::message_channel> channel,
                                                                    std::shared_ptr<inbound> in, nlohmann::json message) {
  const long long id = in->next_request++;
  message["req"] = id;
  in->awaited.insert(id);
  channel->send(message);
  const auto deadline = net::clock::now() + reply_timeout;
  for (;;) {
    if (auto reply = in->replies.find(id); reply != in->replies.end()) {
      auto answer = std::move(reply->second);
      in->replies.erase(reply);
      in->awaited.erase(id);
      co_return answer;
    }
    if (in->closed || !co_await in->arrived.wait(deadline)) {
      in->awaited.erase(id);
      co_return std::nullopt;
    }
  }
}

std::shared_ptr<server_link::attempt_watch> server_link::watcher_of(inbound& in, const nlohmann::json& message) {
  if (in.watches.empty()) return nullptr;
  const auto attempt = message.find("attempt");
  if (attempt == message.end() || !attempt->is_string()) return nullptr;
  const auto it = in.watches.find(attempt->get<std::string>());
  return it == in.watches.end() ? nullptr : it->second.lock();
}

std::shared_ptr<server_link::attempt_watch> server_link::watch_attempt(const std::string& attempt_id) {
  auto in = inbound_ ? inbound_ : std::make_shared<inbound>(executor_);
  auto watch = std::make_shared<attempt_watch>(in, attempt_id);
  if (!inbound_) in->closed = true;
  in->watches[attempt_id] = watch;
  return watch;
}

server_link::attempt_watch::~attempt_watch() {
  const auto it = in_->watches.find(attempt_id_);
  if (it != in_->watches.end() && it->second.expired()) in_->watches.erase(it);
}

net::awaitable<std::optional<nlohmann::json>> server_link::attempt_watch::next(net::clock::time_point deadline) {
  auto in = in_;
  for (;;) {
    if (!events_.empty()) {
      auto event = std::move(events_.front());
      events_.pop_front();
      co_return event;
    }
    if (in->closed || !co_await in->arrived.wait(deadline)) co_return std::nullopt;
  }
}

net::awaitable<void> server_link::read_all(std::shared_ptr<wire::message_channel> channel, std::shared_ptr<inbound> in) {
  for (;;) {
    auto next = co_await channel->receive();
    if (!next.message) break;
    auto& message = *next.message;
    if (const auto req = wire::request_number(message); req != 0) {
      if (in->awaited.count(req)) in->replies[req] = std::move(message);  // (a late reply to a given-up request is dropped)
    } else if (auto watch = watcher_of(*in, message)) {
      if (watch->events_.size() < max_queued_events) watch->events_.push_back(std::move(message));
    } else if (auto handler = in->handlers.find(message.value("type", "")); handler != in->handlers.end()) {
      const auto run = handler->second;  // (it may replace itself)
      try {
        run(message);
      } catch (const std::exception& e) {
        spdlog::warn("ignoring a server message we could not handle: {}", e.what());
      }
      continue;
    } else if (in->events.size() >= max_queued_events) {
      channel->close(wire::close_reason::inbox_full, "the server sent more events than we can queue");
      break;
    } else {
      in->events.push_back(std::move(message));
    }
    in->arrived.notify_all();
  }
  in->closed = true;
  in->arrived.notify_all();
}

void server_link::on_event(const std::string& type, event_handler handler) {
  if (inbound_) inbound_->handlers[type] = std::move(handler);
}

std::mt19937_64& server_link::random_engine() {
  static std::mt19937_64 engine{std::random_device{}()};
  return engine;
}

net::awaitable<void> server_link::open(const std::vector<net::host_port>& servers, const std::string& token,
                                       const identity::key_pair* keys) {
  if (servers.empty()) throw command_error(exit_usage, "no server given (--server HOST:PORT[,HOST:PORT...])");
  // A random one first, then the others in turn: peers spread over the nodes of a cluster, and a
  // node that is down costs only its connect attempt.
  const auto first = servers.size() == 1 ? 0 : std::uniform_int_distribution<std::size_t>(0, servers.size() - 1)(random_engine());
  net::tcp::socket socket(executor_);
  net::host_port server;
  std::string failures;
  for (std::size_t i = 0; i < servers.size(); ++i) {
    server = servers[(first + i) % servers.size()];
    socket = net::tcp::socket(executor_);
    // A name with an address per node: those too in random order.
    const auto error = co_await net::connect_within(socket, server, connect_timeout, net::address_order::spread);
    if (!error) break;
    failures += (failures.empty() ? "" : "; ") + net::to_string(server) + ": " + error.message();
    if (i + 1 == servers.size()) {
      throw command_error(exit_server, (servers.size() == 1 ? "cannot reach server " : "cannot reach any server: ") + failures);
    }
  }
  server_endpoint_ = socket.remote_endpoint();
  server_ = server;
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
  auto auth = keys ? identity::server_auth_message(*keys, challenge, proof) : nlohmann::json{{"type", "auth"}, {"proof", proof}};
  // An account's token (NAME:SECRET) is proved by a signature; the HMAC proof stays for a
  // server that has no such account but a server-wide token.
  if (const auto account = account_token::parse(token)) {
    auth["user"] = account->name;
    auth["user_sig"] = account_token::prove(*account, challenge);
  }
  channel_->send(auth);
  auto reply = co_await channel_->receive(net::clock::now() + reply_timeout);
  if (!reply.message) throw command_error(exit_server, "server closed during authentication (" + close_reason() + ")");
  if (reply.message->value("type", "") != "auth_ok") {
    const auto why = reply.message->value("message", "authentication failed");
    const auto code = reply.message->value("code", "");
    // An account's token that no longer proves itself was rotated (or removed): final too.
    if (is_account_refusal(code) || (code == "auth_failed" && account_token::parse(token))) account_refusal_ = why;
    throw command_error(exit_server, "server refused us: " + why);
  }
  spdlog::info("connected to server {}", net::to_string(server));
  inbound_ = std::make_shared<inbound>(executor_);
  resume_router::set_current_link({sender(), server_endpoint_.address()});
  // An error sent unasked says why the server is closing us; one about our account is final.
  inbound_->handlers["error"] = [this, notice = server_notice_](const nlohmann::json& message) {
    *notice = message.value("message", "");
    if (is_account_refusal(message.value("code", ""))) account_refusal_ = *notice;
  };
  // A session of ours whose path died resumes on the relay pair the server names (by its tag).
  inbound_->handlers["resume"] = [server = server_endpoint_.address(), send = sender()](const nlohmann::json& message) {
    if (resume_router::deliver(message, server, send)) return;
    send({{"type", "decline"}, {"attempt", message.value("attempt", "")}, {"reason", "no session of ours has that tag"}});
  };
  asio::co_spawn(executor_, read_all(channel_, inbound_), net::log_escaped("server link reader"));
}

net::awaitable<std::string> server_link::register_id(const std::string& id) {
  const nlohmann::json registration{{"type", "register"}, {"id", id}};
  auto reply = co_await request(registration);
  if (reply.value("type", "") != "registered") {
    const auto why = "server refused ID '" + id + "': " + reply.value("message", "unknown reason");
    const auto retry_after = wire::to_integer(reply.value("retry_after_ms", nlohmann::json()));
    if (retry_after && *retry_after >= 0) {
      throw retry_later_error(exit_server, why, std::chrono::milliseconds(std::min(*retry_after, 600'000LL)));
    }
    throw command_error(exit_server, why);
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
  if (!inbound_) throw command_error(exit_server, "not connected to the server");
  auto reply = co_await exchange(channel_, inbound_, std::move(message));
  if (reply) co_return std::move(*reply);
  if (inbound_->closed) throw command_error(exit_server, "lost the server (" + close_reason() + ")");
  throw command_error(exit_server, "server did not answer in time");
}

net::awaitable<std::optional<nlohmann::json>> server_link::next_event(net::clock::time_point deadline) {
  if (!inbound_) co_return std::nullopt;
  auto in = inbound_;
  for (;;) {
    if (!in->events.empty()) {
      auto event = std::move(in->events.front());
      in->events.pop_front();
      co_return event;
    }
    if (in->closed || !co_await in->arrived.wait(deadline)) co_return std::nullopt;
  }
}

std::string server_link::close_reason() const {
  if (!channel_) return "not connected";
  std::string text = wire::to_string(channel_->reason());
  if (!channel_->detail().empty()) text += ": " + channel_->detail();
  if (!server_notice_->empty()) text += "; the server said: " + *server_notice_;
  return text;
}

}  // namespace peer
