// A framed, heart-beaten message connection: the main connection between a peer and the server.
#pragma once
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/async_signal.hpp"
#include "common/frame_reader.hpp"

namespace wire {

/// Why a channel ended; logged so a user can tell a dead peer from a bad one.
enum class close_reason {
  none,
  peer_closed,       ///< orderly EOF from the other side
  read_failed,       ///< socket error while reading
  write_failed,      ///< socket error while writing
  malformed_frame,   ///< bytes that can never be a frame (oversized, not JSON, ...)
  silent,            ///< nothing received within the silence timeout
  send_queue_full,   ///< the other side does not read fast enough
  inbox_full,        ///< the other side sends faster than we handle
  closed_locally,    ///< our own decision (shutdown, protocol refusal)
};
/// Human name of a close reason.
const char* to_string(close_reason reason);

/// Limits and timers of one channel.
struct channel_options {
  std::size_t max_queued_bytes = 1024 * 1024;   ///< outbox cap; beyond it the channel closes
  std::size_t max_inbox_messages = 256;         ///< unhandled inbound messages before reading pauses
  std::chrono::milliseconds heartbeat_interval{10'000};
  std::chrono::milliseconds silence_timeout{30'000};
};

/// Result of receive(): a message, or nothing because the channel closed or the deadline passed.
struct received {
  std::optional<nlohmann::json> message;
  bool timed_out = false;
};

/// Owns a socket; run() pumps frames both ways and sends pings; receive() yields non-ping messages.
class message_channel : public std::enable_shared_from_this<message_channel> {
 public:
  message_channel(net::tcp::socket socket, channel_options options);

  /// Reads, writes and heart-beats until the channel closes. Call once.
  net::awaitable<void> run();
  /// Queues a message; never blocks. An overfull outbox closes the channel (slow reader).
  void send(const nlohmann::json& message);
  /// Sends the message, then closes with `reason` once the outbox has drained (at most 2 s).
  void send_and_close(const nlohmann::json& message, close_reason reason, std::string detail);
  /// Next inbound message (pings and pongs are handled inside), or empty when closed / timed out.
  net::awaitable<received> receive(net::clock::time_point deadline = net::clock::time_point::max());
  /// Closes now, recording why (the first reason wins).
  void close(close_reason reason, std::string detail = {});
  /// Closes now, first writing `message` if the socket takes it at once and no frame is half
  /// sent (best effort: an evicted client learns why without us waiting on it).
  void close_with_notice(const nlohmann::json& message, close_reason reason, std::string detail);

  bool is_open() const { return reason_ == close_reason::none; }
  close_reason reason() const { return reason_; }
  const std::string& detail() const { return detail_; }
  /// Last measured round-trip time of a ping, if any.
  std::optional<std::chrono::milliseconds> rtt() const { return rtt_; }
  /// The other side's address as seen by us (kept after close).
  const net::tcp::endpoint& remote() const { return remote_; }

 private:
  net::awaitable<void> read_loop();
  net::awaitable<void> write_loop();
  net::awaitable<void> heartbeat_loop();

  net::tcp::socket socket_;
  net::tcp::endpoint remote_;
  channel_options options_;
  frame_reader reader_;
  std::deque<std::vector<std::uint8_t>> outbox_;
  std::size_t outbox_bytes_ = 0;
  bool writing_ = false;  ///< a frame is on its way to the socket
  std::optional<close_reason> close_after_flush_;  ///< set by send_and_close
  std::deque<nlohmann::json> inbox_;
  net::async_signal outbox_ready_;
  net::async_signal inbox_ready_;
  net::async_signal inbox_space_;
  net::async_signal flushed_or_closed_;
  net::clock::time_point last_received_;
  std::optional<std::chrono::milliseconds> rtt_;
  close_reason reason_ = close_reason::none;
  std::string detail_;
};

}  // namespace wire
