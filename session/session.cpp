#include "session/session.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/write.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <cstring>

#include "common/json_fields.hpp"

namespace session {

using namespace asio::experimental::awaitable_operators;

namespace {

/// Bytes read from the socket at a time.
constexpr std::size_t read_chunk = 256 * 1024;
/// Control frames (pongs, window grants, resets) are never held back; a peer that makes us owe
/// this much without reading is not a peer we can serve.
constexpr std::size_t send_buffer_hard_limit = 16 * 1024 * 1024;

record_cipher cipher_for(const session_keys* keys, bool sending) {
  if (!keys) return record_cipher(unprotected);
  return record_cipher(keys->aead, sending ? keys->send : keys->receive);
}

}  // namespace

session::session(net::tcp::socket socket, const session_keys& keys, bool initiator, std::vector<std::uint8_t> received,
                 session_options options)
    : session(std::move(socket), &keys, initiator, std::move(received), options) {}

session::session(net::tcp::socket socket, unprotected_t, bool initiator, std::vector<std::uint8_t> received,
                 session_options options)
    : session(std::move(socket), nullptr, initiator, std::move(received), options) {}

session::session(net::tcp::socket socket, const session_keys* keys, bool initiator, std::vector<std::uint8_t> received,
                 session_options options)
    : executor_(socket.get_executor()),
      writing_to_(nullptr),
      reading_from_(nullptr),
      options_(options),
      sealer_(cipher_for(keys, true)),
      opener_(cipher_for(keys, false)),
      aead_(keys ? keys->aead : aead_kind::chacha20poly1305),
      peer_key_(keys ? keys->peer : identity::public_key{}),
      initiator_(initiator),
      input_(std::move(received)),
      next_stream_id_(initiator ? 1 : 2),
      window_budget_left_(options.window_budget),
      last_heard_(net::clock::now()),
      last_ping_sent_(net::clock::now()),
      pending_ready_(executor_),
      send_room_(executor_),
      accept_ready_(executor_),
      ended_event_(executor_),
      flushed_(executor_),
      moved_(executor_),
      path_event_(executor_) {
  if (keys) {
    path_keys_ = derive_path_proof_keys(keys->send, keys->receive);
    tag_ = session_tag(*path_keys_, initiator);
    resumable_ = keys->resumable;
  }
  if (options_.lost_after.count() <= 0) options_.lost_after = std::max<std::chrono::milliseconds>(options_.dead_after / 3, std::chrono::milliseconds(1));
  socket.set_option(net::tcp::no_delay(true));
  paths_.push_back(std::move(socket));
  writing_to_ = reading_from_ = &paths_.front();
}

session::~session() = default;

net::awaitable<void> session::run() {
  auto self = shared_from_this();
  // If the executor is destroyed while we are suspended (a process or test shutting down), this
  // frame is destroyed without resuming: drop our streams then, since each holds the session and
  // the session holds them, a cycle nothing else would break. (No I/O: the executor is going.)
  struct release_on_destroy {
    session& owner;
    ~release_on_destroy() {
      owner.accept_queue_.clear();
      auto streams = std::move(owner.streams_);
      owner.streams_.clear();
    }
  } release{*this};
  co_await (read_loop() || write_loop() || keepalive_loop());
  if (!ended_) fail("the session stopped");
  std::error_code ignored;
  for (auto& path : paths_) path.close(ignored);
}

std::shared_ptr<stream> session::open_stream(nlohmann::json meta, std::string* why) {
  const auto refuse = [&](std::string reason) -> std::shared_ptr<stream> {
    if (why) *why = std::move(reason);
    return nullptr;
  };
  if (ended_ || closing_) return refuse(closing_reason());
  if (streams_.size() >= options_.max_streams) {
    return refuse("the session already has " + std::to_string(streams_.size()) + " streams open");
  }
  if (next_stream_id_ > UINT32_MAX - 2) return refuse("the session has used up its stream IDs");
  const auto id = next_stream_id_;
  next_stream_id_ += 2;
  auto text = meta.dump();
  if (text.size() > max_text_payload) return refuse("stream description too long");
  auto s = std::make_shared<stream>(shared_from_this(), id, std::move(meta));
  streams_.emplace(id, s);
  send_frame(encode_frame(frame_kind::open, id, text));
  return s;
}

net::awaitable<std::shared_ptr<stream>> session::accept_stream() {
  for (;;) {
    if (!accept_queue_.empty()) {
      auto s = std::move(accept_queue_.front());
      accept_queue_.pop_front();
      co_return s;
    }
    if (ended_ || peer_closed_) co_return nullptr;
    co_await accept_ready_.wait();
  }
}

void session::close(const std::string& reason) {
  if (ended_ || closing_) return;
  send_frame(encode_frame(frame_kind::close, 0, reason));
  our_close_reason_ = reason;
  closing_ = true;  // the close record is the last: nothing is sealed after it
}

net::awaitable<void> session::wait_ended() {
  while (!ended_) co_await ended_event_.wait();
}

void session::send_frame(frame_kind kind, std::uint32_t stream, std::span<const std::uint8_t> payload) {
  if (ended_ || closing_) return;
  seal_frame(frame_header(kind, stream), payload);
}

void session::send_frame(const std::vector<std::uint8_t>& frame) {
  if (ended_ || closing_) return;
  seal_frame(frame, {});
}

void session::seal_frame(std::span<const std::uint8_t> head, std::span<const std::uint8_t> body) {
  const std::size_t size = sealer_.sealed_size(head.size() + body.size());
  sealer_.seal_into(pending_.extend(size), head, body);
  pending_ready_.notify_all();
  // (A resume puts what the peer lacks, up to resend_limit and a batch, ahead of this.)
  const std::size_t limit = send_buffer_hard_limit + (resumable() ? options_.resend_limit + options_.send_buffer : 0);
  if (pending_.size() > limit) fail("the peer stopped reading (over 16 MiB owed to it)");
}

net::awaitable<void> session::write_loop() {
  byte_buffer writing;  // (a session without resumption writes from here and reuses it)
  for (;;) {
    // (A closing session sends no migrate record: its close is the last on the path it is on.)
    const auto moving = [&] { return next_path_ && !write_moved_ && !closing_; };
    while ((path_lost_ || (pending_.empty() && !moving())) && !ended_) co_await pending_ready_.wait();
    if (ended_) co_return;
    // A move: the migrate record ends this batch, which goes on the old path; the next on the new.
    // (Sealed here, by the writer, so nothing sealed after it can slip onto the old path.)
    const bool move_now = moving();
    if (move_now) seal_frame(frame_header(frame_kind::migrate, 0), {});
    byte_buffer* batch = &writing;
    if (resumable()) {
      // Kept until the peer acknowledges it: a path may die with it unread.
      auto& kept = resend_.emplace_back();
      kept.first = pending_first_;
      kept.end = pending_first_ = sealer_.records();
      if (!spare_.empty()) {
        kept.bytes.swap(spare_.back());
        spare_.pop_back();
      }
      kept.bytes.clear();
      kept.bytes.swap(pending_);
      resend_bytes_ += kept.bytes.size();
      writing_batch_ = &kept;
      batch = &kept.bytes;
    } else {
      writing.clear();
      writing.swap(pending_);
      pending_first_ = sealer_.records();
    }
    send_room_.notify_all();
    const bool last = closing_;  // the close record is in this batch, and nothing follows it
    const int generation = path_generation_;
    auto& path = *writing_to_;
    writer_on_path_ = true;
    auto [ec, n] = co_await asio::async_write(path, asio::buffer(batch->data(), batch->size()), net::use_nothrow);
    writer_on_path_ = false;
    writing_batch_ = nullptr;
    if (ended_) co_return;
    if (generation != path_generation_) {
      // The path was lost meanwhile: the batch stays for the resend, which the resume decides.
      path_event_.notify_all();
      continue;
    }
    drop_acknowledged();
    if (ec) {
      if (lose_path("sending to the peer failed: " + ec.message())) continue;
      fail("sending to the peer failed: " + ec.message());
      co_return;
    }
    if (move_now) {
      path.shutdown(net::tcp::socket::shutdown_send, ec);  // (the relay passes the end on)
      writing_to_ = next_path_;
      write_moved_ = true;
      finish_move_if_done();
      continue;
    }
    if (last) {
      writing_to_->shutdown(net::tcp::socket::shutdown_send, ec);
      if (!close_flushed_) {
        // A slow path may take long to flush; from here on the peer only has to answer.
        close_deadline_ = net::clock::now() + options_.close_timeout;
        close_flushed_ = true;
        flushed_.notify_all();
      }
      // Now only the reader works, until the peer's close and end arrive (or the close timeout),
      // unless a resume has something to send again.
    }
  }
}

bool session::lose_path(const std::string& reason) {
  if (ended_ || !resumable()) return false;
  if (path_lost_) return true;
  path_lost_ = true;
  lost_reason_ = reason;
  lost_at_ = net::clock::now();
  ++path_generation_;
  spdlog::info("session path lost: {}; waiting up to {} ms for a new one", reason, options_.resume_wait.count());
  // A move in progress is void: the resume puts both directions on one path.
  next_path_ = nullptr;
  write_moved_ = false;
  peer_moved_ = false;
  std::error_code ignored;
  for (auto& path : paths_) path.close(ignored);  // (erased by the resume, once no I/O is on them)
  pending_ready_.notify_all();
  moved_.notify_all();
  path_event_.notify_all();
  return true;
}

net::awaitable<std::string> session::wait_path_lost() {
  while (!path_lost_ && !ended_) co_await path_event_.wait();
  co_return ended_ ? std::string() : lost_reason_;
}

net::awaitable<bool> session::wait_path_back() {
  while (path_lost_ && !ended_) co_await path_event_.wait();
  co_return !ended_;
}

net::awaitable<std::string> session::resume_on(net::tcp::socket path, std::vector<std::uint8_t> received,
                                               std::chrono::milliseconds timeout) {
  auto self = shared_from_this();
  if (!resumable()) co_return "this session cannot resume";
  if (ended_) co_return end_reason_;
  if (resuming_) co_return "the session is already resuming";
  if (!path_lost_ && !lose_path("the peer gave up our path")) co_return "this session cannot resume";
  resuming_ = true;
  struct done_resuming {
    bool& flag;
    ~done_resuming() { flag = false; }
  } resuming{resuming_};
  // The reader and writer leave the closed paths first.
  while ((reader_on_path_ || writer_on_path_) && !ended_) co_await path_event_.wait();
  if (ended_) co_return end_reason_;
  // Stated inside the proof, so nobody on the path can change them: how many of the peer's
  // records we have, and how many of ours there are (the peer's migrate records before its count are void).
  std::vector<std::uint8_t> statement(16);
  const auto put = [&](std::size_t at, std::uint64_t value) {
    for (int i = 0; i < 8; ++i) statement[at + 7 - i] = static_cast<std::uint8_t>(value >> (8 * i));
  };
  put(0, opened_);
  put(8, sealer_.records());
  std::error_code ec;
  path.set_option(net::tcp::no_delay(true), ec);
  std::vector<std::uint8_t> theirs;
  auto why = co_await prove_path_stating(path, *path_keys_, std::move(received), timeout, std::move(statement), &theirs);
  if (ended_) co_return end_reason_;
  if (!why.empty()) co_return "the new path failed its proof: " + why;
  const auto get = [&](std::size_t at) {
    std::uint64_t value = 0;
    for (int i = 0; i < 8; ++i) value = (value << 8) | theirs[at + i];
    return value;
  };
  if (!resend_from(get(0))) co_return end_reason_;
  stale_migrates_below_ = get(8);
  paths_.clear();  // (all closed, none in use)
  paths_.push_back(std::move(path));
  writing_to_ = reading_from_ = &paths_.front();
  path_lost_ = false;
  last_heard_ = net::clock::now();
  ping_unanswered_since_ = net::clock::time_point::max();
  if (close_flushed_) {
    // Our close went out before the loss: the peer's answer is awaited afresh, and if it already
    // has everything, the new path carries our end at once.
    close_deadline_ = net::clock::now() + options_.close_timeout;
    if (pending_.empty()) writing_to_->shutdown(net::tcp::socket::shutdown_send, ec);
  }
  ++resumes_;
  spdlog::info("session resumed on a new path {} ms after it lost the old one", net::ms_since(lost_at_));
  pending_ready_.notify_all();
  path_event_.notify_all();
  send_room_.notify_all();
  co_return "";
}

bool session::resend_from(std::uint64_t peer_has) {
  const std::uint64_t kept_from = resend_.empty() ? pending_first_ : resend_.front().first;
  spdlog::debug("resuming: the peer has {} of our records; resending {}", peer_has,
                peer_has <= pending_first_ ? pending_first_ - peer_has : 0);
  if (peer_has < kept_from || peer_has > pending_first_) {
    fail(fmt::format("cannot resume: the peer has {} of our records, and we hold records {} to {}", peer_has, kept_from,
                     pending_first_));
    return false;
  }
  // What the peer lacks of the written batches goes out first, byte for byte as sealed then
  // (same counters), ahead of what was never written.
  byte_buffer again;
  for (auto& batch : resend_) {
    std::size_t from = 0;
    for (std::uint64_t record = batch.first; record < peer_has && record < batch.end; ++record) {
      from += record_cipher::record_span(std::span(batch.bytes.data() + from, batch.bytes.size() - from));
    }
    if (from < batch.bytes.size()) std::memcpy(again.extend(batch.bytes.size() - from), batch.bytes.data() + from, batch.bytes.size() - from);
  }
  if (!pending_.empty()) std::memcpy(again.extend(pending_.size()), pending_.data(), pending_.size());
  pending_.swap(again);
  for (auto& batch : resend_) spare_.push_back(std::move(batch.bytes));
  if (spare_.size() > 4) spare_.resize(4);
  resend_.clear();
  resend_bytes_ = 0;
  pending_first_ = peer_has;
  peer_has_ = std::max(peer_has_, peer_has);
  return true;
}

bool session::on_ack(std::uint64_t count) {
  if (count > pending_first_) return false;  // (only what went to the writer can have arrived)
  if (count <= peer_has_) return true;
  peer_has_ = count;
  drop_acknowledged();
  return true;
}

void session::drop_acknowledged() {
  bool freed = false;
  while (!resend_.empty() && resend_.front().end <= peer_has_ && &resend_.front() != writing_batch_) {
    resend_bytes_ -= resend_.front().bytes.size();
    if (spare_.size() < 4) spare_.push_back(std::move(resend_.front().bytes));
    resend_.pop_front();
    freed = true;
  }
  if (freed) send_room_.notify_all();
}

void session::maybe_ack(bool now) {
  // (Acks alone are not acknowledged: two idle sessions would ack each other's acks for ever.)
  if (!resumable_ || worth_acking_ == 0) return;
  // Often enough that the peer's resend buffer never fills on a fast path; rarely enough to cost nothing.
  if (!now && worth_acking_ < 32 && bytes_since_ack_ < 256 * 1024) return;
  worth_acking_ = 0;
  bytes_since_ack_ = 0;
  send_frame(encode_u64_frame(frame_kind::ack, 0, opened_));
}

net::awaitable<std::string> session::move_to(net::tcp::socket path, std::chrono::milliseconds timeout) {
  auto self = shared_from_this();
  if (!path_keys_) co_return "an unprotected session cannot move";
  // A closing session still takes the path: the peer may have moved its writing onto it (with
  // our close's answer to come there), though ours stays where our close went.
  if (ended_) co_return end_reason_;
  if (next_path_) co_return "the session is already moving";
  if (path_lost_) co_return "the session lost its path: " + lost_reason_;
  std::error_code ec;
  path.set_option(net::tcp::no_delay(true), ec);
  paths_.push_back(std::move(path));
  next_path_ = &paths_.back();
  const int before = moves_;
  const int generation = path_generation_;
  pending_ready_.notify_all();  // the writer sends our migrate record
  moved_.notify_all();          // the reader may be waiting for this path
  const auto deadline = net::clock::now() + timeout;
  while (moves_ == before && !ended_ && generation == path_generation_ && net::clock::now() < deadline) {
    co_await moved_.wait(deadline);
  }
  if (moves_ != before) co_return "";
  if (ended_) co_return end_reason_;
  if (generation != path_generation_) co_return "the path was lost during the move";
  co_return "the peer did not move within " + std::to_string(timeout.count()) + " ms";
}

net::awaitable<bool> session::follow_peer_move() {
  const auto deadline = net::clock::now() + options_.move_timeout;
  while (!next_path_ && !ended_ && !path_lost_ && net::clock::now() < deadline) co_await moved_.wait(deadline);
  if (ended_) co_return false;
  if (path_lost_) {
    peer_moved_ = false;  // the move is void: the resume decides where both go on
    co_return true;
  }
  if (!next_path_) {
    fail("the peer moved the session to a path we do not have");
    co_return false;
  }
  reading_from_ = next_path_;
  peer_moved_ = false;
  finish_move_if_done();
  co_return true;
}

void session::finish_move_if_done() {
  if (!next_path_ || !write_moved_ || reading_from_ != next_path_) {
    moved_.notify_all();
    return;
  }
  // Both directions are on the new path: the old one has nothing more to carry.
  std::error_code ignored;
  for (auto it = paths_.begin(); it != paths_.end();) {
    if (&*it == next_path_) {
      ++it;
      continue;
    }
    it->close(ignored);
    it = paths_.erase(it);
  }
  next_path_ = nullptr;
  write_moved_ = false;
  ++moves_;
  moved_.notify_all();
}

net::awaitable<void> session::read_loop() {
  // input_ holds [start, end) unopened bytes: at most one partial record plus one read. The
  // partial record moves to the front only when the room behind it is less than a read.
  std::size_t start = 0;
  std::size_t end = input_.size();
  input_.resize(std::max(input_.size(), 2 * read_chunk + opener_.sealed_size(max_record_plaintext)));
  for (;;) {
    // Open every whole record already here.
    for (;;) {
      auto result = opener_.open(std::span(input_).subspan(start, end - start));
      if (result.status == record_cipher::open_status::need_more) break;
      if (result.status == record_cipher::open_status::oversized) {
        fail("a record from the peer has an impossible length: the byte stream is corrupt");
        co_return;
      }
      if (result.status == record_cipher::open_status::forged) {
        fail("a record failed authentication: the bytes were altered, replayed or reordered in transit");
        co_return;
      }
      start += result.consumed;
      ++opened_;
      bytes_since_ack_ += result.consumed;
      last_heard_ = net::clock::now();
      auto frame = decode_frame(result.plaintext);
      if (!frame) {
        fail("the peer sent a malformed frame");
        co_return;
      }
      // A frame may end the session (a reply that overflows the send buffer, say): nothing after
      // it in the same read may be handled, or it would revive streams fail() released.
      if (!dispatch(*frame) || ended_) co_return;
      if (frame->kind != frame_kind::ack) ++worth_acking_;
      if (peer_moved_) {
        // Its migrate record is the last on this path: what follows comes on the new one.
        if (start != end) {
          fail("protocol error from the peer: records after its migrate record on the old path");
          co_return;
        }
        if (!co_await follow_peer_move()) co_return;
      }
    }
    maybe_ack(false);
    if (start == end) {
      start = end = 0;
    } else if (input_.size() - end < read_chunk) {
      std::memmove(input_.data(), input_.data() + start, end - start);
      end -= start;
      start = 0;
    }
    if (path_lost_) {
      // A part of a record read from the lost path is dropped: the peer resends it whole.
      start = end = 0;
      while (path_lost_ && !ended_) co_await path_event_.wait();
      if (ended_) co_return;
      continue;
    }
    const int generation = path_generation_;
    reader_on_path_ = true;
    auto [ec, n] = co_await reading_from_->async_read_some(asio::buffer(input_.data() + end, input_.size() - end), net::use_nothrow);
    reader_on_path_ = false;
    if (ended_) co_return;
    if (generation != path_generation_) {
      path_event_.notify_all();
      continue;  // (the top of the loop waits for the resume)
    }
    end += n;
    if (ec == asio::error::eof && peer_closed_) {
      // Our answering close must reach the peer before the session counts as ended.
      while (!close_flushed_ && !ended_) co_await flushed_.wait();
      fail(end_reason_.empty() ? "closed by the peer" : end_reason_, true);
      co_return;
    }
    if (ec == asio::error::eof) {
      if (lose_path("the connection ended without a close record")) continue;
      fail("the connection ended without a close record: the session was truncated (peer crashed or the path was cut)");
      co_return;
    }
    if (ec) {
      if (lose_path("receiving from the peer failed: " + ec.message())) continue;
      fail("receiving from the peer failed: " + ec.message());
      co_return;
    }
  }
}

bool session::dispatch(const mux_frame& frame) {
  if (ended_) return false;
  if (peer_closed_) {
    fail("the peer sent data after its close record");
    return false;
  }
  const auto protocol_error = [&](const std::string& what) {
    fail("protocol error from the peer: " + what);
    return false;
  };
  switch (frame.kind) {
    case frame_kind::ping:
      send_frame(encode_u64_frame(frame_kind::pong, 0, payload_u64(frame)));
      return true;
    case frame_kind::pong:
      ping_unanswered_since_ = net::clock::time_point::max();
      return true;
    case frame_kind::ack:
      if (!resumable_) return protocol_error("an ack in a session without resumption");
      return on_ack(payload_u64(frame)) || protocol_error("an ack for records we never sent");
    case frame_kind::close:
      peer_closed_ = true;
      // Whoever closed first gave the reason; the answer to our own close is only an answer.
      end_reason_ = closing_ ? "closed (" + our_close_reason_ + ")" : "closed by the peer (" + payload_text(frame) + ")";
      accept_ready_.notify_all();
      // Answer with our own close so the peer sees a clean end too.
      close("closing in reply");
      return true;
    case frame_kind::open:
      accept_open(frame);
      return !ended_;
    case frame_kind::migrate:
      if (!path_keys_) return protocol_error("a migrate record in an unprotected session");
      // One sealed before a resume was for a path the resume gave up (resent to us, or never followed).
      if (opened_ <= stale_migrates_below_) return true;
      peer_moved_ = true;
      return true;
    default:
      break;
  }
  // Frames about one stream.
  auto it = streams_.find(frame.stream);
  const bool peer_parity = (frame.stream % 2 == 1) != initiator_;
  const bool ever_seen = peer_parity ? frame.stream <= highest_peer_stream_ : frame.stream < next_stream_id_;
  if (it == streams_.end()) {
    // A stream we already finished: late frames are harmless; one never opened is a lie.
    return ever_seen || protocol_error("a frame for stream " + std::to_string(frame.stream) + " that was never opened");
  }
  auto& s = *it->second;
  switch (frame.kind) {
    case frame_kind::data:
      if (!s.on_data(frame.payload)) {
        return protocol_error("stream " + std::to_string(frame.stream) + " overran its window or sent after its end");
      }
      return true;
    case frame_kind::fin:
      s.on_fin();
      forget_if_finished(s);
      return true;
    case frame_kind::reset:
      s.on_reset(payload_text(frame));
      forget_if_finished(s);
      return true;
    case frame_kind::window:
      return s.on_window(payload_u32(frame)) || protocol_error("window credit overflow");
    default:
      return protocol_error("unexpected frame");
  }
}

void session::accept_open(const mux_frame& frame) {
  if (ended_) return;
  const bool peer_parity = (frame.stream % 2 == 1) != initiator_;
  if (!peer_parity || frame.stream <= highest_peer_stream_) {
    fail("protocol error from the peer: stream ID " + std::to_string(frame.stream) + " is not new");
    return;
  }
  highest_peer_stream_ = frame.stream;
  const auto refuse = [&](const std::string& reason) {
    spdlog::warn("refused stream {} from the peer: {}", frame.stream, reason);
    send_frame(encode_frame(frame_kind::reset, frame.stream, reason));
  };
  if (closing_) return refuse("the session is closing");
  if (streams_.size() >= options_.max_streams) return refuse("too many streams open");
  if (accept_queue_.size() >= options_.accept_backlog) return refuse("too many streams waiting to be accepted");
  auto parsed = wire::parse_bounded(payload_text(frame));
  if (!parsed.error.empty()) return refuse("the stream description is " + parsed.error);
  auto meta = std::move(parsed.value);
  auto s = std::make_shared<stream>(shared_from_this(), frame.stream, std::move(meta));
  streams_.emplace(frame.stream, s);
  accept_queue_.push_back(std::move(s));
  accept_ready_.notify_all();
}

net::awaitable<void> session::keepalive_loop() {
  asio::steady_timer tick(executor_);
  // A resumable session pings more often, to notice an unanswered path within lost_after.
  const auto ping_every = resumable() ? std::min(options_.keepalive_interval, options_.lost_after / 4) : options_.keepalive_interval;
  const auto step = std::min<net::clock::duration>(std::chrono::seconds(1), ping_every);
  const auto in_seconds = [](std::chrono::milliseconds ms) { return static_cast<double>(ms.count()) / 1000.0; };
  for (;;) {
    tick.expires_after(step);
    co_await tick.async_wait(net::use_nothrow);
    const auto now = net::clock::now();
    if (path_lost_) {
      if (now - lost_at_ > options_.resume_wait) {
        fail(fmt::format("the path is dead: it was lost ({}) and no new one came within {:.1f} s", lost_reason_,
                         in_seconds(options_.resume_wait)));
        co_return;
      }
      continue;
    }
    if (now - last_heard_ > options_.dead_after) {
      fail(fmt::format("nothing heard from the peer for {:.1f} s: the path is dead", in_seconds(options_.dead_after)));
      co_return;
    }
    if (now > close_deadline_) {
      fail(end_reason_.empty() ? "the peer did not answer our close" : end_reason_, peer_closed_);
      co_return;
    }
    // Lost: our ping went unanswered and nothing at all came for lost_after (on a slow, busy path
    // a pong may wait behind megabytes of data, but the data itself keeps arriving).
    if (resumable() && !closing_ && now - ping_unanswered_since_ > options_.lost_after &&
        now - last_heard_ > options_.lost_after) {
      lose_path(fmt::format("nothing heard and no answer to our pings for {:.1f} s", in_seconds(options_.lost_after)));
      continue;
    }
    maybe_ack(true);
    if (now - last_ping_sent_ >= ping_every && !closing_) {
      last_ping_sent_ = now;
      if (ping_unanswered_since_ == net::clock::time_point::max()) ping_unanswered_since_ = now;
      send_frame(encode_u64_frame(frame_kind::ping, 0, static_cast<std::uint64_t>(net::now_ms())));
    }
  }
}

void session::fail(const std::string& reason, bool clean) {
  if (ended_) return;
  ended_ = true;
  clean_ = clean;
  end_reason_ = reason;
  if (!clean) spdlog::warn("session ended: {}", reason);
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, s] : streams) s->on_session_end(reason);
  accept_queue_.clear();  // queued streams hold the session: no cycle may outlive it
  pending_.release();  // nothing will be sent any more: up to 16 MiB back
  // The resend buffer goes too, but for the batch being written (always the last), whose write
  // still points into it until the writer returns.
  while (!resend_.empty() && &resend_.front() != writing_batch_) resend_.pop_front();
  resend_bytes_ = 0;
  spare_.clear();
  pending_ready_.notify_all();
  send_room_.notify_all();
  accept_ready_.notify_all();
  ended_event_.notify_all();
  moved_.notify_all();
  path_event_.notify_all();
  std::error_code ignored;
  for (auto& path : paths_) path.cancel(ignored);
}

void session::forget_if_finished(const stream& s) {
  if (!s.finished()) return;
  // Read before erasing: the map may hold the last reference to the stream.
  const std::size_t growth = s.window_size_ - s.initial_window_;
  if (streams_.erase(s.id())) window_budget_left_ += growth;  // its growth returns to the budget
}

std::uint32_t session::take_window_budget(std::uint32_t wanted) {
  const auto granted = static_cast<std::uint32_t>(std::min<std::size_t>(wanted, window_budget_left_));
  window_budget_left_ -= granted;
  return granted;
}

}  // namespace session
