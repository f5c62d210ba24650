// co_spawn with a completion handler that logs an escaped exception instead of hiding it.
#pragma once
#include <exception>
#include <string>

#include <asio/co_spawn.hpp>
#include <spdlog/spdlog.h>

namespace net {

/// Completion handler for co_spawn: an exception that escapes a task is a bug; log it loudly.
inline auto log_escaped(std::string task) {
  return [task = std::move(task)](std::exception_ptr error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      spdlog::error("task '{}' failed: {}", task, e.what());
    }
  };
}

}  // namespace net
