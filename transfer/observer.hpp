// What a transfer tells whoever shows progress: files starting, bytes moving, files done.
#pragma once
#include <cstdint>
#include <string>

namespace transfer {

/// One file that arrived whole and verified.
struct file_report {
  std::string file;    ///< the path the sender gave
  std::string stored;  ///< where the receiver stored it (relative to its inbox); may differ from `file`
  std::uint64_t bytes = 0;         ///< the file's size
  std::uint64_t resumed_from = 0;  ///< bytes the receiver already held and kept
  std::uint64_t sent = 0;          ///< bytes that crossed the network for this file
  std::string hash;                ///< SHA-256 of the whole file, hex
  long long elapsed_ms = 0;
};

class observer {
 public:
  virtual ~observer() = default;
  /// `resumed_from` bytes of `size` are already at the receiver.
  virtual void file_started(const std::string& file, std::uint64_t size, std::uint64_t resumed_from) = 0;
  virtual void bytes_moved(std::uint64_t n) = 0;
  virtual void file_done(const file_report& report) = 0;
};

}  // namespace transfer
