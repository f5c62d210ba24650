// Writes a received file and hashes it on a thread of its own, so the session's thread keeps
// receiving and decrypting while the disk works (the two overlap instead of taking turns). The
// bytes the file already holds (a resume) are read back and hashed there first.
// At most `queue_limit` bytes wait in memory; write() waits for room beyond that.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/async_event.hpp"
#include "common/content_hash.hpp"

namespace transfer {

class disk_writer {
 public:
  /// Appends to `fd`, which is positioned after the `already_written` bytes it holds.
  disk_writer(const asio::any_io_executor& ex, int fd, std::string rel, std::uint64_t size, std::uint64_t already_written);
  ~disk_writer();
  disk_writer(const disk_writer&) = delete;
  disk_writer& operator=(const disk_writer&) = delete;

  /// Queues a copy of `data`; waits while the queue is full. Throws transfer_error once a write failed.
  net::awaitable<void> write(std::span<const std::uint8_t> data);
  /// Waits until everything is written; returns the hex hash of the whole file. Throws
  /// transfer_error if a write (or reading back the held part) failed.
  net::awaitable<std::string> finish();

 private:
  void run();
  /// Hashes the bytes the file held before us; returns why it could not, empty on success.
  std::string hash_held();
  /// The error of a failed write, or nothing; must hold mutex_.
  void throw_if_failed_locked();

  static constexpr std::size_t queue_limit = 8 * 1024 * 1024;

  asio::any_io_executor ex_;
  int fd_;
  std::string rel_;
  std::uint64_t size_;
  std::shared_ptr<net::async_event> progressed_;  ///< the writer thread freed room or finished

  std::mutex mutex_;
  std::condition_variable wake_writer_;
  std::deque<std::vector<std::uint8_t>> queue_;
  std::size_t queued_bytes_ = 0;
  bool busy_ = true;      ///< the thread is at work: reading back the held part, or writing a chunk
  bool closing_ = false;  ///< no more chunks come; the thread ends when the queue is empty
  std::string error_;
  std::uint64_t written_;
  crypto::content_hash hash_;
  std::thread thread_;
};

}  // namespace transfer
