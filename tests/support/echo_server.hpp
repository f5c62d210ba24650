// A TCP echo service on loopback for tests that need many concurrent connections (Python's
// servers do not keep a thousand at once on two cores): its own thread and event loop.
#pragma once
#include <cstdint>
#include <memory>

namespace test {

class echo_server {
 public:
  echo_server();  ///< listens on a free loopback port at once
  ~echo_server();
  echo_server(const echo_server&) = delete;
  echo_server& operator=(const echo_server&) = delete;
  std::uint16_t port() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace test
