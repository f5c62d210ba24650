// Two sessions joined over real loopback TCP, optionally through a man-in-the-middle that can
// watch, alter or black-hole the bytes, for the session tests and the session benchmark.
#pragma once
#include <functional>
#include <memory>

#include <asio/io_context.hpp>

#include "session/session.hpp"

namespace test {

/// What the man in the middle does with a chunk: pass it on (perhaps altered), drop it (a black
/// hole), or end the connection with a FIN instead.
enum class tap_action { pass, drop, cut };
/// Sees every chunk passing one way and may change it in place.
using tap_fn = std::function<tap_action(std::vector<std::uint8_t>& chunk)>;

struct session_pair {
  std::shared_ptr<session::session> initiator;
  std::shared_ptr<session::session> responder;
  identity::key_pair initiator_keys;
  identity::key_pair responder_keys;
};

/// Connects two sockets over 127.0.0.1, through a forwarder running `tap` on initiator->responder
/// bytes if one is given, runs the handshake, and starts both sessions. Throws on failure.
session_pair make_session_pair(asio::io_context& io, session::session_options options = {}, tap_fn tap = nullptr);

/// Two unprotected sessions (an expose channel's kind: framing and streams, no cipher, no keys)
/// over 127.0.0.1, started.
session_pair make_unprotected_pair(asio::io_context& io, session::session_options options = {});

/// Two connected sockets over 127.0.0.1.
net::awaitable<std::pair<net::tcp::socket, net::tcp::socket>> connected_pair(asio::io_context& io);

/// Echoes everything read on `s` back, then half-closes.
net::awaitable<void> echo_stream(std::shared_ptr<session::stream> s);

/// Runs `task` on `io` until it finishes (or `limit` passes: then throws).
void run_until_done(asio::io_context& io, net::awaitable<void> task, std::chrono::seconds limit = std::chrono::seconds(60));

}  // namespace test
