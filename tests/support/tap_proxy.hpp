// A man in the middle for loopback tests: listens on 127.0.0.2 at the given ports and forwards
// each connection to 127.0.0.1 at the same port, recording what it carried and, if asked,
// flipping one bit of the client-to-server bytes. Runs on its own thread.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace test {

class tap_proxy {
 public:
  /// Starts forwarding `ports`. With `flip_after` > 0, the bit 0x01 of the client-to-server byte
  /// at that offset (counted over all connections) is flipped once.
  explicit tap_proxy(std::vector<std::uint16_t> ports, std::uint64_t flip_after = 0);
  ~tap_proxy();
  tap_proxy(const tap_proxy&) = delete;
  tap_proxy& operator=(const tap_proxy&) = delete;

  /// Everything carried on connections to `port`, both directions concatenated per chunk.
  std::string carried(std::uint16_t port) const;
  bool flipped() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace test
