// The peer's main connection to the rendezvous server: connect, authenticate, then requests
// (register, list, connect) and server-initiated events (attempt, punch), with heartbeats. Once
// open, one reader takes every message as it arrives: replies go to their request, events of a
// type with a handler (proxy announcements) to it at once, whatever the command is busy with,
// and other events wait for next_event().
#pragma once
#include <random>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/async_event.hpp"
#include "common/endpoint.hpp"
#include "common/identity.hpp"
#include "common/message_channel.hpp"

namespace peer {

/// A live, authenticated main connection. Failures throw command_error with exit code 3.
class server_link {
 public:
  explicit server_link(const asio::any_io_executor& ex) : executor_(ex) {}
  ~server_link();

  /// Connects to one of `servers` (a random one first, then the others: the nodes of a cluster)
  /// and authenticates (token may be empty if the server needs none), proving our identity key
  /// if we have one (registering needs it).
  net::awaitable<void> open(const std::vector<net::host_port>& servers, const std::string& token,
                            const identity::key_pair* keys = nullptr);
  /// Registers our ID; returns the endpoint the server saw us at.
  net::awaitable<std::string> register_id(const std::string& id);
  /// IDs online now (the server lists at most 500; a warning says when there are more).
  net::awaitable<std::vector<std::string>> list();
  /// Sends a request and waits for the reply with the same "req" (an "error" reply included).
  net::awaitable<nlohmann::json> request(nlohmann::json message);
  /// Next server-initiated message (not a reply, not handled), or nothing when the link closed or the deadline passed.
  net::awaitable<std::optional<nlohmann::json>> next_event(net::clock::time_point deadline = net::clock::time_point::max());
  using event_handler = std::function<void(const nlohmann::json& event)>;
  /// Server messages of `type` go to `handler` as they arrive (on the link's executor) instead
  /// of next_event(). Call after open(); handlers are dropped when the link is destroyed.
  void on_event(const std::string& type, event_handler handler);
  void send(const nlohmann::json& message) { channel_->send(message); }

  /// Sends on the link for as long as it is open, from code that may outlive the link object (a
  /// probe in the background, a session resuming on the relay).
  class detached_sender {
   public:
    detached_sender() = default;
    /// False (and nothing sent) once the link has closed.
    bool operator()(const nlohmann::json& message) const;
    bool alive() const;
    /// Sends a request and waits (up to 15 s) for the reply with its "req"; nothing when the
    /// link closed or the server did not answer.
    net::awaitable<std::optional<nlohmann::json>> request(nlohmann::json message) const;

   private:
    friend class server_link;
    detached_sender(std::weak_ptr<wire::message_channel> channel, std::weak_ptr<void> in)
        : channel_(std::move(channel)), inbound_(std::move(in)) {}
    std::weak_ptr<wire::message_channel> channel_;
    std::weak_ptr<void> inbound_;  ///< (the link's inbound; void: it is private to the link)
  };
  detached_sender sender() const { return detached_sender(channel_, inbound_); }

  class attempt_watch;
  /// Routes the server's messages about attempt `attempt_id` ("punch", "attempt_failed") to the
  /// watch, away from next_event(), for as long as it lives. It may outlive the link: a punch
  /// running beside a relayed session holds one, and reads the link's end as "closed".
  std::shared_ptr<attempt_watch> watch_attempt(const std::string& attempt_id);

  bool is_open() const { return channel_ && channel_->is_open(); }
  /// Why the link closed, for the user.
  std::string close_reason() const;
  /// When the server refused or closed us over our account (disabled, expired, removed, its
  /// token replaced): its message. Trying again cannot help until the operator acts.
  const std::optional<std::string>& account_refusal() const { return account_refusal_; }
  const asio::any_io_executor& executor() const { return executor_; }
  /// The server's address we are connected to (the hole-assist port lives there too).
  const net::tcp::endpoint& server_endpoint() const { return server_endpoint_; }
  /// The server we reached, as it was given (a host name stays a name).
  const net::host_port& server() const { return server_; }

 private:
  asio::any_io_executor executor_;
  /// What the reader hands out; shared with it, since it may finish after the link is gone.
  struct inbound {
    explicit inbound(const asio::any_io_executor& ex) : arrived(ex) {}
    std::set<long long> awaited;               ///< requests waiting for their reply
    std::map<long long, nlohmann::json> replies;
    std::deque<nlohmann::json> events;         ///< for next_event(), bounded
    std::map<std::string, event_handler> handlers;
    std::map<std::string, std::weak_ptr<attempt_watch>> watches;  ///< by attempt ID
    net::async_event arrived;
    bool closed = false;
    long long next_request = 1;
  };
  /// A request over `channel`, its reply read from `in`; nothing when the link closed or timed out.
  static net::awaitable<std::optional<nlohmann::json>> exchange(std::shared_ptr<wire::message_channel> channel,
                                                                std::shared_ptr<inbound> in, nlohmann::json message);
  static net::awaitable<void> read_all(std::shared_ptr<wire::message_channel> channel, std::shared_ptr<inbound> in);
  /// The live watch `message` is for, if any.
  static std::shared_ptr<attempt_watch> watcher_of(inbound& in, const nlohmann::json& message);

  std::shared_ptr<wire::message_channel> channel_;
  std::shared_ptr<inbound> inbound_;
  net::tcp::endpoint server_endpoint_;
  net::host_port server_;
  std::optional<std::string> account_refusal_;
  /// The last error the server sent unasked (why it closed us, usually).
  std::shared_ptr<std::string> server_notice_ = std::make_shared<std::string>();
  static std::mt19937_64& random_engine();
};

class server_link::attempt_watch {
 public:
  attempt_watch(std::shared_ptr<inbound> in, std::string attempt_id) : in_(std::move(in)), attempt_id_(std::move(attempt_id)) {}
  ~attempt_watch();
  /// The next message about the attempt; nothing once the link closed or at the deadline.
  net::awaitable<std::optional<nlohmann::json>> next(net::clock::time_point deadline);

 private:
  friend class server_link;
  std::shared_ptr<inbound> in_;
  std::string attempt_id_;
  std::deque<nlohmann::json> events_;
};

}  // namespace peer
