// Redis on the project's event loop: hiredis formats the commands and parses the replies (its
// reader), an Asio socket carries them. Commands are pipelined on one connection and answered in
// order; a subscriber keeps its own connection for pub/sub. Both reconnect with back-off; while
// Redis is unreachable a command fails at once (an `unavailable` error) instead of queueing, so
// a caller can refuse what needs the cluster and keep serving what does not.
#pragma once
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cluster/redis_address.hpp"
#include "common/async_event.hpp"
#include "common/net.hpp"

struct redisReader;

namespace cluster {

/// One reply, converted out of hiredis's tree.
struct redis_reply {
  enum class kind { nil, status, error, integer, string, array };
  kind type = kind::nil;
  std::string text;  ///< status, error and string replies
  long long integer = 0;
  std::vector<redis_reply> elements;

  bool is_error() const { return type == kind::error; }
  bool is_nil() const { return type == kind::nil; }
  static redis_reply error(std::string why) { return {kind::error, std::move(why), 0, {}}; }
};

/// How errors begin when Redis could not be asked at all (not a reply from Redis).
inline constexpr const char* unavailable_prefix = "unavailable: ";

struct redis_options {
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds command_timeout{3000};     ///< a reply slower than this fails the connection
  std::chrono::milliseconds first_backoff{100};        ///< after a failed connect, doubling...
  std::chrono::milliseconds max_backoff{5000};         ///< ...up to this
  std::size_t max_in_flight = 4096;                    ///< commands waiting for replies
  std::size_t max_reply_bytes = 16 * 1024 * 1024;      ///< bytes of one reply not yet complete
};

namespace detail {
class redis_link;
}

/// Commands to one Redis. Use from the executor's thread only.
class redis_client {
 public:
  redis_client(const asio::any_io_executor& ex, redis_address address, redis_options options = {});
  ~redis_client();
  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  /// Runs one command (connecting first if need be); an error reply (from Redis, or
  /// unavailable_prefix + why when Redis could not be reached) instead of throwing.
  net::awaitable<redis_reply> command(std::vector<std::string> args);
  /// Whether the last attempt to reach Redis worked (for logs and the metrics).
  bool connected() const;
  const redis_address& address() const { return address_; }
  /// Closes the connection; commands waiting fail.
  void close();

 private:
  redis_address address_;
  std::shared_ptr<detail::redis_link> link_;
};

/// A pub/sub subscription on its own connection, kept open (resubscribing) until closed.
class redis_subscriber {
 public:
  using handler = std::function<void(const std::string& channel, const std::string& payload)>;
  /// `on_state` hears true on every (re)subscription and false when the connection is lost.
  redis_subscriber(const asio::any_io_executor& ex, redis_address address, std::vector<std::string> channels,
                   handler on_message, std::function<void(bool)> on_state = {}, redis_options options = {});
  ~redis_subscriber();
  void start();
  void close();

 private:
  net::awaitable<void> run();
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace cluster
