// Joins a local TCP connection and a session stream, both ways, with half-close carried across
// and a reset or error on either side ending both.
#pragma once
#include <chrono>
#include <memory>
#include <string>

#include "common/net.hpp"
#include "session/stream.hpp"

namespace session {

/// Bytes moved and why it ended.
struct socket_bridge_result {
  std::uint64_t to_stream = 0;
  std::uint64_t from_stream = 0;
  std::string error;  ///< empty when both directions ended cleanly
  bool to_stream_finished = false;    ///< the local side's end of data went into the stream
  bool from_stream_finished = false;  ///< the peer's end of data went to the local side
};

struct bridge_options {
  /// Nothing moving either way this long ends the bridge (the stream is reset); 0: never.
  std::chrono::milliseconds idle_timeout{0};
  /// If set, its byte counts are kept current as bytes move (metering reads them while the
  /// bridge runs); it must outlive the bridge.
  socket_bridge_result* live = nullptr;
};

/// Runs until both directions end or one side fails; closes the socket at the end.
net::awaitable<socket_bridge_result> bridge_socket(net::tcp::socket socket, std::shared_ptr<stream> stream,
                                                   bridge_options options = {});

}  // namespace session
