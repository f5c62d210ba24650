#include "rendezvous/connect_outcomes.hpp"

#include <algorithm>

namespace rendezvous {

bool connect_outcomes::started(const std::string& attempt_id, const void* initiator, net::clock::time_point now) {
  if (awaited_.size() >= max_awaited) return false;
  return awaited_.emplace(attempt_id, awaited{initiator, now}).second;
}

void connect_outcomes::reported(const std::string& attempt_id, const void* from, const std::string& outcome,
                                net::clock::time_point now) {
  const auto it = awaited_.find(attempt_id);
  if (it == awaited_.end() || it->second.initiator != from) return;
  if (outcome != "direct" && outcome != "relay" && outcome != "failed") return;
  const double seconds = std::chrono::duration<double>(now - it->second.started).count();
  awaited_.erase(it);
  if (outcome == "failed") {
    ++failures_;
  } else if (outcome == "direct") {
    ++direct_;
    record(to_direct_, seconds);
  } else {
    ++relayed_;
    record(to_relay_, seconds);
  }
}

void connect_outcomes::failed(const std::string& attempt_id) {
  if (awaited_.erase(attempt_id) > 0) ++failures_;
}

void connect_outcomes::expire(net::clock::time_point now) {
  std::erase_if(awaited_, [now](const auto& entry) { return entry.second.started + report_horizon <= now; });
}

void connect_outcomes::record(histogram& h, double seconds) {
  const auto bucket = std::lower_bound(bucket_bounds.begin(), bucket_bounds.end(), seconds);
  if (bucket != bucket_bounds.end()) ++h.at_most[static_cast<std::size_t>(bucket - bucket_bounds.begin())];
  ++h.count;
  h.sum_seconds += seconds;
}

}  // namespace rendezvous
