// A secure session over a TCP path (direct or relayed) after the handshake: sealed records
// carrying multiplexed streams, keep-alive, a dead-path timeout, and bounded memory. One
// coroutine reads and dispatches records, one writes batches of sealed records, one keeps the
// path alive; streams are opened by either side. The session outlives its path: move_to() puts
// it on another connection (a punched path replacing a relayed one) without losing a byte.
#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/async_event.hpp"
#include "session/byte_buffer.hpp"
#include "session/handshake.hpp"
#include "session/mux_frame.hpp"
#include "session/path_proof.hpp"
#include "session/record_cipher.hpp"
#include "session/stream.hpp"

namespace session {

/// Tunables; the defaults suit users, tests shorten the timers.
struct session_options {
  std::size_t max_streams = 1024;        ///< open at once, both directions together
  std::size_t accept_backlog = 1024;     ///< incoming streams not yet accepted (a burst of opens is normal)
  std::size_t send_buffer = 512 * 1024;  ///< sealed bytes waiting for the socket before writers wait
  std::size_t window_budget = 32 * 1024 * 1024;  ///< window growth shared by all streams (bounds memory)
  std::uint32_t stream_window = ::session::stream_window;  ///< each stream's first window; both sides must agree
  std::chrono::milliseconds keepalive_interval{10'000};
  std::chrono::milliseconds dead_after{30'000};  ///< nothing heard this long: the path is dead
  std::chrono::milliseconds close_timeout{5'000};  ///< wait this long for the peer's close
  /// After the peer's migrate record, wait this long for our own move_to() before giving up.
  std::chrono::milliseconds move_timeout{10'000};
};

/// One session; create with make_shared, then co_spawn run().
class session : public std::enable_shared_from_this<session> {
 public:
  session(net::tcp::socket socket, const session_keys& keys, bool initiator, std::vector<std::uint8_t> received,
          session_options options = {});
  /// Framing, streams, windows and keep-alive without encryption or a peer key: only for a link
  /// whose far end sees the bytes in the clear anyway (see unprotected_t).
  session(net::tcp::socket socket, unprotected_t, bool initiator, std::vector<std::uint8_t> received,
          session_options options = {});
  ~session();

  /// Runs until the session ends (closed, failed, or the path died); every stream then fails.
  net::awaitable<void> run();
  /// Opens a stream described by `meta`; nullptr (and `why`) if the session has ended or is full.
  std::shared_ptr<stream> open_stream(nlohmann::json meta, std::string* why = nullptr);
  /// The next stream the peer opened; nullptr once the session has ended.
  net::awaitable<std::shared_ptr<stream>> accept_stream();
  /// Ends the session gracefully: a close record after everything queued, then half-close.
  void close(const std::string& reason = "done");

  bool is_open() const { return !ended_ && !closing_; }
  /// Why it ended ("" while open); clean() says whether both sides closed it on purpose.
  const std::string& end_reason() const { return end_reason_; }
  bool clean() const { return clean_; }
  /// Why nothing more may be sent: the end reason, the peer's close (it closed first), or ours.
  std::string closing_reason() const { return end_reason_.empty() ? "the session is closing" : end_reason_; }
  const identity::public_key& peer_key() const { return peer_key_; }
  aead_kind aead() const { return aead_; }  ///< (meaningless when unprotected)
  std::size_t open_streams() const { return streams_.size(); }
  /// Waits until the session has ended.
  net::awaitable<void> wait_ended();

  /// The keys a new path is proved with (prove_path); none for an unprotected session.
  const std::optional<path_proof_keys>& path_keys() const { return path_keys_; }
  /// Moves the session onto `path`, a connection both ends proved belongs to it (prove_path),
  /// which the peer moves onto too. Our migrate record is the last we send on the old path and
  /// everything after it goes on the new one; we read the old path up to the peer's migrate record
  /// before reading the new one, so every stream goes on with no byte lost, duplicated or
  /// reordered. Returns "" once both directions are on the new path and the old one is closed,
  /// else why not: the session is ending, already moving, or `timeout` passed with the peer not
  /// moved (we then go on sending on the new path and reading the old one).
  net::awaitable<std::string> move_to(net::tcp::socket path, std::chrono::milliseconds timeout);
  const asio::any_io_executor& executor() const { return executor_; }
  /// How many moves have completed (0: still on the first path).
  int moves() const { return moves_; }

 private:
  friend class stream;
  /// keys null: unprotected.
  session(net::tcp::socket socket, const session_keys* keys, bool initiator, std::vector<std::uint8_t> received,
          session_options options);
  net::awaitable<void> read_loop();
  net::awaitable<void> write_loop();
  net::awaitable<void> keepalive_loop();
  /// After the peer's migrate record: waits for our move_to()'s path and reads from it.
  net::awaitable<bool> follow_peer_move();
  /// Closes the old path once both directions have left it.
  void finish_move_if_done();
  /// Handles one record; returns false after failing the session.
  bool dispatch(const mux_frame& frame);
  void accept_open(const mux_frame& frame);
  /// Seals a frame into the send buffer (control frames are never held back).
  void send_frame(frame_kind kind, std::uint32_t stream, std::span<const std::uint8_t> payload);
  void send_frame(const std::vector<std::uint8_t>& frame);
  void seal_frame(std::span<const std::uint8_t> head, std::span<const std::uint8_t> body);
  bool send_buffer_has_room() const { return pending_.size() < options_.send_buffer; }
  /// Ends the session: every stream and waiter learns `reason`.
  void fail(const std::string& reason, bool clean = false);
  void forget_if_finished(const stream& s);
  /// Takes up to `wanted` bytes of window growth from the budget; returns what it got.
  std::uint32_t take_window_budget(std::uint32_t wanted);

  asio::any_io_executor executor_;
  /// The paths: one, or during a move the old and the new (a list: their addresses stay put).
  std::list<net::tcp::socket> paths_;
  net::tcp::socket* writing_to_;
  net::tcp::socket* reading_from_;
  net::tcp::socket* next_path_ = nullptr;  ///< the path move_to() gave, until both directions are on it
  bool write_moved_ = false;               ///< our migrate record has gone out on the old path
  bool peer_moved_ = false;                ///< the peer's migrate record arrived (cleared once we follow)
  int moves_ = 0;
  std::optional<path_proof_keys> path_keys_;
  session_options options_;
  record_cipher sealer_;
  record_cipher opener_;
  aead_kind aead_;
  identity::public_key peer_key_;
  bool initiator_;
  std::vector<std::uint8_t> input_;  ///< received bytes not yet opened
  byte_buffer pending_;  ///< sealed records waiting for the writer
  std::map<std::uint32_t, std::shared_ptr<stream>> streams_;
  std::deque<std::shared_ptr<stream>> accept_queue_;
  std::uint32_t next_stream_id_;
  std::uint32_t highest_peer_stream_ = 0;
  std::size_t window_budget_left_;
  net::clock::time_point last_heard_;
  net::clock::time_point last_ping_sent_;
  net::clock::time_point close_deadline_ = net::clock::time_point::max();
  bool closing_ = false;         ///< we sent (or queued) our close record
  std::string our_close_reason_;
  bool peer_closed_ = false;     ///< the peer's close record arrived
  bool ended_ = false;
  bool clean_ = false;
  std::string end_reason_;
  net::async_event pending_ready_;   ///< the writer has something to send
  net::async_event send_room_;       ///< the send buffer drained below its limit (or the session ended)
  net::async_event accept_ready_;    ///< a stream arrived (or the session ended)
  net::async_event ended_event_;
  net::async_event flushed_;         ///< our close record has been written
  net::async_event moved_;           ///< a direction of a move switched path (or move_to gave one)
  bool close_flushed_ = false;
};

}  // namespace session
