// Admission control: caps connections that have not authenticated yet, per source address and in
// all, so one flooding address cannot starve everyone else (seed 004's connection-pool limits).
// Authenticated load is bounded elsewhere (peers, relay pairs), so many peers behind one NAT and
// an exposed service with many clients are not mistaken for a flood.
#pragma once
#include <chrono>
#include <map>
#include <optional>
#include <string>

#include <asio/ip/address.hpp>

namespace rendezvous {

class admission;

/// Holds one admitted connection's slot; releases it when destroyed.
class admission_ticket {
 public:
  admission_ticket() = default;
  admission_ticket(admission* owner, asio::ip::address address) : owner_(owner), address_(address), pending_(true) {}
  admission_ticket(admission_ticket&& other) noexcept { *this = std::move(other); }
  admission_ticket& operator=(admission_ticket&& other) noexcept;
  ~admission_ticket() { release(); }
  /// The connection has authenticated: it no longer counts against either cap.
  void handshake_done();

 private:
  void release();
  admission* owner_ = nullptr;
  asio::ip::address address_;
  bool pending_ = false;
};

/// Counts handshaking connections per address and overall.
class admission {
 public:
  admission(int max_per_address, int max_pending) : max_per_address_(max_per_address), max_pending_(max_pending) {}

  /// A ticket if the connection may proceed; otherwise nothing, with the reason in `why`.
  std::optional<admission_ticket> admit(const asio::ip::address& address, std::string& why);
  /// True if a refusal from this address should be logged now (at most one line per 10 s each).
  bool should_log_refusal(const asio::ip::address& address);
  int pending() const { return pending_; }
  std::uint64_t refused() const { return refused_; }

 private:
  friend class admission_ticket;
  int max_per_address_;
  int max_pending_;
  int pending_ = 0;
  std::uint64_t refused_ = 0;
  std::map<asio::ip::address, int> per_address_;
  std::map<asio::ip::address, std::chrono::steady_clock::time_point> last_refusal_log_;
};

}  // namespace rendezvous
