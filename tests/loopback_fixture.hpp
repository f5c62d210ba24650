// A real rendezvous server on loopback plus helpers to run real peers against it.
#pragma once
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/support/child_process.hpp"
#include "tests/support/files.hpp"

namespace test {

class loopback_test : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  /// Starts the server with extra flags; waits until it listens.
  void start_server(const std::vector<std::string>& extra = {});
  /// Starts `peer` with the server address prepended; io files are named after `name` in dir_.
  std::unique_ptr<child_process> start_peer(const std::string& name, std::vector<std::string> args,
                                            const std::string& stdin_file = "");
  /// Runs `peer` to completion (with a limit) and returns its exit code.
  int run_peer(const std::string& name, std::vector<std::string> args, std::chrono::seconds limit = std::chrono::seconds(20));
  std::string out(const std::string& name) const { return read_file(path(name + ".out")); }
  std::string err(const std::string& name) const { return read_file(path(name + ".err")); }
  std::string path(const std::string& file) const { return dir_ + "/" + file; }
  /// Alice (with `connect_args`) sends a question and ends her stdin; she must stay up until Bob,
  /// who keeps his direction open, answers. Asserts the answer arrives and both exit 0.
  void expect_half_close_keeps_other_direction(const std::vector<std::string>& connect_args);
  /// Waits until the peer's stderr shows `needle`.
  bool peer_says(const std::string& name, const std::string& needle, std::chrono::seconds limit = std::chrono::seconds(10));

  /// The server's address ("::1" for the IPv6 tests), and it as a --server HOST:PORT prefix.
  std::string host_ = "127.0.0.1";
  std::string host_text() const { return host_.find(':') == std::string::npos ? host_ : "[" + host_ + "]"; }
  /// The server's --listen, when not host_ on a free port (several addresses, say).
  std::string listen_;
  std::string dir_;
  std::uint16_t port_ = 0;        ///< the main port
  std::uint16_t hole_port_ = 0;
  std::uint16_t relay_port_ = 0;
  std::uint16_t probe_port_ = 0;  ///< the first of the two
  std::unique_ptr<child_process> server_;
};

}  // namespace test
