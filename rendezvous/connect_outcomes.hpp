// How connect attempts ended, as their initiators saw them: on a direct path, on the relay, or
// not at all, and how long each took from the request to a secure session (the time a user
// waits for "connected"). The server sees a relayed pair form but never a direct path, so the
// initiator tells it ("connected" or "connect_failed", when its attempt asked for a report); an
// attempt the server itself ends (timeout, peer_busy, peer_gone) is a failure too. Only what
// the server started is counted, once, and only from the connection that asked.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "common/net.hpp"

namespace rendezvous {

class connect_outcomes {
 public:
  /// Upper bounds of the time-to-connected histogram, in seconds (+Inf is implied).
  static constexpr std::array<double, 10> bucket_bounds{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  /// Attempts awaiting a report at once, in all and per initiator (more go uncounted rather than
  /// grow the map, and one connection's unreported attempts cannot crowd out everyone's).
  static constexpr std::size_t max_awaited = 4096;
  static constexpr int max_awaited_per_initiator = 8;

  struct histogram {
    std::array<std::uint64_t, bucket_bounds.size()> at_most{};  ///< not cumulative: per bucket
    std::uint64_t count = 0;
    double sum_seconds = 0;
  };

  /// Attempt `attempt_id`, asked for by connection `initiator`, awaits its outcome until
  /// `report_by` (its punch, relay and handshake all done); false if too many do (it goes
  /// uncounted, and its initiator is not asked to report).
  bool started(const std::string& attempt_id, const void* initiator, net::clock::time_point now,
               net::clock::time_point report_by);
  /// Connection `from` reports its attempt connected ("direct" or "relay") or failed ("failed").
  /// Anything else, or from another connection, or not awaited, is ignored.
  void reported(const std::string& attempt_id, const void* from, const std::string& outcome, net::clock::time_point now);
  /// The server ended the attempt without a connection.
  void failed(const std::string& attempt_id);
  /// Drops attempts unreported by their deadline (an initiator that crashed or never said).
  void expire(net::clock::time_point now);
  /// Connection `initiator` is gone: what it had not reported is dropped (unknown, not failed:
  /// the server ended those still in flight, and counted them, as it did).
  void initiator_gone(const void* initiator);

  std::uint64_t direct() const { return direct_; }
  std::uint64_t relayed() const { return relayed_; }
  std::uint64_t failures() const { return failures_; }
  const histogram& time_to_direct() const { return to_direct_; }
  const histogram& time_to_relay() const { return to_relay_; }

 private:
  struct awaited {
    const void* initiator;
    net::clock::time_point started;
    net::clock::time_point report_by;
  };
  static void record(histogram& h, double seconds);
  void forget(std::map<std::string, awaited>::iterator it);

  std::map<std::string, awaited> awaited_;
  std::map<const void*, int> awaited_per_initiator_;
  std::uint64_t direct_ = 0, relayed_ = 0, failures_ = 0;
  histogram to_direct_, to_relay_;
};

}  // namespace rendezvous
