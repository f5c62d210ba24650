#include "common/message_channel.hpp"

#include <asio/post.hpp>
#include <asio/write.hpp>
#include <spdlog/spdlog.h>

#include "common/endpoint.hpp"

namespace wire {

const char* to_string(close_reason reason) {
  switch (reason) {
    case close_reason::none: return "open";
    case close_reason::peer_closed: return "closed by the other side";
    case close_reason::read_failed: return "read failed";
    case close_reason::write_failed: return "write failed";
    case close_reason::malformed_frame: return "malformed frame";
    case close_reason::silent: return "silent too long";
    case close_reason::send_queue_full: return "send queue full (reader too slow)";
    case close_reason::inbox_full: return "too many unhandled messages";
    case close_reason::closed_locally: return "closed locally";
  }
  return "unknown";
}

namespace {

/// How long send_and_close waits for the outbox to drain.
constexpr auto flush_limit = std::chrono::seconds(2);

}  // namespace

message_channel::message_channel(net::tcp::socket socket, channel_options options)
    : socket_(std::move(socket)), options_(options), timer_(socket_.get_executor()), last_received_(net::clock::now()) {
  std::error_code ec;
  remote_ = net::unmapped(socket_.remote_endpoint(ec));
}

void message_channel::start(message_handler on_message, std::function<void()> on_closed) {
  on_message_ = std::move(on_message);
  on_closed_ = std::move(on_closed);
  begin();
}

net::awaitable<void> message_channel::run() {
  auto self = shared_from_this();
  ensure_pull();
  begin();
  while (is_open()) co_await pull_->closed.wait();
}

void message_channel::ensure_pull() {
  if (pull_) return;
  pull_ = std::make_unique<pull_state>(socket_.get_executor());
  on_message_ = [this](nlohmann::json& message) {
    pull_->inbox.push_back(std::move(message));
    pull_->ready.notify();
  };
}

void message_channel::begin() {
  last_received_ = net::clock::now();
  next_ping_ = last_received_ + options_.heartbeat_interval;
  next_rtt_ping_ = last_received_;  // the first ping measures the round trip
  arm_timer();
  read_when_ready();
}

bool message_channel::may_read() const {
  if (!is_open() || close_after_flush_) return false;
  if (paused_until_ != net::clock::time_point{}) return false;
  return !pull_ || pull_->inbox.size() < options_.max_inbox_messages;
}

void message_channel::read_when_ready() {
  if (reading_ || !may_read()) return;
  reading_ = true;
  socket_.async_wait(net::tcp::socket::wait_read, [self = shared_from_this()](std::error_code ec) {
    self->reading_ = false;
    self->on_readable(ec);
  });
}

void message_channel::on_readable(std::error_code ec) {
  if (!is_open()) return;
  if (ec) {
    if (ec != asio::error::operation_aborted) close(close_reason::read_failed, ec.message());
    return;
  }
  const auto read_error = reader_.feed_from(socket_);
  if (!dispatch_buffered()) return;  // closed, paused or full: resuming reads on
  if (read_error == asio::error::eof) {
    close(close_reason::peer_closed);
    return;
  }
  if (read_error && read_error != asio::error::would_block && read_error != asio::error::try_again) {
    close(close_reason::read_failed, read_error.message());
    return;
  }
  read_when_ready();
}

bool message_channel::dispatch_buffered() {
  if (delivering_) return false;  // a handler called back into us: the outer loop goes on
  delivering_ = true;
  bool more = false;
  while (may_read()) {
    auto result = reader_.next();
    if (!result.protocol_error.empty()) {
      // Tell the other side why, best effort, then drop the stream: it can never resynchronise.
      send_and_close({{"type", "error"}, {"code", "malformed_frame"}, {"message", result.protocol_error}},
                     close_reason::malformed_frame, result.protocol_error);
      break;
    }
    if (!result.message) {
      more = true;  // everything buffered is handled: read the socket again
      break;
    }
    last_received_ = net::clock::now();
    deliver(*result.message);
  }
  delivering_ = false;
  return more;
}

void message_channel::deliver(nlohmann::json& message) {
  const auto& type = message["type"].get_ref<const std::string&>();
  // Heartbeat stamps are opaque integers we echo or compare; anything else is ignored.
  const auto stamp_field = message.find("t");
  const long long stamp = stamp_field != message.end() && stamp_field->is_number_integer() ? stamp_field->get<long long>() : 0;
  if (type == "ping") {
    send({{"type", "pong"}, {"t", stamp}});
    return;
  }
  if (type == "pong") {
    const long long age = net::now_ms() - stamp;
    if (stamp > 0 && age >= 0 && age < 120'000) rtt_ = std::chrono::milliseconds(age);
    return;
  }
  try {
    if (on_message_) on_message_(message);
  } catch (const std::exception& e) {
    // A bug, not bad input (handlers refuse bad input themselves): end this connection only.
    spdlog::error("{}: handling a message failed: {}", net::to_string(remote_), e.what());
    close(close_reason::closed_locally, e.what());
  }
}

void message_channel::send(const nlohmann::json& message) {
  if (!is_open() || close_after_flush_) return;
  auto bytes = encode(message);
  if (outbox_bytes_ + bytes.size() > options_.max_queued_bytes) {
    close(close_reason::send_queue_full, std::to_string(outbox_bytes_) + " bytes queued");
    return;
  }
  outbox_bytes_ += bytes.size();
  outbox_.push_back(std::move(bytes));
  write_next();
}

void message_channel::write_next() {
  if (writing_ || !is_open()) return;
  if (outbox_.empty()) {
    if (close_after_flush_) close(*close_after_flush_, detail_);
    return;
  }
  writing_ = true;
  asio::async_write(socket_, asio::buffer(outbox_.front()), [self = shared_from_this()](std::error_code ec, std::size_t) {
    self->writing_ = false;
    self->outbox_bytes_ -= self->outbox_.front().size();
    self->outbox_.pop_front();
    if (ec) {
      self->close(close_reason::write_failed, ec.message());
      return;
    }
    self->write_next();
  });
}

void message_channel::send_and_close(const nlohmann::json& message, close_reason reason, std::string detail) {
  send(message);
  if (!is_open() || close_after_flush_) return;
  close_after_flush_ = reason;
  detail_ = std::move(detail);
  flush_deadline_ = net::clock::now() + flush_limit;
  arm_timer();
  write_next();
}

net::awaitable<received> message_channel::receive(net::clock::time_point deadline) {
  ensure_pull();
  for (;;) {
    if (!pull_->inbox.empty()) {
      auto message = std::move(pull_->inbox.front());
      pull_->inbox.pop_front();
      if (dispatch_buffered()) read_when_ready();  // reading may have paused on a full inbox
      co_return received{std::move(message), false};
    }
    if (!is_open()) co_return received{};
    if (net::clock::now() >= deadline) co_return received{std::nullopt, true};
    co_await pull_->ready.wait(deadline);
  }
}

void message_channel::pause_reading(net::clock::duration pause) {
  if (!is_open()) return;
  paused_until_ = net::clock::now() + pause;
  arm_timer();
}

void message_channel::close(close_reason reason, std::string detail) {
  if (!is_open()) return;
  reason_ = reason;
  if (!detail.empty() || detail_.empty()) detail_ = std::move(detail);
  std::error_code ignored;
  socket_.shutdown(net::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  timer_.cancel();
  if (pull_) {
    pull_->ready.notify();
    pull_->closed.notify();
  }
  // Never from inside the caller's own call: the owner's clean-up may drop its last reference.
  asio::post(socket_.get_executor(), [self = shared_from_this(), closed = std::move(on_closed_)] {
    if (!self->pull_) self->on_message_ = nullptr;  // it may hold the owner, which holds us
    if (closed) closed();
  });
}

void message_channel::close_with_notice(const nlohmann::json& message, close_reason reason, std::string detail) {
  if (!is_open()) return;
  if (!writing_) write_frame_now(socket_, message);  // never into the middle of a frame
  close(reason, std::move(detail));
}

void message_channel::arm_timer() {
  if (!is_open()) return;
  auto next = std::min({next_ping_, last_received_ + options_.silence_timeout, flush_deadline_});
  if (paused_until_ != net::clock::time_point{}) next = std::min(next, paused_until_);
  timer_.expires_at(next);  // cancels the wait pending, whose handler then does nothing
  timer_.async_wait([self = shared_from_this()](std::error_code ec) { self->on_timer(ec); });
}

void message_channel::on_timer(std::error_code ec) {
  if (ec == asio::error::operation_aborted || !is_open()) return;
  const auto now = net::clock::now();
  if (now >= flush_deadline_) {
    close(close_after_flush_.value_or(close_reason::closed_locally), detail_);
    return;
  }
  if (now >= last_received_ + options_.silence_timeout) {
    close(close_reason::silent,
          "nothing received for " + std::to_string(options_.silence_timeout.count() / 1000) + " s");
    return;
  }
  if (now >= next_ping_) {
    const bool heard_lately = now - last_received_ < options_.heartbeat_interval;
    if (options_.rtt_interval.count() == 0 || !heard_lately || now >= next_rtt_ping_) {
      send({{"type", "ping"}, {"t", net::now_ms()}});
      next_rtt_ping_ = now + options_.rtt_interval;
    }
    next_ping_ = now + options_.heartbeat_interval;
  }
  if (paused_until_ != net::clock::time_point{} && now >= paused_until_) {
    paused_until_ = {};
    if (dispatch_buffered()) read_when_ready();
  }
  arm_timer();
}

}  // namespace wire
