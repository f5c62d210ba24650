// A real redis-server (Debian's) for the cluster tests: on a free loopback port, with AOF in its
// own temporary directory, stopped (and restartable on the same port and data) by the test.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "tests/support/child_process.hpp"

namespace test {

/// Where Debian installs redis-server, or empty when it is not installed.
std::string redis_server_binary();

class redis_server {
 public:
  /// Starts Redis in `dir` (created); throws std::runtime_error if it does not listen within 10 s.
  explicit redis_server(std::filesystem::path dir, std::string password = "");
  ~redis_server();
  std::uint16_t port() const { return port_; }
  /// redis://[:PASSWORD@]127.0.0.1:PORT
  std::string url() const;
  /// Stops Redis (SIGTERM: it writes its AOF) and waits for it to exit.
  void stop();
  /// Starts it again on the same port and data.
  void start();
  /// Kills Redis without letting it write anything (SIGKILL).
  void kill();

 private:
  std::filesystem::path dir_;
  std::string password_;
  std::uint16_t port_ = 0;
  std::unique_ptr<child_process> process_;
};

}  // namespace test
