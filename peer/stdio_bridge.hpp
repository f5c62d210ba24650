// Bridges stdin/stdout to a connected socket like `nc`: stdin's end half-closes our sending
// direction; the bridge ends when both directions have ended (or the connection breaks).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace peer {

/// Bytes moved and, if the connection broke, why.
struct bridge_result {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::string error;  ///< empty when both directions ended cleanly
};

/// Blocking. Takes ownership of `socket_fd`; `already_received` goes to stdout first.
/// Works with files, pipes and terminals on either side.
bridge_result bridge_stdio(int socket_fd, std::vector<std::uint8_t> already_received);

}  // namespace peer
