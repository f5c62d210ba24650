#include "rendezvous/usage_meter.hpp"

#include <spdlog/spdlog.h>

namespace rendezvous {

usage_meter::usage_meter(const std::filesystem::path& state_dir, std::chrono::milliseconds busy_wait)
    : ledger_(state_dir, busy_wait) {
  month_start_ = month_start_of(unix_now());
  month_ = ledger_.totals_since(month_start_);
}

usage_meter::~usage_meter() { flush(); }

void usage_meter::roll(long long now) {
  auto start = month_start_of(now);
  if (start == month_start_) return;
  month_start_ = std::move(start);
  month_.clear();
}

void usage_meter::charge(const std::string& account, const std::string& id, bool exposed, std::uint64_t bytes) {
  const auto now = unix_now();
  roll(now);
  auto& pending = pending_[{day_of(now), account, id}];
  (exposed ? pending.second : pending.first) += bytes;
  month_[account] += bytes;
}

std::uint64_t usage_meter::month_bytes(const std::string& account) {
  roll(unix_now());
  const auto it = month_.find(account);
  return it == month_.end() ? 0 : it->second;
}

void usage_meter::flush() {
  if (pending_.empty()) return;
  std::vector<usage_row> rows;
  rows.reserve(pending_.size());
  for (const auto& [key, bytes] : pending_) {
    rows.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), bytes.first, bytes.second});
  }
  try {
    ledger_.add(rows);
    pending_.clear();
  } catch (const std::exception& e) {
    spdlog::error("usage: cannot write {} row(s) to the state database: {}; trying again in a few seconds", rows.size(), e.what());
  }
}

}  // namespace rendezvous
