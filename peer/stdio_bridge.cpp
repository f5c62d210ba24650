#include "peer/stdio_bridge.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <future>
#include <thread>

namespace peer {
namespace {

constexpr std::size_t chunk_size = 128 * 1024;

/// Writes all of `data`; returns false with errno set on failure.
bool write_all(int fd, const std::uint8_t* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

/// Detect a peer that vanished without a FIN or RST within about a minute.
void enable_keepalive(int fd) {
  int on = 1, idle = 30, interval = 10, count = 3;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

/// stdin -> socket, then half-close. Returns an error text, empty on a clean end.
std::string pump_up(int socket_fd, std::atomic<std::uint64_t>& sent) {
  std::vector<std::uint8_t> buffer(chunk_size);
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::string("reading stdin: ") + std::strerror(errno);
    if (n == 0) break;
    if (!write_all(socket_fd, buffer.data(), static_cast<std::size_t>(n))) {
      return std::string("sending: ") + std::strerror(errno);
    }
    sent += static_cast<std::uint64_t>(n);
  }
  ::shutdown(socket_fd, SHUT_WR);
  return {};
}

/// socket -> stdout until EOF. Returns an error text, empty on a clean end.
std::string pump_down(int socket_fd, std::vector<std::uint8_t> first, std::uint64_t& received) {
  if (!first.empty()) {
    if (!write_all(STDOUT_FILENO, first.data(), first.size())) return std::string("writing stdout: ") + std::strerror(errno);
    received += first.size();
  }
  std::vector<std::uint8_t> buffer(chunk_size);
  for (;;) {
    const ssize_t n = ::read(socket_fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::string("receiving: ") + std::strerror(errno);
    if (n == 0) break;
    if (!write_all(STDOUT_FILENO, buffer.data(), static_cast<std::size_t>(n))) {
      return std::string("writing stdout: ") + std::strerror(errno);
    }
    received += static_cast<std::uint64_t>(n);
  }
  ::close(STDOUT_FILENO);  // let whoever reads our stdout see the end
  return {};
}

}  // namespace

bridge_result bridge_stdio(int socket_fd, std::vector<std::uint8_t> already_received) {
  const int flags = ::fcntl(socket_fd, F_GETFL);
  ::fcntl(socket_fd, F_SETFL, flags & ~O_NONBLOCK);
  enable_keepalive(socket_fd);

  bridge_result result;
  auto up = std::make_shared<std::promise<std::string>>();
  auto up_done = up->get_future();
  auto sent = std::make_shared<std::atomic<std::uint64_t>>(0);
  // The stdin reader may block forever (a terminal nobody types into); it is detached so a broken
  // connection can end the program without waiting for input that will never matter.
  std::thread([up, sent, socket_fd] { up->set_value(pump_up(socket_fd, *sent)); }).detach();

  result.error = pump_down(socket_fd, std::move(already_received), result.received);
  if (result.error.empty()) {
    // The other side has finished sending; we are done once our stdin has ended too.
    result.error = up_done.get();
  } else if (up_done.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    up_done.get();
  }
  result.sent = sent->load();
  ::shutdown(socket_fd, SHUT_RDWR);
  if (result.error.empty()) ::close(socket_fd);  // on error the detached reader may still use it
  return result;
}

}  // namespace peer
