// spdlog set-up shared by both programs: human lines, or JSON event lines on stderr.
#pragma once
#include <string>

namespace logging {

/// Sends logs to stderr at `level` (trace, debug, info, warn, error, off); throws on an unknown level.
/// With `json_lines`, each log line is {"event":"log","level":...,"message":...}.
void init(const std::string& program, const std::string& level, bool json_lines);

}  // namespace logging
