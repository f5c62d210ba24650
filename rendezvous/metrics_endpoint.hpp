// The Prometheus scrape endpoint (--metrics HOST:PORT): GET /metrics answers with the text
// exposition format, and nothing else is served on that port. libmicrohttpd speaks HTTP on its
// own thread (epoll); the server publishes the text on its own thread every second, so a scrape
// only copies a string: it never waits for the server, and the counters are read where they are
// written.
#pragma once
#include <mutex>
#include <string>

#include "common/net.hpp"

struct MHD_Daemon;

namespace rendezvous {

/// Scrapers connected at once (the descriptor budget counts them, plus a few for the daemon).
inline constexpr unsigned max_metrics_connections = 32;
inline constexpr long metrics_descriptors = max_metrics_connections + 8;

class metrics_endpoint {
 public:
  /// Listens on `where` and serves until destroyed; throws std::runtime_error saying why it cannot.
  metrics_endpoint(asio::io_context& io, const net::tcp::endpoint& where);
  ~metrics_endpoint();
  metrics_endpoint(const metrics_endpoint&) = delete;
  metrics_endpoint& operator=(const metrics_endpoint&) = delete;

  std::uint16_t port() const { return port_; }
  /// What scrapes get from now on (the server's thread calls it every second).
  void publish(std::string text);
  /// The latest text (libmicrohttpd's thread).
  std::string latest() const;

 private:
  mutable std::mutex mutex_;
  std::string text_;
  MHD_Daemon* daemon_ = nullptr;
  std::uint16_t port_ = 0;
};

}  // namespace rendezvous
