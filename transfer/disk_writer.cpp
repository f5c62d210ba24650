#include "transfer/disk_writer.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <asio/post.hpp>

#include "transfer/transfer_error.hpp"

namespace transfer {

disk_writer::disk_writer(const asio::any_io_executor& ex, int fd, std::string rel, std::uint64_t size,
                         std::uint64_t already_written)
    : ex_(ex),
      fd_(fd),
      rel_(std::move(rel)),
      size_(size),
      progressed_(std::make_shared<net::async_event>(ex)),
      written_(already_written),
      thread_([this] { run(); }) {}

disk_writer::~disk_writer() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
    queue_.clear();  // abandoned (the transfer failed): what was written stays for a resume
  }
  wake_writer_.notify_one();
  thread_.join();
}

std::string disk_writer::hash_held() {
  std::vector<std::uint8_t> buffer(256 * 1024);
  for (std::uint64_t offset = 0; offset < written_;) {
    const auto want = std::min<std::uint64_t>(buffer.size(), written_ - offset);
    const auto n = ::pread(fd_, buffer.data(), want, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return "cannot read back the partial file of '" + rel_ + "'";
    hash_.update(std::span(buffer).first(static_cast<std::size_t>(n)));
    offset += static_cast<std::uint64_t>(n);
  }
  return "";
}

void disk_writer::run() {
  auto held_error = hash_held();  // (busy_ holds finish() off meanwhile; written_ is ours alone)
  std::unique_lock lock(mutex_);
  error_ = std::move(held_error);
  busy_ = false;
  asio::post(ex_, [event = progressed_] { event->notify_all(); });
  for (;;) {
    wake_writer_.wait(lock, [this] { return !queue_.empty() || closing_; });
    if (queue_.empty()) break;
    auto chunk = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    const bool failed = !error_.empty();
    lock.unlock();
    std::string error;
    if (!failed) {
      std::span<const std::uint8_t> rest(chunk);
      while (!rest.empty()) {
        const auto n = ::write(fd_, rest.data(), rest.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          const auto why = errno == ENOSPC ? std::string("the receiving disk is full") : std::strerror(errno);
          error = "cannot write '" + rel_ + "': " + why + " after " + std::to_string(written_) + " of " +
                  std::to_string(size_) + " bytes (the part received is kept; sending again resumes)";
          break;
        }
        written_ += static_cast<std::uint64_t>(n);
        rest = rest.subspan(static_cast<std::size_t>(n));
      }
      if (error.empty()) hash_.update(chunk);
    }
    lock.lock();
    busy_ = false;
    queued_bytes_ -= chunk.size();
    if (!error.empty() && error_.empty()) error_ = error;
    // Wake the session's side on its own thread; the event outlives us if it must.
    asio::post(ex_, [event = progressed_] { event->notify_all(); });
  }
}

void disk_writer::throw_if_failed_locked() {
  if (!error_.empty()) throw transfer_error(error_);
}

net::awaitable<void> disk_writer::write(std::span<const std::uint8_t> data) {
  std::vector<std::uint8_t> chunk(data.begin(), data.end());
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      throw_if_failed_locked();
      if (queued_bytes_ < queue_limit) {
        queued_bytes_ += chunk.size();
        queue_.push_back(std::move(chunk));
        break;
      }
    }
    // (Notifications are posted to this thread, so none can come between the check and the wait.)
    co_await progressed_->wait();
  }
  wake_writer_.notify_one();
}

net::awaitable<std::string> disk_writer::finish() {
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      throw_if_failed_locked();
      if (queue_.empty() && !busy_) {
        co_return hash_.hex_digest();
      }
    }
    co_await progressed_->wait();
  }
}

}  // namespace transfer
