#include "rendezvous/admission.hpp"

#include <algorithm>
#include <utility>

namespace rendezvous {

admission_ticket& admission_ticket::operator=(admission_ticket&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
    entry_ = other.entry_;
    handshake_time_ = other.handshake_time_;
    evicted_ = std::exchange(other.evicted_, false);
    if (owner_) entry_->ticket = this;
  }
  return *this;
}

void admission_ticket::handshake_done() { release(); }

void admission_ticket::release() {
  if (!owner_) return;
  owner_->forget(entry_);
  owner_ = nullptr;
}

void admission_ticket::on_evict(std::function<void(const std::string& why)> evict) {
  if (evicted_) {
    evicted_ = false;
    evict("evicted: too many pending connections on this port");
    return;
  }
  if (owner_) entry_->evict = std::move(evict);
}

std::optional<admission_ticket> admission::admit(const asio::ip::address& address, std::string& why) {
  const auto found = per_address_.find(address);
  const int mine = found == per_address_.end() ? 0 : found->second;
  if (mine >= limits_.per_address) {
    why = "too many " + limits_.counted + " from " + address.to_string() + " (limit " +
          std::to_string(limits_.per_address) + ")";
    ++refused_;
    return std::nullopt;
  }
  if (pending() >= limits_.pending) {
    // Full: make room at the expense of an address holding clearly more than this one (a flood),
    // else of a connection pending long enough to be stalling; else the newcomer is refused and
    // retries (a crowd of honest clients, each still handshaking).
    int most = 0;
    for (const auto& [holder, count] : per_address_) most = std::max(most, count);
    const bool stalling = pending_.front().since + limits_.evict_after <= std::chrono::steady_clock::now();
    if (!limits_.evict_when_full || (most < mine + 2 && !stalling)) {
      why = limits_.full_text.empty() ? "too many pending handshakes on the " + name_ + " port" : limits_.full_text;
      why += " (limit " + std::to_string(limits_.pending) + ")";
      ++refused_;
      return std::nullopt;
    }
    evict_oldest_holding(most >= mine + 2 ? most : 0);
  }
  const bool pressed = pending() * 2 >= limits_.pending;
  auto entry = pending_.insert(pending_.end(), pending_connection{address, std::chrono::steady_clock::now(), {}, nullptr});
  ++per_address_[address];
  admission_ticket ticket(this, entry, pressed ? std::min(limits_.pressed_handshake_time, limits_.handshake_time)
                                               : limits_.handshake_time);
  entry->ticket = &ticket;
  return ticket;  // the move into the optional updates entry->ticket
}

void admission::evict_oldest_holding(int count) {
  // Oldest first: among the addresses holding at least `count`, the connection that has waited
  // longest goes (with a count of 0, simply the oldest).
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (per_address_[it->address] < count) continue;
    ++evicted_;
    auto evict = std::move(it->evict);
    auto* ticket = it->ticket;
    ticket->owner_ = nullptr;  // the slot is free now; the ticket no longer holds it
    forget(it);
    if (evict) evict("evicted: the " + name_ + " port is full of pending connections");
    else ticket->evicted_ = true;  // closes as soon as its owner says how
    return;
  }
}

void admission::forget(std::list<pending_connection>::iterator entry) {
  auto count = per_address_.find(entry->address);
  if (count != per_address_.end() && --count->second == 0) per_address_.erase(count);
  pending_.erase(entry);
}

}  // namespace rendezvous
