// `rendezvous usage`: what the server carried per day, account and ID, from its state (safe
// while the server runs; the last few seconds may not be written yet).
#pragma once
#include <optional>
#include <string>

namespace rendezvous {

struct usage_query {
  std::optional<std::string> account;  ///< only this account's rows ("" for IDs of no account)
  std::optional<std::string> since;    ///< YYYY-MM-DD; default the first of this month (UTC)
  bool json = false;                   ///< one JSON object per row
};

extern const char* const usage_command_help;

/// Prints the rows and a total per account; returns the exit code (0, 1 unreadable, 2 usage).
int run_usage_command(const std::string& state_dir, const usage_query& query);

}  // namespace rendezvous
