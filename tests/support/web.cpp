#include "tests/support/web.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace test {

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t size = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  ::close(fd);
  return ntohs(address.sin_port);
}

int connect_loopback(std::uint16_t port, int receive_timeout_s, const std::string& host) {
  const bool v6 = host.find(':') != std::string::npos;
  const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  timeval limit{receive_timeout_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  int connected = -1;
  if (v6) {
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_port = htons(port);
    ::inet_pton(AF_INET6, host.c_str(), &address.sin6_addr);
    connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  } else {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &address.sin_addr);
    connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  }
  if (connected == 0) return fd;
  ::close(fd);
  return -1;
}

std::string http_get(std::uint16_t port, const std::string& path, const std::string& host) {
  const int fd = connect_loopback(port, 10, host);
  std::string response;
  if (fd >= 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: test\r\n\r\n";
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    char chunk[16384];
    ssize_t n;
    while ((n = ::recv(fd, chunk, sizeof chunk, 0)) > 0) response.append(chunk, static_cast<std::size_t>(n));
    ::close(fd);
  }
  return response;
}

std::unique_ptr<child_process> start_web(const std::string& dir, const std::map<std::string, std::string>& files,
                                         std::uint16_t& port) {
  std::filesystem::create_directories(dir);
  for (const auto& [name, content] : files) std::ofstream(dir + "/" + name) << content;
  port = free_port();
  // Python's http.server, with a listen backlog of 128 instead of socketserver's 5: 50 connects
  // at once on a busy machine otherwise lose SYNs and wait out the kernel's retransmits (1, 3,
  // 7, 15 s), past a client's 10 s limit.
  const char* server =
      "import functools, http.server, sys\n"
      "class Server(http.server.ThreadingHTTPServer):\n"
      "    request_queue_size = 128\n"
      "handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[2])\n"
      "Server(('127.0.0.1', int(sys.argv[1])), handler).serve_forever()\n";
  auto web = std::make_unique<child_process>(
      std::vector<std::string>{"/usr/bin/python3", "-c", server, std::to_string(port), dir},
      child_io{"/dev/null", dir + ".out", dir + ".err"});
  for (int i = 0; i < 100 && http_get(port, "/").empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return web;
}

}  // namespace test
