// The punching engine: from one local port, race `connect` to every candidate of the other peer
// against `accept` on that same port until a deadline. A connection wins only after the attempt
// handshake (punch_handshake.hpp); the initiator picks the one both sides keep.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "nat/punch_handshake.hpp"

namespace nat {

/// What one punch needs to know.
struct punch_request {
  attempt_secret secret;
  role mine = role::initiator;
  std::vector<net::tcp::endpoint> candidates;  ///< the other peer's mapped and private endpoints
  net::clock::time_point deadline;
  std::chrono::milliseconds retry_interval{100};  ///< pause after a connect that failed otherwise
  /// Pause after a connect the other NAT answered with RST (plus up to as much again in jitter).
  /// A NAT that RSTs early SYNs only lets a punch through when both SYNs cross in flight, so
  /// the next SYN goes out as soon as the RST is back: at most one SYN per candidate is in
  /// flight, so the rate is bounded by the round trip.
  std::chrono::milliseconds refused_retry_interval{2};
  std::chrono::milliseconds connect_try_timeout{1500};  ///< one SYN retransmission fits inside
  /// IPv4 candidates are dialed this much after the IPv6 ones start (RFC 8305's happy eyeballs:
  /// prefer IPv6, never wait for it to fail); at once when there are no IPv6 candidates.
  std::chrono::milliseconds ipv4_delay{50};
};

/// The connection both peers agreed on, plus any bytes read past the handshake.
struct punch_success {
  net::tcp::socket socket;
  std::vector<std::uint8_t> leftover;
  net::tcp::endpoint remote;
};

/// Result of a punch: the winner, or a one-line summary of what was tried and why it failed.
struct punch_outcome {
  std::optional<punch_success> winner;
  std::string summary;
};

/// Runs one punch from the shared local port `listener` already listens on; the listener is left
/// open (the caller owns it). Returns when a connection wins or the deadline passes.
net::awaitable<punch_outcome> punch(net::tcp::acceptor& listener, punch_request request);
/// The same from one shared listener per address family (IPv4 and IPv6): each candidate is
/// dialed from the port of its family's listener, and either listener may take the winner.
/// Candidates of a family without a listener are skipped.
net::awaitable<punch_outcome> punch(const std::vector<net::tcp::acceptor*>& listeners, punch_request request);

}  // namespace nat
