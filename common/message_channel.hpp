// A framed, heart-beaten message connection: the main connection between a peer and the server.
// Driven by completion handlers, not coroutines, so an idle channel costs a socket, a timer and
// a few hundred bytes: the server holds one per online peer.
#pragma once
#include <functional>
#include <list>
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
  std::size_t max_inbox_messages = 256;         ///< unhandled inbound messages before reading pauses (receive())
  std::chrono::milliseconds heartbeat_interval{10'000};
  std::chrono::milliseconds silence_timeout{30'000};
  /// Nonzero: a ping is skipped while the other side was heard from within heartbeat_interval
  /// (its own pings prove it alive), but one goes out at least this often to measure the round
  /// trip. The server sets it: at 10,000 peers that halves the heartbeat traffic.
  std::chrono::milliseconds rtt_interval{0};
};

/// Result of receive(): a message, or nothing because the channel closed or the deadline passed.
struct received {
  std::optional<nlohmann::json> message;
  bool timed_out = false;
};

/// Owns a socket; pumps frames both ways and sends pings. Messages other than pings and pongs go
/// to a handler (start) or wait for receive() (run).
class message_channel : public std::enable_shared_from_this<message_channel> {
 public:
  using message_handler = std::function<void(nlohmann::json& message)>;

  message_channel(net::tcp::socket socket, channel_options options);

  /// Starts reading, writing and heart-beating: each message goes to `on_message` as it arrives;
  /// `on_closed` runs once, after the channel closed (never from inside a call into the channel).
  void start(message_handler on_message, std::function<void()> on_closed);
  /// Starts the channel for receive() and waits until it closes. Call once, instead of start().
  net::awaitable<void> run();
  /// Queues a message; never blocks. An overfull outbox closes the channel (slow reader).
  void send(const nlohmann::json& message);
  /// Sends the message, then closes with `reason` once the outbox has drained (at most 2 s);
  /// nothing read meanwhile is handled.
  void send_and_close(const nlohmann::json& message, close_reason reason, std::string detail);
  /// Next inbound message (after run()), or empty when closed / timed out.
  net::awaitable<received> receive(net::clock::time_point deadline = net::clock::time_point::max());
  /// Closes now, recording why (the first reason wins).
  void close(close_reason reason, std::string detail = {});
  /// Closes now, first writing `message` if the socket takes it at once and no frame is half
  /// sent (best effort: an evicted client learns why without us waiting on it).
  void close_with_notice(const nlohmann::json& message, close_reason reason, std::string detail);
  /// Reads nothing more for `pause` (a client asking faster than it may: TCP pushes back).
  void pause_reading(net::clock::duration pause);

  bool is_open() const { return reason_ == close_reason::none; }
  close_reason reason() const { return reason_; }
  const std::string& detail() const { return detail_; }
  /// Last measured round-trip time of a ping, if any.
  std::optional<std::chrono::milliseconds> rtt() const { return rtt_; }
  /// The other side's address as seen by us (kept after close).
  const net::tcp::endpoint& remote() const { return remote_; }

 private:
  /// What receive() needs; made only by run(), so handler-driven channels do not carry it.
  struct pull_state {
    explicit pull_state(const asio::any_io_executor& ex) : ready(ex), closed(ex) {}
    std::list<nlohmann::json> inbox;
    net::async_signal ready;
    net::async_signal closed;
  };

  void ensure_pull();
  void begin();
  void read_when_ready();
  void on_readable(std::error_code ec);
  /// Hands out the frames already buffered; false once no more may be handled now.
  bool dispatch_buffered();
  void deliver(nlohmann::json& message);
  void write_next();
  void arm_timer();
  void on_timer(std::error_code ec);
  bool may_read() const;

  net::tcp::socket socket_;
  net::tcp::endpoint remote_;
  channel_options options_;
  frame_reader reader_;
  std::list<std::vector<std::uint8_t>> outbox_;  ///< a list: nothing allocated while empty
  std::size_t outbox_bytes_ = 0;
  bool writing_ = false;   ///< a frame is on its way to the socket
  bool reading_ = false;   ///< a wait for readability is pending
  bool delivering_ = false;  ///< inside dispatch_buffered (a handler may call back into us)
  std::optional<close_reason> close_after_flush_;  ///< set by send_and_close
  asio::steady_timer timer_;  ///< pings, silence, the flush deadline and reading pauses
  net::clock::time_point next_ping_;
  net::clock::time_point next_rtt_ping_;
  net::clock::time_point last_received_;
  net::clock::time_point flush_deadline_ = net::clock::time_point::max();
  net::clock::time_point paused_until_{};
  message_handler on_message_;
  std::function<void()> on_closed_;
  std::unique_ptr<pull_state> pull_;
  std::optional<std::chrono::milliseconds> rtt_;
  close_reason reason_ = close_reason::none;
  std::string detail_;
};

}  // namespace wire
