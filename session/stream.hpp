// One multiplexed stream of a session: ordered bytes both ways with half-close and reset, and a
// credit window per direction so a slow reader holds back only its own stream.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/async_event.hpp"

namespace session {

class session;

/// Credit each side grants a new stream by default: the most bytes a stream whose reader stalls
/// can hold (session_options::stream_window; both sides of a session must use the same).
inline constexpr std::uint32_t stream_window = 256 * 1024;
/// A stream whose reader keeps up may grow its window to this (from the session's budget), so
/// one fast stream is not limited by round trips of credit.
inline constexpr std::uint32_t max_stream_window = 4 * 1024 * 1024;

/// What a read returned: bytes, the end of the peer's data, or why the stream failed.
struct read_result {
  std::size_t size = 0;
  bool eof = false;
  std::string error;  ///< set when the stream was reset or the session died
};

/// How a stream's error begins when the peer reset it; the peer's own reason follows.
inline constexpr const char* peer_reset_prefix = "stream reset by the peer: ";

/// How a reset's reason begins when the peer refused what the stream was opened for (a target
/// its --allow does not name, a kind of stream it does not serve, a transfer it does not take).
inline constexpr const char* refused_prefix = "refused: ";

/// A stream handle; the session keeps it until both directions end or it is reset.
class stream {
 public:
  stream(std::shared_ptr<session> owner, std::uint32_t id, nlohmann::json meta);

  std::uint32_t id() const { return id_; }
  /// What the opener said the stream is for.
  const nlohmann::json& meta() const { return meta_; }

  /// Reads up to `buffer.size()` bytes; waits for data, the peer's half-close, or an error.
  net::awaitable<read_result> read_some(std::span<std::uint8_t> buffer);
  /// Waits as read_some does, but reads nothing: size is the bytes buffered.
  net::awaitable<read_result> readable();
  /// Moves every buffered byte into `out` as the buffers they arrived in, in order (no copy),
  /// and grants their credit back as read_some does; returns how many bytes. Hand the spent
  /// buffers back with recycle() so the next data reuses their memory.
  std::size_t take_buffered(std::vector<std::vector<std::uint8_t>>& out);
  void recycle(std::vector<std::vector<std::uint8_t>>& spent);
  /// Sends all of `data`, waiting for credit; returns why it could not, empty on success.
  net::awaitable<std::string> write(std::span<const std::uint8_t> data);
  /// Half-close: the peer reads the end after everything sent so far. Returns why it could not
  /// be sent (the stream or session failed), empty on success.
  std::string shutdown_send();
  /// Aborts both directions; the peer's reads and writes fail with `reason`.
  void reset(const std::string& reason);

  /// Why the stream failed, empty while it has not.
  const std::string& error() const { return error_; }
  /// Waits until the stream fails (a reset either way, or the session's end); returns at once
  /// if it already has, and early if the waiting coroutine is cancelled.
  net::awaitable<void> wait_failed();
  /// Bytes received and not yet read.
  std::size_t buffered() const { return buffered_; }

 private:
  friend class session;
  /// From the session's reader. on_data returns false if the peer overran our window.
  bool on_data(std::span<const std::uint8_t> payload);
  void on_fin();
  void on_reset(const std::string& reason);
  /// Returns false if the credit would overflow.
  bool on_window(std::uint32_t credit);
  void on_session_end(const std::string& reason);
  bool finished() const { return (fin_sent_ && fin_received_) || !error_.empty(); }
  void wake();
  /// A reset: unread data is dropped and reads fail at once.
  void abort_reads();
  /// The reader took `n` bytes: grant credit back, growing the window while the reader keeps up.
  void consumed(std::size_t n);

  std::shared_ptr<session> owner_;
  std::uint32_t id_;
  nlohmann::json meta_;
  std::deque<std::vector<std::uint8_t>> inbox_;
  std::size_t inbox_offset_ = 0;  ///< read position in inbox_.front()
  std::vector<std::vector<std::uint8_t>> spare_;  ///< emptied buffers the next data reuses
  std::size_t buffered_ = 0;
  std::uint32_t initial_window_;                  ///< the session's stream_window
  std::uint32_t receive_window_;                  ///< bytes the peer may still send
  std::uint32_t window_size_;                     ///< our current window (grows while the reader keeps up)
  std::uint32_t unacknowledged_ = 0;              ///< bytes read but not yet granted back
  std::int64_t send_credit_;
  bool fin_sent_ = false;
  bool fin_received_ = false;
  bool aborted_ = false;
  std::string error_;
  net::async_event changed_;  ///< data, credit, end or error arrived
};

}  // namespace session
