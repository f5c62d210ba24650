// The server's running count of what it carries per account and ID: charged as bytes move (the
// relay every second, exposed clients on channels as they end), written to the usage ledger every
// few seconds and at shutdown (never per chunk), and asked for each account's bytes this month
// when its relay quota is checked.
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

  /// Counts `bytes` carried for `id` of `account` ("" for none) now.
  void charge(const std::string& account, const std::string& id, bool exposed, std::uint64_t bytes);
  /// `account`'s bytes this month (UTC), written or not.
  std::uint64_t month_bytes(const std::string& account);
  /// Writes what was charged since the last flush; a failure is logged and the bytes kept for
  /// the next try.
  void flush();

 private:
  /// Starts a new month's totals when the month has changed.
  void roll(long long now);

  usage_ledger ledger_;
  /// (day, account, id) -> (relayed, exposed), not yet written.
  std::map<std::tuple<std::string, std::string, std::string>, std::pair<std::uint64_t, std::uint64_t>> pending_;
  std::map<std::string, std::uint64_t> month_;  ///< account -> bytes this month
  std::string month_start_;
};

}  // namespace rendezvous
