// A real HTTP server and client for loopback tests (python's http.server; plain sockets).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "tests/support/child_process.hpp"

namespace test {

/// A loopback port nobody listens on right now.
std::uint16_t free_port();
/// A blocking TCP client of host:port (a loopback address of either family) whose reads give up
/// after the timeout, or -1.
int connect_loopback(std::uint16_t port, int receive_timeout_s, const std::string& host = "127.0.0.1");
/// A plain HTTP/1.0 GET to host:port; returns the whole response ("" if none).
std::string http_get(std::uint16_t port, const std::string& path, const std::string& host = "127.0.0.1");
/// Starts python's http.server on a free port (set in `port`) serving `files` (name -> content)
/// from `dir`; returns once it answers.
std::unique_ptr<child_process> start_web(const std::string& dir, const std::map<std::string, std::string>& files,
                                         std::uint16_t& port);

}  // namespace test
