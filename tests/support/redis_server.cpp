#include "tests/support/redis_server.hpp"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "tests/support/web.hpp"

namespace test {

std::string redis_server_binary() {
  for (const char* candidate : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"}) {
    if (std::filesystem::exists(candidate)) return candidate;
  }
  return {};
}

redis_server::redis_server(std::filesystem::path dir, std::string password)
    : dir_(std::move(dir)), password_(std::move(password)), port_(free_port()) {
  std::filesystem::create_directories(dir_);
  start();
}

redis_server::~redis_server() { stop(); }

std::string redis_server::url() const {
  return "redis://" + (password_.empty() ? "" : ":" + password_ + "@") + "127.0.0.1:" + std::to_string(port_);
}

void redis_server::start() {
  const auto binary = redis_server_binary();
  if (binary.empty()) throw std::runtime_error("redis-server is not installed (scripts/install-deps.sh installs it)");
  std::vector<std::string> argv{binary, "--port", std::to_string(port_), "--bind", "127.0.0.1", "--dir", dir_.string(),
                                "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
                                "--protected-mode", "no", "--logfile", (dir_ / "redis.log").string()};
  if (!password_.empty()) {
    argv.push_back("--requirepass");
    argv.push_back(password_);
  }
  process_ = std::make_unique<child_process>(
      argv, child_io{"/dev/null", (dir_ / "redis.out").string(), (dir_ / "redis.err").string()});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    const int fd = connect_loopback(port_, 1);
    if (fd >= 0) {
      ::close(fd);
      return;
    }
    if (!process_->running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("redis-server did not listen on port " + std::to_string(port_) + " (see " +
                           (dir_ / "redis.log").string() + ")");
}

void redis_server::stop() {
  if (!process_) return;
  if (process_->running()) {
    process_->signal(SIGTERM);
    process_->wait_for(std::chrono::seconds(10));
  }
  process_.reset();
}

void redis_server::kill() {
  if (!process_) return;
  process_->signal(SIGKILL);
  process_->wait_for(std::chrono::seconds(5));
  process_.reset();
}

}  // namespace test
