// Runs one of our real binaries as a child process with files or a pipe for its standard streams.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace test {

/// Where the child's standard streams go.
struct child_io {
  std::string stdin_file;   ///< read stdin from this file; empty: a pipe we write (see write_stdin)
  std::string stdout_file;  ///< required
  std::string stderr_file;  ///< required
};

/// A running child; killed (SIGKILL) on destruction if still running.
class child_process {
 public:
  child_process(const std::vector<std::string>& argv, const child_io& io);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Writes to the stdin pipe (only when no stdin_file was given).
  void write_stdin(const std::string& data);
  void close_stdin();
  /// Exit code once exited (128+signal if killed); nothing if still running at the deadline.
  std::optional<int> wait_for(std::chrono::milliseconds limit);
  bool running();
  void signal(int sig);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdin_pipe_ = -1;
  std::optional<int> status_;
};

/// Path of one of our built binaries ("peer", "rendezvous").
std::string binary(const std::string& name);

}  // namespace test
