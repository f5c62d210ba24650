// A token bucket: `rate` events a second on average, bursts of up to `burst`. Used to throttle
// what one client may ask of the server.
#pragma once
#include <algorithm>
#include <chrono>

namespace net {

class token_bucket {
 public:
  using clock = std::chrono::steady_clock;
  token_bucket(double rate_per_second, double burst) : rate_(rate_per_second), burst_(burst), tokens_(burst) {}

  /// Takes one token if one is there.
  bool try_take(clock::time_point now = clock::now()) {
    refill(now);
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }
  /// How long until a token is there (zero if one is now).
  clock::duration wait_time(clock::time_point now = clock::now()) {
    refill(now);
    if (tokens_ >= 1.0) return clock::duration::zero();
    return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>((1.0 - tokens_) / rate_));
  }

 private:
  void refill(clock::time_point now) {
    if (last_.time_since_epoch().count() != 0) {
      tokens_ = std::min(burst_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
    }
    last_ = now;
  }
  double rate_;
  double burst_;
  double tokens_;
  clock::time_point last_{};
};

}  // namespace net
