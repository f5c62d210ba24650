// Exit codes of `peer`: part of the CLI contract scripts rely on.
#pragma once
#include <chrono>
#include <stdexcept>
#include <string>

namespace peer {

enum exit_code : int {
  exit_ok = 0,
  exit_failure = 1,        ///< the connection broke after it was made, or an unexpected error
  exit_usage = 2,          ///< bad command line or config
  exit_server = 3,         ///< server unreachable, or it refused us (auth, duplicate ID)
  exit_peer_unknown = 4,   ///< no such peer online, or it declined
  exit_no_path = 5,        ///< no connection could be made to the peer
  exit_peer_key = 6,       ///< the peer's key is not the one expected (server's or --expect-key)
  exit_refused = 7,        ///< the peer refused the request (a transfer it does not accept, an unsafe name)
};

/// An error that ends the command with a specific exit code and a message for the user.
class command_error : public std::runtime_error {
 public:
  command_error(exit_code code, const std::string& message) : std::runtime_error(message), code_(code) {}
  exit_code code() const { return code_; }

 private:
  exit_code code_;
};

/// A refusal that says when trying again may work: an ID held by a cluster node whose lease
/// lapses then if that node is dead.
class retry_later_error : public command_error {
 public:
  retry_later_error(exit_code code, const std::string& message, std::chrono::milliseconds after)
      : command_error(code, message), after_(after) {}
  std::chrono::milliseconds after() const { return after_; }

 private:
  std::chrono::milliseconds after_;
};

}  // namespace peer
