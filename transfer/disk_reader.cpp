#include "transfer/disk_reader.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <asio/post.hpp>

#include "transfer/transfer_error.hpp"

namespace transfer {

disk_reader::disk_reader(const asio::any_io_executor& ex, int fd, std::string rel, std::uint64_t from, std::uint64_t size)
    : ex_(ex),
      fd_(fd),
      rel_(std::move(rel)),
      from_(from),
      size_(size),
      progressed_(std::make_shared<net::async_event>(ex)),
      thread_([this] { run(); }) {}

disk_reader::~disk_reader() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  room_.notify_one();
  thread_.join();
}

void disk_reader::run() {
  crypto::content_hash hash;
  std::string error;
  for (std::uint64_t offset = 0; offset < size_;) {
    std::vector<std::uint8_t> chunk(std::min<std::uint64_t>(chunk_size, size_ - offset));
    const auto n = ::pread(fd_, chunk.data(), chunk.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n == 0 ? "'" + rel_ + "' shrank while it was being sent" : "cannot read '" + rel_ + "': " + std::strerror(errno);
      break;
    }
    chunk.resize(static_cast<std::size_t>(n));
    hash.update(chunk);
    const auto chunk_start = offset;
    offset += static_cast<std::uint64_t>(n);
    if (offset <= from_) continue;  // the receiver holds it: hashed only
    if (chunk_start < from_) chunk.erase(chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(from_ - chunk_start));
    std::unique_lock lock(mutex_);
    room_.wait(lock, [this] { return queued_bytes_ < queue_limit || closing_; });
    if (closing_) return;
    queued_bytes_ += chunk.size();
    queue_.push_back(std::move(chunk));
    lock.unlock();
    asio::post(ex_, [event = progressed_] { event->notify_all(); });
  }
  std::lock_guard lock(mutex_);
  if (error.empty()) digest_ = hash.hex_digest();
  error_ = error;
  finished_ = true;
  asio::post(ex_, [event = progressed_] { event->notify_all(); });
}

net::awaitable<std::vector<std::uint8_t>> disk_reader::next() {
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (!queue_.empty()) {
        auto chunk = std::move(queue_.front());
        queue_.pop_front();
        queued_bytes_ -= chunk.size();
        room_.notify_one();
        co_return chunk;
      }
      if (!error_.empty()) throw transfer_error(error_);
      if (finished_) co_return std::vector<std::uint8_t>{};
    }
    // (Notifications are posted to this thread, so none can come between the check and the wait.)
    co_await progressed_->wait();
  }
}

}  // namespace transfer
