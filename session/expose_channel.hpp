// What both ends of an expose channel (rendezvous/expose_channels.hpp) run: an unprotected
// session whose streams are the public clients of an exposed port. Both ends must agree on the
// first window of a stream, so it is fixed here: small, since a server carries thousands of
// clients and a client that does not read holds a whole window there.
#pragma once
#include "session/session.hpp"

namespace session {

inline constexpr std::size_t channel_max_streams = 2048;

inline session_options expose_channel_options() {
  session_options options;
  options.max_streams = channel_max_streams;
  options.accept_backlog = channel_max_streams;  // a burst of clients opens many streams in one read
  options.stream_window = 64 * 1024;              // grows while the client keeps up, as any stream's
  return options;
}

}  // namespace session
