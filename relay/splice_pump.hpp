// The relay engine: joins two TCP connections and moves bytes both ways with splice(2) through a
// pipe per direction, so payload never crosses user space. Half-close is propagated each way;
// memory per pair is the two pipes (bounded); an idle pair is closed after a timeout.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include "common/net.hpp"

namespace relay {

/// Why a joined pair ended.
enum class pump_end {
  both_closed,    ///< each side finished sending (FIN both ways)
  reset,          ///< a side reset or errored; the other was closed at once
  idle,           ///< no byte either way for the idle timeout
  stopped,        ///< closed from outside (server shutdown)
};
const char* to_string(pump_end end);

/// Bytes moved, per direction, and how the pair ended.
struct pump_stats {
  std::uint64_t a_to_b = 0;
  std::uint64_t b_to_a = 0;
  pump_end end = pump_end::both_closed;
  std::string detail;  ///< the error behind `reset`, if any
};

/// Tuning for one pump.
struct pump_options {
  std::chrono::milliseconds idle_timeout{600'000};
  /// Pipe capacity per direction (the kernel may give less). 256 KiB measured best on loopback:
  /// 1 MiB halved 64-stream throughput (bench/relay_bench.sh), 64 KiB cost single-stream speed.
  int pipe_bytes = 256 << 10;
  /// If set, kept current as bytes move (metering reads it while the pair runs); it must outlive
  /// the pump.
  pump_stats* live = nullptr;
};

/// Moves bytes between `a` and `b` until both directions end, one side fails, or the pair idles.
/// Both sockets are closed when it returns.
net::awaitable<pump_stats> pump(net::tcp::socket& a, net::tcp::socket& b, pump_options options);

}  // namespace relay
