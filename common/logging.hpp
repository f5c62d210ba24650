// spdlog set-up shared by both programs: human lines, or JSON event lines on stderr.
#pragma once
#include <string>

namespace logging {

/// Sends logs to stderr at `level` (trace, debug, info, warn, error, off); throws on an unknown level.
/// With `json_lines`, each log line is {"event":"log","level":...,"message":...}.
void init(const std::string& program, const std::string& level, bool json_lines);

/// Throws std::runtime_error if `level` is not one of those.
void check_level(const std::string& level);

/// Changes the level of the logger init() set up (a running server's reload); throws as init does.
void set_level(const std::string& level);

}  // namespace logging
