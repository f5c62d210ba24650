// Idle data connections an exposing peer keeps at the relay port (frp's poolCount), so a client of
// its exposed port is joined at once instead of after a round trip to the peer and its relay join.
// The peer opens its pool once over its main connection and gets a secret; each pool connection
// then proves it with a challenge-response at the relay port (a proof seen there is useless on
// another connection), so refilling the pool never touches the main connection. An idle
// connection costs one descriptor (no pipe until paired), expires, and counts against the owner's
// share. When a client comes, the server writes it a "client" frame, then splices.
//
//   peer -> main  {"type":"pool_open"} -> {"type":"pool_open","secret":S,"relay_port":R,"max":N}
//   peer -> relay {"type":"pool","owner":ID} -> {"type":"pool_challenge","nonce":X}
//   peer -> relay {"type":"pool_proof","proof":HMAC(S, "pool " + X)}  ...idle...
//   server -> {"type":"client","port":P,"from":"IP:PORT"}, then raw bytes
#pragma once
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/net.hpp"

namespace rendezvous {

/// Limits of the pool; the defaults suit a server.
struct pool_limits {
  int per_owner = 64;    ///< idle connections per exposing peer
  int total = 10000;     ///< idle connections in all
  std::chrono::seconds idle_time{120};  ///< an idle connection is closed after this (the peer replaces it)
};

class expose_pool {
 public:
  expose_pool(const asio::any_io_executor& ex, pool_limits limits) : executor_(ex), limits_(limits) {}

  /// Opens (or reopens) `owner`'s pool; returns the secret its pool connections prove.
  std::string open(const std::string& owner);
  int per_owner() const { return limits_.per_owner; }
  /// New limits (a reload): connections already pooled stay.
  void set_limits(pool_limits limits) { limits_ = limits; }
  /// A connection at the relay port said `hello` ({"type":"pool","owner":ID}): challenges it to
  /// prove the owner's secret by `deadline`. The owner it proved, or why not (the socket is then
  /// closed). (The hello is copied: the coroutine outlives the caller's.)
  struct proof_outcome {
    std::string owner;
    std::string failure;
  };
  net::awaitable<proof_outcome> prove(nlohmann::json hello, net::tcp::socket& socket, net::clock::time_point deadline);
  /// Keeps a proven connection of `owner` idle until a client takes it; returns why not (the
  /// socket is then closed), empty if kept.
  std::string keep(const std::string& owner, net::tcp::socket socket);
  /// The oldest idle connection of `owner`, or nothing.
  std::optional<net::tcp::socket> take(const std::string& owner);
  /// Closes `owner`'s idle connections and forgets its secret (it went away).
  void forget(const std::string& owner);
  /// Closes idle connections past their time.
  void expire(net::clock::time_point now);
  std::size_t idle() const { return idle_count_; }

 private:
  struct idle_connection {
    std::string owner;
    net::tcp::socket socket;
    net::clock::time_point since;
    bool gone = false;  ///< taken, expired or closed: the watch must not touch it
  };
  using entry = std::shared_ptr<idle_connection>;
  /// Until taken: the peer closing an idle connection (or speaking out of turn) drops it.
  net::awaitable<void> watch(entry e);
  void drop(const entry& e);

  asio::any_io_executor executor_;
  pool_limits limits_;
  std::map<std::string, std::string> secrets_;     ///< owner -> its pool secret
  std::map<std::string, std::deque<entry>> idle_;  ///< owner -> idle connections, oldest first
  std::size_t idle_count_ = 0;
};

}  // namespace rendezvous
