// Admission control for connections that have not authenticated yet (seed 004's connection-pool
// limits, and nginx's answer to slowloris). Each listening port has its own budget, so a crowd on
// one port cannot starve another; one address may hold only a share of a budget; and when a budget
// is full a newcomer is not refused: the oldest pending connection of the address holding the
// most is evicted instead, so silent connections by the thousand cannot lock out a client from
// anywhere else. Under pressure new connections get a shorter handshake deadline.
// Authenticated load is bounded elsewhere (peers, relay pairs), so many peers behind one NAT and
// an exposed service with many clients are not mistaken for a flood.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <string>

#include <asio/ip/address.hpp>

namespace rendezvous {

class admission;
class admission_ticket;

/// One pending connection as admission sees it.
struct pending_connection {
  asio::ip::address address;
  std::chrono::steady_clock::time_point since;  ///< when it was admitted
  std::function<void(const std::string& why)> evict;  ///< closes the connection, telling it why
  admission_ticket* ticket;  ///< the ticket holding this slot (kept current across moves)
};

/// Holds one admitted connection's slot; releases it when destroyed.
class admission_ticket {
 public:
  admission_ticket() = default;
  admission_ticket(admission_ticket&& other) noexcept { *this = std::move(other); }
  admission_ticket& operator=(admission_ticket&& other) noexcept;
  ~admission_ticket() { release(); }
  /// The connection has authenticated: it no longer counts against any budget.
  void handshake_done();
  /// How to close this connection if admission must evict it (say why, best effort). If it was
  /// evicted before this was set, `evict` runs at once.
  void on_evict(std::function<void(const std::string& why)> evict);
  /// True while the connection still counts as pending.
  bool pending() const { return owner_ != nullptr; }
  /// True if admission evicted it before on_evict said how to close it.
  bool evicted() const { return evicted_; }
  /// The handshake deadline this connection was given (shorter when the port was under pressure).
  std::chrono::milliseconds handshake_time() const { return handshake_time_; }

 private:
  friend class admission;
  admission_ticket(admission* owner, std::list<pending_connection>::iterator entry, std::chrono::milliseconds time)
      : owner_(owner), entry_(entry), handshake_time_(time) {}
  void release();
  admission* owner_ = nullptr;
  std::list<pending_connection>::iterator entry_;
  std::chrono::milliseconds handshake_time_{0};
  bool evicted_ = false;
};

/// Budgets of one listening port.
struct admission_limits {
  int per_address = 64;   ///< pending connections one address may hold
  int pending = 256;      ///< pending connections in all
  std::chrono::seconds handshake_time{10};     ///< the deadline when calm
  std::chrono::seconds pressed_handshake_time{2};  ///< the deadline once over half the budget is used
  bool evict_when_full = true;  ///< false: a full budget refuses newcomers (for slots held for life)
  /// Where no address holds clearly more than the newcomer's, only a connection pending at least
  /// this long is evicted: a crowd of honest clients (a restart storm from many addresses) is
  /// refused and retries instead of evicting each other mid-handshake.
  std::chrono::milliseconds evict_after{1000};
  /// What a refusal calls the connections counted ("too many handshaking connections from ...").
  std::string counted = "handshaking connections";
  /// The refusal when all of the budget is used; empty: "too many pending handshakes on the X port".
  std::string full_text;
};

/// Counts one port's pending connections per address and overall.
class admission {
 public:
  admission(std::string port_name, admission_limits limits) : name_(std::move(port_name)), limits_(limits) {}
  admission(const admission&) = delete;
  admission& operator=(const admission&) = delete;

  /// A ticket if the connection may proceed (evicting another if the budget is full); otherwise
  /// nothing, with the reason in `why` (its own address holds its share, or holds the most).
  std::optional<admission_ticket> admit(const asio::ip::address& address, std::string& why);
  const std::string& name() const { return name_; }
  /// New budgets (a reload): connections already pending keep their slots and deadlines.
  void set_limits(admission_limits limits) { limits_ = std::move(limits); }
  int pending() const { return static_cast<int>(pending_.size()); }
  std::uint64_t refused() const { return refused_; }
  std::uint64_t evicted() const { return evicted_; }

 private:
  friend class admission_ticket;
  /// Evicts the oldest pending connection of an address holding at least `count` connections.
  void evict_oldest_holding(int count);
  void forget(std::list<pending_connection>::iterator entry);

  std::string name_;
  admission_limits limits_;
  std::list<pending_connection> pending_;  ///< oldest first
  std::map<asio::ip::address, int> per_address_;
  std::uint64_t refused_ = 0;
  std::uint64_t evicted_ = 0;
};

}  // namespace rendezvous
