// The peer's main connection to the rendezvous server: connect, authenticate, then requests
// (register, list, connect) and server-initiated events (attempt, punch), with heartbeats.
#pragma once
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "common/endpoint.hpp"
#include "common/identity.hpp"
#include "common/message_channel.hpp"

namespace peer {

/// A live, authenticated main connection. Failures throw command_error with exit code 3.
class server_link {
 public:
  explicit server_link(const asio::any_io_executor& ex) : executor_(ex) {}
  ~server_link();

  /// Connects and authenticates (token may be empty if the server needs none), proving our
  /// identity key if we have one (registering needs it).
  net::awaitable<void> open(const net::host_port& server, const std::string& token,
                            const identity::key_pair* keys = nullptr);
  /// Registers our ID; returns the endpoint the server saw us at.
  net::awaitable<std::string> register_id(const std::string& id);
  /// IDs online now (the server lists at most 500; a warning says when there are more).
  net::awaitable<std::vector<std::string>> list();
  /// Sends a request and waits for the reply with the same "req" (an "error" reply included).
  net::awaitable<nlohmann::json> request(nlohmann::json message);
  /// Next server-initiated message (not a reply), or nothing when the link closed or the deadline passed.
  net::awaitable<std::optional<nlohmann::json>> next_event(net::clock::time_point deadline = net::clock::time_point::max());
  void send(const nlohmann::json& message) { channel_->send(message); }

  bool is_open() const { return channel_ && channel_->is_open(); }
  /// Why the link closed, for the user.
  std::string close_reason() const;
  /// The server's address we are connected to (the hole-assist port lives there too).
  const net::tcp::endpoint& server_endpoint() const { return server_endpoint_; }

 private:
  asio::any_io_executor executor_;
  std::shared_ptr<wire::message_channel> channel_;
  net::tcp::endpoint server_endpoint_;
  std::deque<nlohmann::json> events_;  ///< server messages that arrived while awaiting a reply
  long long next_request_ = 1;
};

}  // namespace peer
