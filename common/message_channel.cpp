#include "common/message_channel.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/write.hpp>
#include <spdlog/spdlog.h>

namespace wire {

using namespace asio::experimental::awaitable_operators;

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

message_channel::message_channel(net::tcp::socket socket, channel_options options)
    : socket_(std::move(socket)),
      options_(options),
      outbox_ready_(socket_.get_executor()),
      inbox_ready_(socket_.get_executor()),
      inbox_space_(socket_.get_executor()),
      flushed_or_closed_(socket_.get_executor()),
      last_received_(net::clock::now()) {
  std::error_code ec;
  remote_ = socket_.remote_endpoint(ec);
}

net::awaitable<void> message_channel::run() {
  auto self = shared_from_this();
  co_await (read_loop() || write_loop() || heartbeat_loop());
  close(close_reason::closed_locally);
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
  outbox_ready_.notify();
}

void message_channel::send_and_close(const nlohmann::json& message, close_reason reason, std::string detail) {
  send(message);
  if (!is_open() || close_after_flush_) return;
  close_after_flush_ = reason;
  detail_ = std::move(detail);
  outbox_ready_.notify();
}

net::awaitable<received> message_channel::receive(net::clock::time_point deadline) {
  for (;;) {
    if (!inbox_.empty()) {
      auto message = std::move(inbox_.front());
      inbox_.pop_front();
      inbox_space_.notify();
      co_return received{std::move(message), false};
    }
    if (!is_open()) co_return received{};
    if (net::clock::now() >= deadline) co_return received{std::nullopt, true};
    co_await inbox_ready_.wait(deadline);
  }
}

void message_channel::close(close_reason reason, std::string detail) {
  if (!is_open()) return;
  reason_ = reason;
  if (!detail.empty() || detail_.empty()) detail_ = std::move(detail);
  std::error_code ignored;
  socket_.shutdown(net::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  outbox_ready_.notify();
  inbox_ready_.notify();
  inbox_space_.notify();
  flushed_or_closed_.notify();
}

void message_channel::close_with_notice(const nlohmann::json& message, close_reason reason, std::string detail) {
  if (!is_open()) return;
  if (!writing_) {
    std::error_code ec;
    socket_.non_blocking(true, ec);
    if (!ec) socket_.write_some(asio::buffer(encode(message)), ec);
  }
  close(reason, std::move(detail));
}

net::awaitable<void> message_channel::read_loop() {
  while (is_open() && !close_after_flush_) {
    while (inbox_.size() >= options_.max_inbox_messages && is_open()) co_await inbox_space_.wait();
    auto result = co_await reader_.read(socket_);
    if (!result.protocol_error.empty()) {
      // Tell the other side why, best effort, then drop the stream: it can never resynchronise.
      send_and_close({{"type", "error"}, {"code", "malformed_frame"}, {"message", result.protocol_error}},
                     close_reason::malformed_frame, result.protocol_error);
      break;
    }
    if (result.error) {
      if (result.error == asio::error::eof) close(close_reason::peer_closed);
      else if (result.error != asio::error::operation_aborted) close(close_reason::read_failed, result.error.message());
      break;
    }
    last_received_ = net::clock::now();
    auto& message = *result.message;
    const auto& type = message["type"].get_ref<const std::string&>();
    // Heartbeat stamps are opaque integers we echo or compare; anything else is ignored.
    const auto stamp_field = message.find("t");
    const long long stamp = stamp_field != message.end() && stamp_field->is_number_integer() ? stamp_field->get<long long>() : 0;
    if (type == "ping") {
      send({{"type", "pong"}, {"t", stamp}});
    } else if (type == "pong") {
      const long long age = net::now_ms() - stamp;
      if (stamp > 0 && age >= 0 && age < 120'000) rtt_ = std::chrono::milliseconds(age);
    } else {
      inbox_.push_back(std::move(message));
      inbox_ready_.notify();
    }
  }
  // Returning would cancel the writer; wait until it has flushed a final message and closed.
  if (is_open()) co_await flushed_or_closed_.wait(net::clock::now() + std::chrono::seconds(2));
  close(close_reason::closed_locally);
}

net::awaitable<void> message_channel::write_loop() {
  while (is_open()) {
    if (outbox_.empty()) {
      if (close_after_flush_) {
        close(*close_after_flush_, detail_);
        co_return;
      }
      co_await outbox_ready_.wait();
      continue;
    }
    auto bytes = std::move(outbox_.front());
    outbox_.pop_front();
    writing_ = true;
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(bytes), net::use_nothrow);
    writing_ = false;
    outbox_bytes_ -= bytes.size();
    if (ec) {
      close(close_reason::write_failed, ec.message());
      co_return;
    }
  }
}

net::awaitable<void> message_channel::heartbeat_loop() {
  asio::steady_timer timer(socket_.get_executor());
  auto next_ping = net::clock::now() + options_.heartbeat_interval;
  while (is_open()) {
    const auto silence_deadline = last_received_ + options_.silence_timeout;
    timer.expires_at(std::min(next_ping, silence_deadline));
    co_await timer.async_wait(net::use_nothrow);
    const auto now = net::clock::now();
    if (now >= last_received_ + options_.silence_timeout) {
      close(close_reason::silent,
            "nothing received for " + std::to_string(options_.silence_timeout.count() / 1000) + " s");
      co_return;
    }
    if (now >= next_ping) {
      send({{"type", "ping"}, {"t", net::now_ms()}});
      next_ping = now + options_.heartbeat_interval;
    }
  }
}

}  // namespace wire
