#include "rendezvous/usage_command.hpp"

#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "rendezvous/usage_ledger.hpp"

namespace rendezvous {

const char* const usage_command_help = R"(
Usage (bytes the server carried: relayed pairs, and clients of exposed ports; direct paths never
reach the server and are not counted):
  usage [--user NAME] [--since YYYY-MM-DD] [--json]
                    per day (UTC), account and ID, and a total per account (each byte once: two
                    of its IDs on one relayed pair are both listed, the account billed once; the
                    total is what its quota counts); written by the server every 5 s and at
                    shutdown
)";

int run_usage_command(const std::string& state_dir, const usage_query& query) {
  const auto now = unix_now();
  const auto since = query.since.value_or(month_start_of(now));
  if (!day_start_of(since)) {
    std::cerr << "rendezvous: --since takes a day, YYYY-MM-DD\n(see rendezvous --help)\n";
    return 2;
  }
  try {
    usage_ledger ledger(state_dir);
    const auto rows = ledger.since(since, query.account);
    const auto totals = ledger.account_totals_since(since, query.account);
    if (query.json) {
      for (const auto& row : rows) {
        std::cout << nlohmann::json{{"day", row.day}, {"account", row.account}, {"id", row.id},
                                    {"relayed", row.relayed}, {"exposed", row.exposed}}.dump()
                  << "\n";
      }
      for (const auto& total : totals) {
        std::cout << nlohmann::json{{"total", true}, {"since", since}, {"account", total.account},
                                    {"relayed", total.relayed}, {"exposed", total.exposed}}.dump()
                  << "\n";
      }
      return 0;
    }
    std::printf("%-10s  %-24s  %-24s  %15s  %15s\n", "DAY", "ACCOUNT", "ID", "RELAYED", "EXPOSED");
    for (const auto& row : rows) {
      std::printf("%-10s  %-24s  %-24s  %15llu  %15llu\n", row.day.c_str(), row.account.empty() ? "-" : row.account.c_str(),
                  row.id.c_str(), static_cast<unsigned long long>(row.relayed), static_cast<unsigned long long>(row.exposed));
    }
    for (const auto& total : totals) {
      std::printf("%-10s  %-24s  %-24s  %15llu  %15llu\n", "total", total.account.empty() ? "-" : total.account.c_str(), "",
                  static_cast<unsigned long long>(total.relayed), static_cast<unsigned long long>(total.exposed));
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "rendezvous: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace rendezvous
