// A growable byte buffer whose new bytes are not zero-filled: the session's send buffer, which
// the sealer overwrites at once (a std::vector would memset every byte first).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

namespace session {

class byte_buffer {
 public:
  std::uint8_t* data() { return bytes_.get(); }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// Grows by `n` bytes, left uninitialised; returns where they start.
  std::uint8_t* extend(std::size_t n) {
    if (size_ + n > capacity_) {
      const std::size_t capacity = std::max({capacity_ * 2, size_ + n, std::size_t{64 * 1024}});
      auto bigger = std::make_unique_for_overwrite<std::uint8_t[]>(capacity);
      if (size_ > 0) std::memcpy(bigger.get(), bytes_.get(), size_);
      bytes_ = std::move(bigger);
      capacity_ = capacity;
    }
    std::uint8_t* start = bytes_.get() + size_;
    size_ += n;
    return start;
  }
  /// Empties the buffer and keeps its memory.
  void clear() { size_ = 0; }
  /// Empties the buffer and gives its memory back.
  void release() {
    bytes_.reset();
    size_ = capacity_ = 0;
  }
  void swap(byte_buffer& other) noexcept {
    std::swap(bytes_, other.bytes_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
  }

 private:
  std::unique_ptr<std::uint8_t[]> bytes_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace session
