#include "rendezvous/usage_meter.hpp"

#include <spdlog/spdlog.h>

namespace rendezvous {

usage_meter::usage_meter(const std::filesystem::path& state_dir, std::chrono::milliseconds busy_wait)
    : ledger_(state_dir, busy_wait) {
  advance_clock();
}

usage_meter::~usage_meter() { flush(); }

void usage_meter::advance_clock() {
  const auto now = unix_now();
  if (now == second_) return;
  second_ = now;
  day_ = day_of(now);
  auto start = month_start_of(now);
  if (start == month_start_) return;
  flush();  // (what was charged belongs to the month it was charged in)
  month_start_ = std::move(start);
  try {
    month_ = ledger_.totals_since(month_start_);
  } catch (const std::exception& e) {
    spdlog::error("usage: cannot read this month's totals: {}; counting from 0", e.what());
    month_.clear();
  }
}

void usage_meter::charge(const std::string& account, const std::string& id, bool exposed, std::uint64_t bytes, bool bill) {
  advance_clock();
  auto& pending = pending_[{day_, account, id}];
  (exposed ? pending.second : pending.first) += bytes;
  if (!bill) return;
  auto& billed = pending_accounts_[{day_, account}];
  (exposed ? billed.second : billed.first) += bytes;
  month_[account] += bytes;
}

std::uint64_t usage_meter::month_bytes(const std::string& account) {
  advance_clock();
  const auto it = month_.find(account);
  return it == month_.end() ? 0 : it->second;
}

void usage_meter::flush() {
  if (pending_.empty() && pending_accounts_.empty()) return;
  std::vector<usage_row> ids, accounts;
  ids.reserve(pending_.size());
  for (const auto& [key, bytes] : pending_) {
    ids.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), bytes.first, bytes.second});
  }
  for (const auto& [key, bytes] : pending_accounts_) {
    accounts.push_back({std::get<0>(key), std::get<1>(key), "", bytes.first, bytes.second});
  }
  try {
    ledger_.add(ids, accounts);
    pending_.clear();
    pending_accounts_.clear();
  } catch (const std::exception& e) {
    const auto now = unix_now();
    if (now - last_failure_log_ >= 60) {
      last_failure_log_ = now;
      spdlog::error("usage: cannot write {} row(s) to the state database: {}; kept, and tried again every 5 s", ids.size(),
                    e.what());
    }
  }
}

}  // namespace rendezvous
