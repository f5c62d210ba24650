#include "rendezvous/usage_command.hpp"

#include <cstdio>
#include <iostream>
#include <map>

#include <nlohmann/json.hpp>

#include "rendezvous/usage_ledger.hpp"
#include "rendezvous/user_command.hpp"

namespace rendezvous {

const char* const usage_command_help = R"(
Usage (bytes the server carried: relayed pairs, and clients of exposed ports; direct paths never
reach the server and are not counted):
  usage [--user NAME] [--since YYYY-MM-DD] [--json]
                    per day (UTC), account and ID, with a total per account; written by the
                    server every 5 s and at shutdown
)";

int run_usage_command(const std::string& state_dir, const usage_query& query) {
  const auto now = unix_now();
  const auto since = query.since.value_or(month_start_of(now));
  const auto start = expiry_of(since, now);
  if (since.size() != 10 || !start) {
    std::cerr << "rendezvous: --since takes a day, YYYY-MM-DD\n(see rendezvous --help)\n";
    return 2;
  }
  try {
    usage_ledger ledger(state_dir);
    const auto rows = ledger.since(since, query.account);
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> totals;
    for (const auto& row : rows) {
      totals[row.account].first += row.relayed;
      totals[row.account].second += row.exposed;
    }
    if (query.json) {
      for (const auto& row : rows) {
        std::cout << nlohmann::json{{"day", row.day}, {"account", row.account}, {"id", row.id},
                                    {"relayed", row.relayed}, {"exposed", row.exposed}}.dump()
                  << "\n";
      }
      return 0;
    }
    std::printf("%-10s  %-24s  %-24s  %15s  %15s\n", "DAY", "ACCOUNT", "ID", "RELAYED", "EXPOSED");
    for (const auto& row : rows) {
      std::printf("%-10s  %-24s  %-24s  %15llu  %15llu\n", row.day.c_str(), row.account.empty() ? "-" : row.account.c_str(),
                  row.id.c_str(), static_cast<unsigned long long>(row.relayed), static_cast<unsigned long long>(row.exposed));
    }
    for (const auto& [account, bytes] : totals) {
      std::printf("%-10s  %-24s  %-24s  %15llu  %15llu\n", "total", account.empty() ? "-" : account.c_str(), "",
                  static_cast<unsigned long long>(bytes.first), static_cast<unsigned long long>(bytes.second));
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "rendezvous: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace rendezvous
