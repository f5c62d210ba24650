// Channels to exposing peers: each is one connection at the relay port, proved as a pool
// connection is (expose_pool.hpp, hello {"type":"pool","owner":ID,"channel":true}), that then
// carries a multiplexed session (session/session.hpp, unprotected: the public clients' bytes are
// in the clear at the server anyway) on which the server opens a stream per public client:
//   server -> open {"kind":"client","port":P,"from":"IP:PORT"}, then the client's bytes both ways
// So a client costs its own TCP connection and the peer's to its local service, and no set-up
// between server and peer: the two TCP set-ups of ssh -R, without its cipher.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "session/expose_channel.hpp"
#include "session/session.hpp"

namespace rendezvous {

struct channel_limits {
  int per_owner = 4;     ///< channels of one exposing peer
  int total = 10000;     ///< channels in all (one descriptor each)
  std::size_t streams_per_channel = session::channel_max_streams;  ///< clients carried by one channel at once
};

class expose_channels {
 public:
  expose_channels(const asio::any_io_executor& ex, channel_limits limits) : executor_(ex), limits_(limits) {}

  /// A connection that proved it belongs to `owner` becomes one of its channels, served until
  /// either side closes it; returns why not (the socket is then closed), empty if it is one.
  std::string start(const std::string& owner, net::tcp::socket socket);
  /// `owner`'s open channel with the fewest clients and room for one more, or null.
  std::shared_ptr<session::session> pick(const std::string& owner) const;
  /// Closes `owner`'s channels (it went away).
  void forget(const std::string& owner);
  void stop();
  std::size_t count() const { return count_; }
  int per_owner() const { return limits_.per_owner; }
  /// New limits (a reload): channels already open stay.
  void set_limits(channel_limits limits) { limits_ = limits; }

 private:
  using channel = std::shared_ptr<session::session>;
  net::awaitable<void> serve(std::string owner, channel c);
  void remove(const std::string& owner, const channel& c);

  asio::any_io_executor executor_;
  channel_limits limits_;
  std::map<std::string, std::vector<channel>> by_owner_;
  std::size_t count_ = 0;
};

}  // namespace rendezvous
