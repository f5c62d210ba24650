// Where a cluster's Redis is, as users write it: redis://[:PASSWORD@]HOST:PORT[/DB]. Apart
// from the client so that configuration code can check an address without linking hiredis.
#pragma once
#include <cstdint>
#include <string>

namespace cluster {

struct redis_address {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string password;
  int db = 0;
  /// redis://HOST:PORT/DB, without the password.
  std::string display() const;
};
/// Parses a redis:// URL; throws std::invalid_argument saying what is wrong.
redis_address parse_redis_url(const std::string& url);

}  // namespace cluster
