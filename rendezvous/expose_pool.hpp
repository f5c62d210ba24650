// Idle data connections an exposing peer keeps at the relay port (frp's poolCount), so a client of
// its exposed port is joined at once instead of after a round trip to the peer and its relay join.
// The peer asks for one-time tokens over its main connection and presents one per connection; an
// idle connection costs one descriptor (no pipe until paired), expires, and counts against the
// owner's share. When a client comes, the server writes it a "client" frame, then splices.
//
//   peer -> main  {"type":"pool_tokens","count":N} -> {"type":"pool_tokens","tokens":[...],"relay_port":R}
//   peer -> relay {"type":"pool","token":T}  ...idle...  server -> {"type":"client","port":P,"from":"IP:PORT"}, then raw bytes
#pragma once
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/net.hpp"

namespace rendezvous {

/// Limits of the pool; the defaults suit a server.
struct pool_limits {
  int per_owner = 64;    ///< tokens outstanding plus idle connections, per exposing peer
  int total = 10000;     ///< idle connections in all
  std::chrono::seconds idle_time{120};   ///< an idle connection is closed after this (the peer replaces it)
  std::chrono::seconds token_time{30};   ///< a token not presented by then is void
};

class expose_pool {
 public:
  expose_pool(const asio::any_io_executor& ex, pool_limits limits) : executor_(ex), limits_(limits) {}

  /// Up to `count` one-time tokens for `owner`'s pool connections (fewer if it holds its share).
  std::vector<std::string> issue(const std::string& owner, int count);
  /// A connection at the relay port presented `token`: kept idle for the token's owner. Returns
  /// why it was not kept (the socket is then closed), empty if it was.
  std::string add(const std::string& token, net::tcp::socket socket);
  /// The oldest idle connection of `owner`, or nothing.
  std::optional<net::tcp::socket> take(const std::string& owner);
  /// Closes `owner`'s idle connections and voids its tokens (it went away).
  void forget(const std::string& owner);
  /// Closes idle connections and voids tokens past their time.
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
  int share_used(const std::string& owner) const;

  asio::any_io_executor executor_;
  pool_limits limits_;
  struct token_entry {
    std::string owner;
    net::clock::time_point issued;
  };
  std::map<std::string, token_entry> tokens_;
  std::map<std::string, int> outstanding_;        ///< owner -> tokens not yet presented
  std::map<std::string, std::deque<entry>> idle_;  ///< owner -> idle connections, oldest first
  std::size_t idle_count_ = 0;
};

}  // namespace rendezvous
