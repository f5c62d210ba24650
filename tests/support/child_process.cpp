#include "tests/support/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <thread>

namespace test {

std::string binary(const std::string& name) {
  std::string path = HP_BIN_DIR;
  path.append("/").append(name);
  return path;
}

child_process::child_process(const std::vector<std::string>& argv, const child_io& io) {
  int pipe_fds[2] = {-1, -1};
  if (io.stdin_file.empty() && ::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    const int in = io.stdin_file.empty() ? pipe_fds[0] : ::open(io.stdin_file.c_str(), O_RDONLY);
    const int out = ::open(io.stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open(io.stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0) ::_exit(126);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  if (io.stdin_file.empty()) {
    ::close(pipe_fds[0]);
    stdin_pipe_ = pipe_fds[1];
  }
}

child_process::~child_process() {
  close_stdin();
  if (running()) {
    ::kill(pid_, SIGKILL);
    wait_for(std::chrono::seconds(5));
  }
}

void child_process::write_stdin(const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(stdin_pipe_, data.data() + done, data.size() - done);
    if (n <= 0) throw std::runtime_error("writing the child's stdin failed");
    done += static_cast<std::size_t>(n);
  }
}

void child_process::close_stdin() {
  if (stdin_pipe_ >= 0) ::close(stdin_pipe_);
  stdin_pipe_ = -1;
}

std::optional<int> child_process::wait_for(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!status_) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status_;
}

bool child_process::running() { return !wait_for(std::chrono::milliseconds(0)).has_value(); }

void child_process::signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

}  // namespace test
