// The NAT verdict a peer last saw on each network, so it tells the server at once instead of
// making the first connect wait for a probe (the probe still runs, in the background). A network
// is the server, the public address the server sees us at, and this host's own addresses. Kept in
// $XDG_STATE_HOME/holepunch/nat-cache.json (else ~/.local/state/holepunch/): at most 32
// networks, a week at most, written atomically. An unreadable file is ignored: the probe runs
// anyway, and its verdict replaces the file.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace peer {

class nat_cache {
 public:
  /// The default file (none, and so no cache, if neither XDG_STATE_HOME nor HOME is set).
  nat_cache();
  explicit nat_cache(std::filesystem::path file) : file_(std::move(file)) {}

  /// The report last stored for `network`, if it is there and recent.
  std::optional<nlohmann::json> load(const std::string& network) const;
  /// Keeps `report` (a nat_report message) for `network`; failures are logged, never thrown.
  void store(const std::string& network, const nlohmann::json& report) const;
  const std::filesystem::path& file() const { return file_; }

  /// This host's addresses (loopback, link-local and IPv6 privacy addresses aside), sorted, as one
  /// string: it changes when the host moves to another network or gets a new address.
  static std::string address_fingerprint();
  /// The key of a network: the server we reached, the address it sees us at (its port aside:
  /// that changes with every connection), and our addresses.
  static std::string network_key(const std::string& server, const std::string& observed, const std::string& addresses);

 private:
  std::filesystem::path file_;
};

}  // namespace peer
