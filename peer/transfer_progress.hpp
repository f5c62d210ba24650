// Shows a transfer to its user: a live line on a terminal (bytes, rate, ETA), or
// {"event":"progress",...} lines with --json, a "transfer" event per file stored, and a
// "transfer_done" summary.
#pragma once
#include <cstdint>
#include <string>

#include "common/net.hpp"
#include "peer/events.hpp"
#include "transfer/observer.hpp"

namespace peer {

class transfer_progress : public ::transfer::observer {
 public:
  /// `direction` is "sent" or "received"; `path` is how the session runs (direct or relay);
  /// `live_line` allows the one-line display when stderr is a terminal (and not --json).
  transfer_progress(const event_sink& events, bool json, std::string peer, std::string path, std::string direction,
                    std::uint64_t total_bytes, bool live_line = true);

  void file_started(const std::string& file, std::uint64_t size, std::uint64_t resumed_from) override;
  void bytes_moved(std::uint64_t n) override;
  void file_done(const ::transfer::file_report& report) override;
  /// The "transfer_done" event: files, bytes, bytes that crossed, time and rate of the whole transfer.
  void finish();

 private:
  void report_progress(bool force);
  void clear_line();

  const event_sink& events_;
  bool json_;
  bool tty_;
  std::string peer_;
  std::string path_;
  std::string direction_;
  std::uint64_t total_ = 0;
  net::clock::time_point started_ = net::clock::now();
  net::clock::time_point last_shown_{};
  std::string file_;
  std::uint64_t file_size_ = 0;
  std::uint64_t file_done_bytes_ = 0;    ///< of the current file, including what the receiver held
  std::uint64_t file_resumed_from_ = 0;  ///< of the current file
  std::uint64_t held_ = 0;               ///< bytes the receiver already held, all files
  std::uint64_t moved_ = 0;              ///< crossed the network, all files
  std::uint64_t stored_bytes_ = 0;       ///< of the files the receiver confirmed
  std::uint64_t files_ = 0;
  bool line_shown_ = false;
};

}  // namespace peer
