#include "rendezvous/admission.hpp"

#include <optional>

namespace rendezvous {

admission_ticket& admission_ticket::operator=(admission_ticket&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
    address_ = other.address_;
    pending_ = std::exchange(other.pending_, false);
  }
  return *this;
}

void admission_ticket::handshake_done() {
  if (!owner_ || !pending_) return;
  pending_ = false;
  --owner_->pending_;
  auto it = owner_->per_address_.find(address_);
  if (it != owner_->per_address_.end() && --it->second == 0) owner_->per_address_.erase(it);
}

void admission_ticket::release() {
  handshake_done();
  owner_ = nullptr;
}

std::optional<admission_ticket> admission::admit(const asio::ip::address& address, std::string& why) {
  int& count = per_address_[address];
  if (count >= max_per_address_) {
    why = "too many handshaking connections from " + address.to_string() + " (limit " +
          std::to_string(max_per_address_) + ")";
    if (count == 0) per_address_.erase(address);
    ++refused_;
    return std::nullopt;
  }
  if (pending_ >= max_pending_) {
    why = "too many pending handshakes (limit " + std::to_string(max_pending_) + ")";
    if (count == 0) per_address_.erase(address);
    ++refused_;
    return std::nullopt;
  }
  ++count;
  ++pending_;
  return admission_ticket(this, address);
}

bool admission::should_log_refusal(const asio::ip::address& address) {
  const auto now = std::chrono::steady_clock::now();
  auto& last = last_refusal_log_[address];
  if (last.time_since_epoch().count() != 0 && now - last < std::chrono::seconds(10)) return false;
  last = now;
  if (last_refusal_log_.size() > 4096) last_refusal_log_.clear();  // bounded memory under a spoofed flood
  return true;
}

}  // namespace rendezvous
