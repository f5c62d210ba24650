#include "bench/bench_wire.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "common/frame_codec.hpp"
#include "common/identity.hpp"

namespace bench {
namespace {

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

}  // namespace

int connect_loopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto address = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno));
  }
  int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  return fd;
}

int listen_loopback(std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  auto address = loopback(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd, 1024) != 0) {
    throw std::runtime_error("listen on 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno));
  }
  socklen_t size = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  port = ntohs(address.sin_port);
  return fd;
}

void write_all(int fd, const void* data, std::size_t size) {
  auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

void read_exact(int fd, void* data, std::size_t size) {
  auto* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::recv(fd, p, size, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error(n == 0 ? "unexpected EOF" : std::string("recv: ") + std::strerror(errno));
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

void frame_conn::send(const nlohmann::json& message) {
  auto bytes = wire::encode(message);
  write_all(fd_, bytes.data(), bytes.size());
}

nlohmann::json frame_conn::receive() {
  for (;;) {
    auto result = wire::decode(std::span(reinterpret_cast<const std::uint8_t*>(buffer_.data()), buffer_.size()));
    if (auto* frame = std::get_if<wire::decoded>(&result)) {
      buffer_.erase(0, frame->consumed);
      const auto type = frame->message.value("type", "");
      if (type == "ping") send({{"type", "pong"}, {"t", frame->message.value("t", 0LL)}});
      if (type == "ping" || type == "pong") continue;
      return frame->message;
    }
    if (auto* error = std::get_if<wire::decode_error>(&result)) throw std::runtime_error(error->reason);
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) throw std::runtime_error("server closed the connection");
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

nlohmann::json frame_conn::receive_exact() {
  std::uint8_t header[4];
  read_exact(fd_, header, 4);
  const std::size_t length = (std::size_t{header[0]} << 24) | (std::size_t{header[1]} << 16) |
                             (std::size_t{header[2]} << 8) | header[3];
  if (length == 0 || length > wire::max_frame_body) throw std::runtime_error("bad frame from the relay");
  std::string body(length, '\0');
  read_exact(fd_, body.data(), length);
  return nlohmann::json::parse(body);
}

frame_conn open_session(std::uint16_t main_port, const std::string& id) {
  frame_conn conn(connect_loopback(main_port));
  const auto hello = conn.receive();
  if (hello.value("type", "") != "hello") throw std::runtime_error("no hello from the server: " + hello.dump());
  static const auto keys = identity::generate();
  conn.send(identity::server_auth_message(keys, hello.value("challenge", ""), ""));
  const auto auth = conn.receive();
  if (auth.value("type", "") != "auth_ok") throw std::runtime_error("server refused (does it need a token?): " + auth.dump());
  conn.send({{"type", "register"}, {"id", id}, {"req", 1}});
  const auto registered = conn.receive();
  if (registered.value("type", "") != "registered") throw std::runtime_error("cannot register " + id + ": " + registered.dump());
  return conn;
}

}  // namespace bench
