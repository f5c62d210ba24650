// The operator's way in to a running server: a Unix socket in its state directory
// (STATE/control.sock, mode 0600, so only the server's own user reaches it and no network port is
// needed). One JSON request line per connection, one JSON reply line, then the server closes it.
#pragma once
#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>

#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>
#include <nlohmann/json.hpp>

#include "common/net.hpp"

namespace rendezvous {

/// The socket's path in a state directory.
std::filesystem::path control_socket_path(const std::filesystem::path& state_dir);

/// Another server answers on the socket: it runs with the same state directory.
class state_in_use_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Descriptors the socket may hold: its listener and its connections.
inline constexpr long control_descriptors = 6;

class control_socket {
 public:
  using handler = std::function<nlohmann::json(const nlohmann::json& request)>;
  /// Listens at `path` (a stale socket left by a crash is replaced; one a live server answers
  /// on is not: throws). Requests are answered by `answer` on the io_context's thread.
  control_socket(asio::io_context& io, std::filesystem::path path, handler answer);
  /// Stops listening and removes the socket.
  ~control_socket();
  control_socket(const control_socket&) = delete;
  control_socket& operator=(const control_socket&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  struct state;
  std::shared_ptr<state> state_;
  std::filesystem::path path_;
};

/// Sends `request` to the server listening at `path` and returns its reply; throws
/// std::runtime_error saying why when there is none (no server, no answer within 5 s).
nlohmann::json ask_server(const std::filesystem::path& path, const nlohmann::json& request);

}  // namespace rendezvous
