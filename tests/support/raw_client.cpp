#include "tests/support/raw_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

#include "common/frame_codec.hpp"
#include "common/identity.hpp"

namespace test {

raw_client::raw_client(std::uint16_t port, const std::string& source) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error("raw_client: socket failed");
  sockaddr_in local{};
  local.sin_family = AF_INET;
  if (::inet_pton(AF_INET, source.c_str(), &local.sin_addr) != 1 ||
      ::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    ::close(fd_);
    throw std::runtime_error("raw_client: cannot bind " + source);
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd_);
    throw std::runtime_error("raw_client: connect failed");
  }
}

raw_client::~raw_client() { ::close(fd_); }

void raw_client::send_bytes(const std::string& bytes) {
  // MSG_NOSIGNAL: the server may already have closed on us, which is what some tests expect.
  ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
}

void raw_client::send_message(const nlohmann::json& message) {
  auto frame = wire::encode(message);
  send_bytes(std::string(frame.begin(), frame.end()));
}

std::optional<nlohmann::json> raw_client::read_message(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto bytes = std::span(reinterpret_cast<const std::uint8_t*>(buffer_.data()), buffer_.size());
    auto result = wire::decode(bytes);
    if (auto* frame = std::get_if<wire::decoded>(&result)) {
      buffer_.erase(0, frame->consumed);
      return frame->message;
    }
    if (std::holds_alternative<wire::decode_error>(result)) return std::nullopt;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return std::nullopt;
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

bool raw_client::closed_within(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return true;  // EOF or reset: closed
  }
}

bool raw_client::authenticate(std::chrono::milliseconds limit) {
  static const auto keys = identity::generate();
  auto hello = read_message(limit);
  if (!hello || hello->value("type", "") != "hello") return false;
  send_message(identity::server_auth_message(keys, hello->value("challenge", ""), ""));
  auto ok = read_message(limit);
  return ok && ok->value("type", "") == "auth_ok";
}

}  // namespace test
