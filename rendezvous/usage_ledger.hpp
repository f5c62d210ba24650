// What the server carried, kept in its state database (the `usage` table of pins.sqlite3): bytes
// per day (UTC), account and ID, relayed (pairs with another peer) and exposed (clients of the
// ID's exposed ports). The server adds to it every few seconds; `rendezvous usage` reads it.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "rendezvous/state_db.hpp"

namespace rendezvous {

/// One day's bytes for one ID of one account ("" for none), or for the account as a whole (id
/// "": each byte once, however many of its IDs it passed).
struct usage_row {
  std::string day;  ///< YYYY-MM-DD, UTC
  std::string account;
  std::string id;
  std::uint64_t relayed = 0;
  std::uint64_t exposed = 0;
};

class usage_ledger {
 public:
  explicit usage_ledger(const std::filesystem::path& state_dir, std::chrono::milliseconds busy_wait = std::chrono::seconds(5))
      : db_(state_dir, busy_wait) {}

  /// Adds each row's bytes to what is kept for its day, account and ID, and each account row's
  /// to its day and account (one transaction).
  void add(const std::vector<usage_row>& id_rows, const std::vector<usage_row>& account_rows);
  /// The ID rows from `first_day` on, of `account` only if given; by day, account, ID.
  std::vector<usage_row> since(const std::string& first_day, const std::optional<std::string>& account);
  /// Each account's bytes from `first_day` on, each byte once (id ""), of `account` only if given.
  std::vector<usage_row> account_totals_since(const std::string& first_day, const std::optional<std::string>& account);
  /// Each account's bytes (relayed and exposed together, each once) from `first_day` on.
  std::map<std::string, std::uint64_t> totals_since(const std::string& first_day);

 private:
  state_db db_;
};

/// The UTC day of a Unix time, YYYY-MM-DD.
std::string day_of(long long unix_seconds);
/// The first day of its UTC month, YYYY-MM-01.
std::string month_start_of(long long unix_seconds);

}  // namespace rendezvous
