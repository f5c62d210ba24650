#include "cluster/redis_address.hpp"

#include <charconv>
#include <stdexcept>

#include "common/endpoint.hpp"

namespace cluster {

std::string redis_address::display() const {
  return "redis://" + host + ":" + std::to_string(port) + (db != 0 ? "/" + std::to_string(db) : "");
}

redis_address parse_redis_url(const std::string& url) {
  const std::string scheme = "redis://";
  if (url.rfind(scheme, 0) != 0) throw std::invalid_argument("a cluster address starts with redis:// (got '" + url + "')");
  std::string rest = url.substr(scheme.size());
  redis_address address;
  if (const auto at = rest.rfind('@'); at != std::string::npos) {
    auto credentials = rest.substr(0, at);
    rest = rest.substr(at + 1);
    // [:PASSWORD] (Redis before ACLs has no user name; "user:password" takes the password part).
    const auto colon = credentials.find(':');
    address.password = colon == std::string::npos ? credentials : credentials.substr(colon + 1);
  }
  if (const auto slash = rest.find('/'); slash != std::string::npos) {
    const auto db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty()) {
      int value = -1;
      const auto [end, ec] = std::from_chars(db.data(), db.data() + db.size(), value);
      if (ec != std::errc() || end != db.data() + db.size() || value < 0 || value > 1000) {
        throw std::invalid_argument("the database in '" + url + "' must be a number from 0 to 1000");
      }
      address.db = value;
    }
  }
  if (rest.empty()) throw std::invalid_argument("no host in '" + url + "'");
  const auto hp = net::parse_host_port(rest.find(':') == std::string::npos || rest.back() == ']' ? rest + ":6379" : rest);
  if (!hp || hp->port == 0) throw std::invalid_argument("cannot read HOST:PORT in '" + url + "'");
  address.host = hp->host;
  address.port = hp->port;
  return address;
}

}  // namespace cluster
