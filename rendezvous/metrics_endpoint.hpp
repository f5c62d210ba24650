// The Prometheus scrape endpoint (--metrics HOST:PORT): GET /metrics answers with the text
// exposition format, and nothing else is served on that port. libmicrohttpd speaks HTTP on its
// own thread; the text is rendered on the server's thread (posted there, at most 2 s), so the
// counters are read where they are written.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "common/net.hpp"

struct MHD_Daemon;

namespace rendezvous {

class metrics_endpoint {
 public:
  using render_fn = std::function<std::string()>;
  /// Listens on `where` and serves until destroyed; throws std::runtime_error saying why it cannot.
  metrics_endpoint(asio::io_context& io, const net::tcp::endpoint& where, render_fn render);
  ~metrics_endpoint();
  metrics_endpoint(const metrics_endpoint&) = delete;
  metrics_endpoint& operator=(const metrics_endpoint&) = delete;

  std::uint16_t port() const { return port_; }
  /// Renders on the server's thread (from libmicrohttpd's); nothing if that thread did not answer in time.
  std::optional<std::string> render_on_server_thread() const;

 private:
  asio::io_context& io_;
  /// Shared with renders still queued on the server's thread after a scrape gave up on them.
  std::shared_ptr<render_fn> render_;
  MHD_Daemon* daemon_ = nullptr;
  std::uint16_t port_ = 0;
};

}  // namespace rendezvous
