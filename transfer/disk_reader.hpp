// Reads a file being sent and hashes it on a thread of its own, ahead of the session's thread,
// so reading and hashing overlap with sealing and sending. The bytes before `from` (what the
// receiver already holds) are hashed only; the rest are handed over in order. At most
// `queue_limit` bytes wait in memory.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/async_event.hpp"
#include "common/content_hash.hpp"

namespace transfer {

class disk_reader {
 public:
  /// Reads `size` bytes of `fd` (which must stay open while this lives) named `rel`.
  disk_reader(const asio::any_io_executor& ex, int fd, std::string rel, std::uint64_t from, std::uint64_t size);
  ~disk_reader();
  disk_reader(const disk_reader&) = delete;
  disk_reader& operator=(const disk_reader&) = delete;

  /// The next chunk after `from`, in order; empty once all `size - from` bytes were handed
  /// over. Throws transfer_error when the file cannot be read or shrank.
  net::awaitable<std::vector<std::uint8_t>> next();
  /// The hex hash of the whole file; valid once next() returned empty.
  std::string hex_digest() { return digest_; }

 private:
  void run();

  static constexpr std::size_t chunk_size = 256 * 1024;
  static constexpr std::size_t queue_limit = 8 * 1024 * 1024;

  asio::any_io_executor ex_;
  int fd_;
  std::string rel_;
  std::uint64_t from_;
  std::uint64_t size_;
  std::shared_ptr<net::async_event> progressed_;  ///< a chunk, the end or an error is ready

  std::mutex mutex_;
  std::condition_variable room_;  ///< the session's side took a chunk (or we are closing)
  std::deque<std::vector<std::uint8_t>> queue_;
  std::size_t queued_bytes_ = 0;
  bool finished_ = false;  ///< every chunk is queued and the digest is set
  bool closing_ = false;
  std::string error_;
  std::string digest_;
  std::thread thread_;
};

}  // namespace transfer
