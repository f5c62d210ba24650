#include "session/stream.hpp"

#include <algorithm>
#include <cstring>

#include <asio/this_coro.hpp>

#include "session/session.hpp"

namespace session {

stream::stream(std::shared_ptr<session> owner, std::uint32_t id, nlohmann::json meta)
    : owner_(std::move(owner)),
      id_(id),
      meta_(std::move(meta)),
      initial_window_(owner_->options_.stream_window),
      receive_window_(initial_window_),
      window_size_(initial_window_),
      send_credit_(initial_window_),
      changed_(owner_->executor_) {}

void stream::wake() { changed_.notify_all(); }

net::awaitable<read_result> stream::readable() {
  for (;;) {
    if (aborted_) co_return read_result{0, false, error_};
    if (buffered_ > 0) co_return read_result{buffered_, false, {}};
    // The peer finished its direction cleanly: that end stands even if the session ends later.
    if (fin_received_) co_return read_result{0, true, {}};
    if (!error_.empty()) co_return read_result{0, false, error_};
    co_await changed_.wait();
  }
}

net::awaitable<read_result> stream::read_some(std::span<std::uint8_t> buffer) {
  auto ready = co_await readable();
  if (ready.size == 0) co_return ready;
  std::size_t copied = 0;
  while (copied < buffer.size() && !inbox_.empty()) {
    auto& front = inbox_.front();
    const std::size_t n = std::min(buffer.size() - copied, front.size() - inbox_offset_);
    std::memcpy(buffer.data() + copied, front.data() + inbox_offset_, n);
    copied += n;
    inbox_offset_ += n;
    if (inbox_offset_ == front.size()) {
      inbox_.pop_front();
      inbox_offset_ = 0;
    }
  }
  consumed(copied);
  co_return read_result{copied, false, {}};
}

std::size_t stream::take_buffered(std::vector<std::vector<std::uint8_t>>& out) {
  if (aborted_ || buffered_ == 0) return 0;
  if (inbox_offset_ > 0) {  // read_some took part of the first buffer
    auto& front = inbox_.front();
    front.erase(front.begin(), front.begin() + static_cast<std::ptrdiff_t>(inbox_offset_));
    inbox_offset_ = 0;
  }
  const std::size_t taken = buffered_;
  for (auto& buffer : inbox_) out.push_back(std::move(buffer));
  inbox_.clear();
  consumed(taken);
  return taken;
}

void stream::recycle(std::vector<std::vector<std::uint8_t>>& spent) {
  constexpr std::size_t max_spare = 8;
  for (auto& buffer : spent) {
    if (spare_.size() >= max_spare) break;
    buffer.clear();
    spare_.push_back(std::move(buffer));
  }
  spent.clear();
}

void stream::consumed(std::size_t n) {
  buffered_ -= n;
  unacknowledged_ += static_cast<std::uint32_t>(n);
  // Grant the credit back in batches: a window frame per quarter window read, not per read.
  if (fin_received_ || !error_.empty() || unacknowledged_ < window_size_ / 4) return;
  std::uint32_t grant = unacknowledged_;
  // The reader drained everything: it keeps up, so the window, not the reader, limits the
  // stream. Double it while the session's budget allows.
  if (buffered_ == 0 && window_size_ < max_stream_window) {
    const auto extra = owner_->take_window_budget(window_size_);
    window_size_ += extra;
    grant += extra;
  }
  owner_->send_frame(encode_u32_frame(frame_kind::window, id_, grant));
  receive_window_ += grant;
  unacknowledged_ = 0;
}

net::awaitable<std::string> stream::write(std::span<const std::uint8_t> data) {
  while (!data.empty()) {
    for (;;) {
      if (!error_.empty()) co_return error_;
      if (fin_sent_) co_return "stream " + std::to_string(id_) + " was already shut down for sending";
      if (owner_->ended_) co_return owner_->end_reason_;
      if (!owner_->is_open()) co_return owner_->closing_reason();
      if (send_credit_ <= 0) {
        co_await changed_.wait();
      } else if (!owner_->send_buffer_has_room()) {
        co_await owner_->send_room_.wait();
      } else {
        break;
      }
    }
    const std::size_t n = std::min({data.size(), static_cast<std::size_t>(send_credit_), max_data_payload});
    owner_->send_frame(frame_kind::data, id_, data.first(n));
    send_credit_ -= static_cast<std::int64_t>(n);
    data = data.subspan(n);
  }
  co_return std::string();
}

std::string stream::shutdown_send() {
  if (!error_.empty()) return error_;
  if (owner_->ended_) return owner_->end_reason_;
  if (fin_sent_) return {};
  if (!owner_->is_open()) return owner_->closing_reason();
  fin_sent_ = true;
  owner_->send_frame(encode_frame(frame_kind::fin, id_));
  owner_->forget_if_finished(*this);
  return {};
}

void stream::reset(const std::string& reason) {
  if (!error_.empty()) return;
  error_ = "stream reset locally: " + reason;
  if (!owner_->ended_) owner_->send_frame(encode_frame(frame_kind::reset, id_, reason));
  abort_reads();
  wake();
  owner_->forget_if_finished(*this);
}

net::awaitable<void> stream::wait_failed() {
  while (error_.empty()) {
    co_await changed_.wait();
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) co_return;
  }
}

bool stream::on_data(std::span<const std::uint8_t> payload) {
  if (payload.size() > receive_window_ || fin_received_) return false;
  receive_window_ -= static_cast<std::uint32_t>(payload.size());
  if (!error_.empty()) return true;  // reset locally; the peer has not seen it yet
  // Small frames join the last buffer, so tiny frames cost bytes, not allocations.
  if (!inbox_.empty() && inbox_.back().size() + payload.size() <= max_data_payload) {
    inbox_.back().insert(inbox_.back().end(), payload.begin(), payload.end());
  } else if (!spare_.empty()) {
    inbox_.push_back(std::move(spare_.back()));
    spare_.pop_back();
    inbox_.back().assign(payload.begin(), payload.end());
  } else {
    inbox_.emplace_back(payload.begin(), payload.end());
  }
  buffered_ += payload.size();
  wake();
  return true;
}

void stream::on_fin() {
  fin_received_ = true;
  wake();
}

void stream::on_reset(const std::string& reason) {
  if (error_.empty()) error_ = peer_reset_prefix + reason;
  abort_reads();
  wake();
}

void stream::abort_reads() {
  aborted_ = true;
  inbox_.clear();
  spare_.clear();
  inbox_offset_ = 0;
  buffered_ = 0;
}

bool stream::on_window(std::uint32_t credit) {
  send_credit_ += credit;
  if (send_credit_ > std::int64_t{1} << 31) return false;
  wake();
  return true;
}

void stream::on_session_end(const std::string& reason) {
  // Data already received stays readable; reads fail only once it is consumed.
  if (error_.empty() && !(fin_sent_ && fin_received_)) error_ = reason;
  wake();
}

}  // namespace session
