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
  /// Nonzero (and both sides offered resumption): a path that breaks or goes unanswered is lost,
  /// not fatal; the session waits this long for resume_on() to give it a new one.
  std::chrono::milliseconds resume_wait{0};
  /// With resume_wait: pings go unanswered this long and the path counts as lost (0: a third of
  /// dead_after). Pings go out at a quarter of it.
  std::chrono::milliseconds lost_after{0};
  /// Sealed bytes the peer has not acknowledged yet before stream writers wait (resumable sessions).
  std::size_t resend_limit = 16 * 1024 * 1024;
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

  // Resumption: a session whose path dies goes on over a new one (a relay pair in place of a
  // dead punched path). Every sealed record stays in a resend buffer (bounded by resend_limit)
  // until the peer acknowledges it (ack records); on the new path each side states, inside the
  // path proof, how many of the other's records it has opened, and the other resends from there
  // with the same sealed bytes, so counters, keys and streams go on as if nothing happened.
  /// Both sides offered it, and resume_wait allows it.
  bool resumable() const { return resumable_ && options_.resume_wait.count() > 0; }
  /// Names this session to the server (the same on both ends); see session_tag().
  const std::string& tag() const { return tag_; }
  bool initiator() const { return initiator_; }
  /// Waits until the path is lost (returns why) or the session ended (returns "").
  net::awaitable<std::string> wait_path_lost();
  bool path_lost() const { return path_lost_; }
  /// Waits until a lost path has been replaced (true) or the session ended (false).
  net::awaitable<bool> wait_path_back();
  /// Puts the session on `path`, a fresh connection to the same peer (whose first bytes may sit
  /// in `received`); the peer calls it too. Proves the path (path_proof), learns how much of ours
  /// the peer has, and resends the rest before anything new. A path not yet lost is given up
  /// first (the peer lost it). Returns "" once on the new path, else why not; the session then
  /// stays lost until resume_wait ends it.
  net::awaitable<std::string> resume_on(net::tcp::socket path, std::vector<std::uint8_t> received,
                                        std::chrono::milliseconds timeout);
  /// How many resumes have completed.
  int resumes() const { return resumes_; }
  /// Gives up a lost path's wait: the session ends with `reason`.
  void abandon(const std::string& reason) { fail(reason); }
  /// Counts the path as lost now (the peer said it lost it); false if the session cannot resume.
  bool give_up_path(const std::string& reason) { return lose_path(reason); }

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
  bool send_buffer_has_room() const {
    return pending_.size() < options_.send_buffer && resend_bytes_ < options_.resend_limit;
  }
  /// Ends the session: every stream and waiter learns `reason`.
  void fail(const std::string& reason, bool clean = false);
  void forget_if_finished(const stream& s);
  /// Takes up to `wanted` bytes of window growth from the budget; returns what it got.
  std::uint32_t take_window_budget(std::uint32_t wanted);
  /// The path broke or went unanswered: true if the session waits for resume_on() (it then
  /// closes every path and stops reading and writing), false if it cannot (the caller fails it).
  bool lose_path(const std::string& reason);
  /// The peer acknowledged `count` of our records: what it has leaves the resend buffer.
  bool on_ack(std::uint64_t count);
  void drop_acknowledged();
  /// Sends an ack when enough has arrived since the last (or `now`, with anything unacknowledged).
  void maybe_ack(bool now);
  /// After the proof on a new path: resend from `peer_has`; false (session failed) if impossible.
  bool resend_from(std::uint64_t peer_has);

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

  // Resumption (see resumable()).
  struct sent_batch {
    std::uint64_t first = 0;  ///< number of its first record
    std::uint64_t end = 0;    ///< one past its last
    byte_buffer bytes;
  };
  bool resumable_ = false;              ///< both sides offered it: acks flow (sent records are kept if resumable())
  std::string tag_;
  std::deque<sent_batch> resend_;       ///< written (or being written), not yet acknowledged
  std::size_t resend_bytes_ = 0;
  const sent_batch* writing_batch_ = nullptr;  ///< the batch the writer is writing (never dropped meanwhile)
  std::vector<byte_buffer> spare_;      ///< acknowledged batches' memory, for the next ones
  std::uint64_t pending_first_ = 0;     ///< number of the first record in pending_
  std::uint64_t opened_ = 0;            ///< the peer's records we have opened
  std::uint64_t worth_acking_ = 0;      ///< records other than acks opened since our last ack
  std::size_t bytes_since_ack_ = 0;
  std::uint64_t peer_has_ = 0;          ///< our records the peer acknowledged
  std::uint64_t stale_migrates_below_ = 0;  ///< the peer's records sealed before a resume: their migrates are void
  bool path_lost_ = false;
  bool resuming_ = false;
  std::string lost_reason_;
  net::clock::time_point lost_at_;
  int path_generation_ = 0;             ///< counts losses: I/O begun before one ignores its result
  bool reader_on_path_ = false;         ///< the reader (writer) is in a read (write) on the path
  bool writer_on_path_ = false;
  int resumes_ = 0;
  net::clock::time_point ping_unanswered_since_ = net::clock::time_point::max();
  net::async_event path_event_;         ///< the path was lost or resumed, or I/O left a lost path
};

}  // namespace session
