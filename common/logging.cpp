#include "common/logging.hpp"

#include <mutex>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace logging {
namespace {

/// Writes each log record as one JSON object line, so --json output stays machine-readable.
class json_stderr_sink : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    nlohmann::json line{{"event", "log"},
                        {"level", std::string(spdlog::level::to_string_view(msg.level).data(),
                                              spdlog::level::to_string_view(msg.level).size())},
                        {"message", std::string(msg.payload.data(), msg.payload.size())}};
    std::fputs((line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n").c_str(), stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

spdlog::level::level_enum level_of(const std::string& level) {
  const auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    throw std::runtime_error("unknown log level \"" + level + "\" (trace, debug, info, warn, error, off)");
  }
  return parsed;
}

}  // namespace

void check_level(const std::string& level) { level_of(level); }

void set_level(const std::string& level) { spdlog::default_logger()->set_level(level_of(level)); }

void init(const std::string& program, const std::string& level, bool json_lines) {
  const auto parsed = level_of(level);
  std::shared_ptr<spdlog::logger> logger;
  if (json_lines) {
    logger = std::make_shared<spdlog::logger>(program, std::make_shared<json_stderr_sink>());
  } else {
    logger = spdlog::stderr_color_mt(program);
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %n: %v");
  }
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

}  // namespace logging
