#include "rendezvous/connect_outcomes.hpp"

#include <algorithm>

namespace rendezvous {

bool connect_outcomes::started(const std::string& attempt_id, const void* initiator, net::clock::time_point now,
                               net::clock::time_point report_by) {
  if (awaited_.size() >= max_awaited) return false;
  auto& mine = awaited_per_initiator_[initiator];
  if (mine >= max_awaited_per_initiator || !awaited_.emplace(attempt_id, awaited{initiator, now, report_by}).second) {
    if (mine == 0) awaited_per_initiator_.erase(initiator);
    return false;
  }
  ++mine;
  return true;
}

void connect_outcomes::forget(std::map<std::string, awaited>::iterator it) {
  const auto mine = awaited_per_initiator_.find(it->second.initiator);
  if (mine != awaited_per_initiator_.end() && --mine->second <= 0) awaited_per_initiator_.erase(mine);
  awaited_.erase(it);
}

void connect_outcomes::reported(const std::string& attempt_id, const void* from, const std::string& outcome,
                                net::clock::time_point now) {
  const auto it = awaited_.find(attempt_id);
  if (it == awaited_.end() || it->second.initiator != from) return;
  if (outcome != "direct" && outcome != "relay" && outcome != "failed") return;
  const double seconds = std::chrono::duration<double>(now - it->second.started).count();
  forget(it);
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
  const auto it = awaited_.find(attempt_id);
  if (it == awaited_.end()) return;
  forget(it);
  ++failures_;
}

void connect_outcomes::expire(net::clock::time_point now) {
  for (auto it = awaited_.begin(); it != awaited_.end();) {
    const auto next = std::next(it);
    if (it->second.report_by <= now) forget(it);
    it = next;
  }
}

void connect_outcomes::initiator_gone(const void* initiator) {
  if (!awaited_per_initiator_.contains(initiator)) return;
  for (auto it = awaited_.begin(); it != awaited_.end();) {
    const auto next = std::next(it);
    if (it->second.initiator == initiator) forget(it);
    it = next;
  }
}

void connect_outcomes::record(histogram& h, double seconds) {
  const auto bucket = std::lower_bound(bucket_bounds.begin(), bucket_bounds.end(), seconds);
  if (bucket != bucket_bounds.end()) ++h.at_most[static_cast<std::size_t>(bucket - bucket_bounds.begin())];
  ++h.count;
  h.sum_seconds += seconds;
}

}  // namespace rendezvous
