// Where IDs are registered and their keys pinned: the one seam under a single server (its own
// registry and the SQLite pins: local_directory) and a cluster of servers sharing Redis
// (redis_directory). The server asks it when an ID registers, when a connection speaks as an ID,
// when a peer lists who is online, and when a peer is gone; every answer may take a round trip.
// In a cluster it also carries mail between nodes (attempts addressed to another node's peers).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/identity.hpp"
#include "common/net.hpp"
#include "rendezvous/pin_outcome.hpp"

namespace rendezvous {

/// Whether this node may hold an ID's registration.
struct claim_outcome {
  bool taken = false;
  std::string holder;       ///< when not taken: the node holding it
  std::string unavailable;  ///< when not taken: why the directory could not be asked
  /// When held by another node: how long until that node's lease lapses if it is not refreshed
  /// (a dead node's IDs are free then).
  std::optional<std::chrono::milliseconds> lease_left;
};

/// Who is online, at most a page of them.
struct listing {
  std::vector<std::string> ids;  ///< sorted
  std::size_t total = 0;         ///< all of them, listed or not
  std::string unavailable;       ///< set when only this node's IDs could be listed
};

/// Where an ID's live registration is.
struct location {
  bool found = false;
  std::string node;         ///< the node holding it ("" for a single server)
  nlohmann::json info;      ///< how the holder described it (an object; see registration_info)
  std::string unavailable;  ///< set when the directory could not be asked
};

/// A node's claim on an exposed port: its peer `owner` exposes it.
struct port_claim {
  std::uint16_t port = 0;
  std::string node;
  std::string owner;
};

/// Every live port claim in the cluster.
struct port_claims {
  std::vector<port_claim> claims;
  std::string unavailable;  ///< set when the directory could not be asked
};

class peer_directory {
 public:
  virtual ~peer_directory() = default;
  /// Pins `key` for `id` (owned by `owner`'s account) if the ID is new; otherwise says whether
  /// the pinned key is `key` and the ID is the account's.
  virtual net::awaitable<pin_outcome> check_or_pin(std::string id, identity::public_key key, pin_owner owner) = 0;
  /// Takes `id` for this node, described by `info` (observed endpoint, key fingerprint, since;
  /// null keeps what the directory has); this node has already refused a duplicate it holds itself.
  virtual net::awaitable<claim_outcome> claim(std::string id, nlohmann::json info) = 0;
  /// Gives up `id` (its peer left this node); never waits.
  virtual void release(const std::string& id) = 0;
  /// Where `id`'s live registration is, if anywhere.
  virtual net::awaitable<location> locate(std::string id) = 0;
  /// Replaces the description of `id`, which this node holds (say, its NAT report came in); never waits.
  virtual void describe(const std::string&, const nlohmann::json&) {}
  /// The IDs online, at most `max` of them.
  virtual net::awaitable<listing> list(std::size_t max) = 0;
  /// This node's name in the directory ("" for a single server).
  virtual const std::string& node() const = 0;
  /// Whether the link to a shared store is up (a cluster's Redis); nothing for a single server.
  virtual std::optional<bool> link_up() const { return std::nullopt; }
  /// The server is stopping: no more requests.
  virtual void stop() {}

  /// Takes exposed port `port` for this node's peer `owner`, cluster-wide (a single server's own
  /// check is the whole check).
  virtual net::awaitable<claim_outcome> claim_port(std::uint16_t, std::string) { co_return claim_outcome{true, {}, {}}; }
  /// Gives up this node's claim on `port`; never waits.
  virtual void release_port(std::uint16_t) {}
  /// Every live port claim (a single server: none).
  virtual net::awaitable<port_claims> list_port_claims() { co_return port_claims{}; }

  /// Mail from another node: (its name, the message).
  using mail_handler = std::function<void(const std::string& from, const nlohmann::json& mail)>;
  /// Sends `mail` to node `to` (a cluster only); never waits, and may be lost: whoever waits for
  /// an answer has a deadline.
  virtual void post(const std::string&, const nlohmann::json&) {}
  /// Sends `mail` to every other node; never waits, and may be lost.
  virtual void broadcast(const nlohmann::json&) {}
  /// Where mail from other nodes goes (set before the first can arrive).
  virtual void on_mail(mail_handler) {}
};

}  // namespace rendezvous
