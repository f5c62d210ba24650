#include "peer/transfer_progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace peer {
namespace {

constexpr auto json_interval = std::chrono::milliseconds(250);
constexpr auto tty_interval = std::chrono::milliseconds(200);

double seconds_since(net::clock::time_point since) {
  return std::chrono::duration<double>(net::clock::now() - since).count();
}

double megabits_per_second(std::uint64_t bytes, double seconds) {
  return seconds > 0 ? static_cast<double>(bytes) * 8 / 1e6 / seconds : 0;
}

double rounded(double value) { return static_cast<double>(static_cast<long long>(value * 100 + 0.5)) / 100; }

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit ? "%.1f %s" : "%.0f %s", bytes, units[unit]);
  return text;
}

std::string clock_text(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  char text[32];
  std::snprintf(text, sizeof text, "%lld:%02lld", s / 60, s % 60);
  return text;
}

}  // namespace

transfer_progress::transfer_progress(const event_sink& events, bool json, std::string peer, std::string path,
                                     std::string direction, std::uint64_t total_bytes, bool live_line)
    : events_(events),
      json_(json),
      tty_(live_line && !json && ::isatty(STDERR_FILENO) == 1),
      peer_(std::move(peer)),
      path_(std::move(path)),
      direction_(std::move(direction)),
      total_(total_bytes) {}

void transfer_progress::file_started(const std::string& file, std::uint64_t size, std::uint64_t resumed_from) {
  if (file == file_) held_ -= file_resumed_from_;  // the same file started over: its held part was not kept
  file_ = file;
  file_size_ = size;
  file_done_bytes_ = resumed_from;
  file_resumed_from_ = resumed_from;
  held_ += resumed_from;
  report_progress(true);
}

void transfer_progress::bytes_moved(std::uint64_t n) {
  file_done_bytes_ += n;
  moved_ += n;
  report_progress(false);
}

void transfer_progress::report_progress(bool force) {
  if (!json_ && !tty_) return;
  const auto now = net::clock::now();
  if (!force && now - last_shown_ < (json_ ? json_interval : tty_interval)) return;
  last_shown_ = now;
  const auto elapsed = seconds_since(started_);
  const auto done = held_ + moved_;
  const double rate = elapsed > 0 ? static_cast<double>(moved_) / elapsed : 0;  // bytes/s over the wire
  const double eta = rate > 0 && total_ > done ? static_cast<double>(total_ - done) / rate : 0;
  if (json_) {
    const nlohmann::json event{{"event", "progress"},  {"direction", direction_}, {"peer", peer_},
                               {"file", file_},         {"file_bytes", file_done_bytes_},
                               {"file_size", file_size_}, {"bytes", done},
                               {"total", total_},       {"mbps", rounded(megabits_per_second(moved_, elapsed))},
                               {"eta_s", rounded(eta)}};
    events_.emit(event);
    return;
  }
  const double percent = total_ ? 100.0 * static_cast<double>(done) / static_cast<double>(total_) : 100.0;
  std::fprintf(stderr, "\r\033[K%s %s / %s (%.0f%%)  %s/s  ETA %s  %s", direction_ == "sent" ? "sending" : "receiving",
               human_bytes(static_cast<double>(done)).c_str(), human_bytes(static_cast<double>(total_)).c_str(), percent,
               human_bytes(rate).c_str(), clock_text(eta).c_str(), file_.c_str());
  std::fflush(stderr);
  line_shown_ = true;
}

void transfer_progress::clear_line() {
  if (!line_shown_) return;
  std::fputs("\r\033[K", stderr);
  line_shown_ = false;
}

void transfer_progress::file_done(const ::transfer::file_report& report) {
  // (Small files are confirmed later than they are sent: this may be an earlier file than file_.)
  stored_bytes_ += report.bytes;
  ++files_;
  clear_line();
  const auto seconds = static_cast<double>(report.elapsed_ms) / 1000;
  nlohmann::json event{{"event", "transfer"},
                       {"direction", direction_},
                       {"peer", peer_},
                       {"file", report.file},
                       {"bytes", report.bytes},
                       {"hash", report.hash},
                       {"path", path_},
                       {"elapsed_ms", report.elapsed_ms},
                       {"mbps", rounded(megabits_per_second(report.sent, seconds))},
                       {"sent", report.sent},
                       {"resumed_from", report.resumed_from}};
  if (report.stored != report.file) event["stored"] = report.stored;
  events_.emit(event);
}

void transfer_progress::finish() {
  clear_line();
  const auto elapsed = seconds_since(started_);
  const nlohmann::json event{{"event", "transfer_done"},
                             {"direction", direction_},
                             {"peer", peer_},
                             {"files", files_},
                             {"bytes", stored_bytes_},
                             {"sent", moved_},
                             {"path", path_},
                             {"elapsed_ms", static_cast<long long>(elapsed * 1000)},
                             {"mbps", rounded(megabits_per_second(moved_, elapsed))}};
  events_.emit(event);
}

}  // namespace peer
