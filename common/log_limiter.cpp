#include "common/log_limiter.hpp"

namespace logging {

void log_limiter::log(spdlog::level::level_enum level, std::string_view cause, const std::string& line) {
  if (!spdlog::should_log(level)) return;
  const auto now = std::chrono::steady_clock::now();
  auto it = causes_.find(cause);
  if (it == causes_.end()) it = causes_.emplace(std::string(cause), cause_state{}).first;
  auto& state = it->second;
  if (state.window_start.time_since_epoch().count() != 0 && now - state.window_start < interval_) {
    ++state.held_back;
    ++suppressed_total_;
    return;
  }
  if (state.held_back > 0) flush(now);
  state.window_start = now;
  state.level = level;
  spdlog::log(level, "{}", line);
}

void log_limiter::flush(std::chrono::steady_clock::time_point now) {
  for (auto& [cause, state] : causes_) {
    if (state.held_back == 0 || now - state.window_start < interval_) continue;
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - state.window_start).count();
    spdlog::log(state.level, "{}: {} more like this in the last {} s", cause, state.held_back, seconds);
    state.held_back = 0;
    state.window_start = now;  // the summary opens the next interval
  }
}

}  // namespace logging
