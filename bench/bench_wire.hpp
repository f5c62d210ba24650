// Blocking helpers for the benchmark: TCP connect, our frames over a plain fd, full reads/writes.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace bench {

/// Connects to 127.0.0.1:port (TCP_NODELAY); throws on failure.
int connect_loopback(std::uint16_t port);
/// Listens on 127.0.0.1:port (0 = any); returns the fd, and the port through `port`.
int listen_loopback(std::uint16_t& port);
void write_all(int fd, const void* data, std::size_t size);
void read_exact(int fd, void* data, std::size_t size);

/// A blocking framed connection speaking the rendezvous protocol.
class frame_conn {
 public:
  explicit frame_conn(int fd) : fd_(fd) {}
  void send(const nlohmann::json& message);
  /// Next message whose type is not ping/pong (pings are answered).
  nlohmann::json receive();
  /// Reads exactly one frame, no more (before raw bytes start).
  nlohmann::json receive_exact();
  int fd() const { return fd_; }

 private:
  int fd_;
  std::string buffer_;
};

/// Opens an authenticated main connection (one identity key for the whole process) and
/// registers `id`; throws saying what the server answered instead.
frame_conn open_session(std::uint16_t main_port, const std::string& id);

}  // namespace bench
