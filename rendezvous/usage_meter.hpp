// The server's running count of what it carries per account and ID: charged as bytes move (the
// relay every second, exposed clients on channels every second too), written to the usage ledger
// every few seconds and at shutdown (never per chunk), and asked for each account's bytes this
// month when its relay quota is checked.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <tuple>
#include <utility>

#include "rendezvous/usage_ledger.hpp"

namespace rendezvous {

class usage_meter {
 public:
  /// Opens the ledger in `state_dir` and reads this month's totals from it.
  usage_meter(const std::filesystem::path& state_dir, std::chrono::milliseconds busy_wait);
  /// Writes what is still unwritten.
  ~usage_meter();
  usage_meter(const usage_meter&) = delete;
  usage_meter& operator=(const usage_meter&) = delete;

  /// Counts `bytes` carried for `id` of `account` ("" for none) now; `bill`: also for the
  /// account as a whole (false for the second ID of one account on the same pair: one byte
  /// carried is billed once).
  void charge(const std::string& account, const std::string& id, bool exposed, std::uint64_t bytes, bool bill = true);
  /// `account`'s bytes this month (UTC), written or not, each byte once.
  std::uint64_t month_bytes(const std::string& account);
  /// Writes what was charged since the last flush; a failure is logged and the bytes kept for
  /// the next try.
  void flush();

 private:
  /// Brings the day and month up to now (formatted once a second); a new month (or a clock
  /// stepped back across one) reads that month's totals from the ledger.
  void advance_clock();

  usage_ledger ledger_;
  /// (day, account, id) -> (relayed, exposed), not yet written; id "" rows are the accounts'.
  std::map<std::tuple<std::string, std::string, std::string>, std::pair<std::uint64_t, std::uint64_t>> pending_;
  std::map<std::tuple<std::string, std::string>, std::pair<std::uint64_t, std::uint64_t>> pending_accounts_;
  std::map<std::string, std::uint64_t> month_;  ///< account -> bytes this month
  long long second_ = 0;
  std::string day_;
  std::string month_start_;
  long long last_failure_log_ = 0;
};

}  // namespace rendezvous
