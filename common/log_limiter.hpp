// Rate-limited logging for lines an attacker (or a crowd) can make us write: the first line of a
// cause in each interval is logged; the rest are counted and summarized in one line
// ("... 1,234 more like this in the last 10 s") when the interval ends. Causes are fixed strings
// chosen by the code (never client text), so the table stays small.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace logging {

/// Per-cause line budget: one line per cause per interval, then a count.
class log_limiter {
 public:
  explicit log_limiter(std::chrono::seconds interval = std::chrono::seconds(10)) : interval_(interval) {}

  /// Logs `line` at `level` unless `cause` already logged in this interval (then it is counted).
  void log(spdlog::level::level_enum level, std::string_view cause, const std::string& line);
  /// Writes the summary line of every cause whose interval has ended with lines held back.
  /// Call it periodically (the server's housekeeping does, once a second).
  void flush(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
  /// Lines held back so far, over all causes (for tests and the stats line).
  std::uint64_t suppressed_total() const { return suppressed_total_; }

 private:
  struct cause_state {
    std::chrono::steady_clock::time_point window_start;
    spdlog::level::level_enum level = spdlog::level::warn;
    std::uint64_t held_back = 0;
  };
  std::chrono::seconds interval_;
  std::map<std::string, cause_state, std::less<>> causes_;
  std::uint64_t suppressed_total_ = 0;
};

}  // namespace logging
