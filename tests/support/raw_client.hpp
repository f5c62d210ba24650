// A blocking TCP client for sending hostile or hand-made frames to the server in tests.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace test {

/// One blocking connection to 127.0.0.1:port.
class raw_client {
 public:
  /// Connects from `source` (any 127.x.y.z), so tests can stand for many client addresses.
  explicit raw_client(std::uint16_t port, const std::string& source = "127.0.0.1");
  ~raw_client();
  raw_client(const raw_client&) = delete;
  raw_client& operator=(const raw_client&) = delete;

  void send_bytes(const std::string& bytes);
  void send_message(const nlohmann::json& message);
  /// Next frame, or nothing on EOF / error / timeout.
  std::optional<nlohmann::json> read_message(std::chrono::milliseconds limit);
  /// True if the server closes the connection within `limit`.
  bool closed_within(std::chrono::milliseconds limit);
  /// Completes hello and auth (no token) with an identity key shared by every raw client of the
  /// test run, so an ID can register again; false if the server refused or did not answer.
  bool authenticate(std::chrono::milliseconds limit = std::chrono::seconds(5));

 private:
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace test
