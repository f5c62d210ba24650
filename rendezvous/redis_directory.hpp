// The directory of a cluster of rendezvous nodes sharing one Redis (--cluster redis://...).
// Keys (the README's cluster section documents them for operators):
//   hp:node:NODE  a node's lease: JSON {main, hole, relay, advertise, started}, expiring after
//                 --node-lease unless the node refreshes it (every third of that)
//   hp:reg:ID     hash {node, info}: the node holding ID's registration, live while that node's
//                 lease is; taken atomically (a script), released by the holder when its peer leaves
//   hp:pins       hash ID -> the hex key pinned for it (durable: run Redis with AOF or RDB)
//   hp:port:PORT  hash {node, info: {owner}}: the node whose peer exposes PORT, claimed and kept
//                 like a registration (every node listens on it and forwards its clients)
//   hp:mail:NODE  a pub/sub channel: JSON {from, mail} for the node (attempts and clients of its
//                 peers); at most once, so every wait on mail has a deadline
//   hp:mail       a pub/sub channel every node hears: ports exposed and closed
// A node that dies releases every ID it held when its lease expires (its hp:reg keys are skipped
// at once and swept by the live nodes about once a lease); one that restarts under the same name
// first clears the registrations its previous run left.
#pragma once
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <asio/steady_timer.hpp>

#include "cluster/redis_client.hpp"
#include "rendezvous/peer_directory.hpp"

namespace rendezvous {

class client_session;

class redis_directory : public peer_directory {
 public:
  /// `registry` is this node's ID -> live main connection map (re-claimed after an outage).
  redis_directory(const asio::any_io_executor& ex, cluster::redis_address address, std::string node,
                  nlohmann::json node_info, std::chrono::milliseconds lease,
                  const std::map<std::string, std::shared_ptr<client_session>>& registry);
  ~redis_directory() override;

  /// Clears this node's leftovers and starts keeping its lease.
  void start();
  void stop() override;

  net::awaitable<pin_outcome> check_or_pin(std::string id, identity::public_key key, pin_owner owner) override;
  net::awaitable<claim_outcome> claim(std::string id, nlohmann::json info) override;
  void release(const std::string& id) override;
  net::awaitable<location> locate(std::string id) override;
  void describe(const std::string& id, const nlohmann::json& info) override;
  net::awaitable<claim_outcome> claim_port(std::uint16_t port, std::string owner) override;
  void release_port(std::uint16_t port) override;
  net::awaitable<port_claims> list_port_claims() override;
  void post(const std::string& to, const nlohmann::json& mail) override;
  void broadcast(const nlohmann::json& mail) override;
  void on_mail(mail_handler handler) override { on_mail_ = std::move(handler); }
  net::awaitable<listing> list(std::size_t max) override;
  const std::string& node() const override { return node_; }
  bool connected() const { return client_->connected(); }
  std::optional<bool> link_up() const override { return connected(); }

 private:
  net::awaitable<void> keep_lease();
  /// Takes KEYS (hp:reg:ID or hp:port:PORT) for this node unless a live node holds it.
  net::awaitable<claim_outcome> claim_key(std::string key, nlohmann::json info);
  /// After an outage: claims every ID and port this node holds again.
  net::awaitable<void> reassert();
  /// Runs a command nobody waits for; a failure is logged as `what`.
  void fire_and_forget(std::vector<std::string> command, std::string what);
  void receive_mail(const std::string& payload);

  asio::any_io_executor executor_;
  std::shared_ptr<cluster::redis_client> client_;  ///< shared with the tasks that may outlive us
  std::string node_;
  nlohmann::json node_info_;
  std::chrono::milliseconds lease_;
  const std::map<std::string, std::shared_ptr<client_session>>& registry_;
  std::shared_ptr<bool> running_ = std::make_shared<bool>(false);
  std::shared_ptr<asio::steady_timer> tick_;  ///< the lease loop's pause, cut short by stop()
  std::unique_ptr<cluster::redis_subscriber> mailbox_;  ///< hp:mail:NODE
  mail_handler on_mail_;
  std::map<std::uint16_t, std::string> held_ports_;  ///< port -> owner, claimed by us
  net::clock::time_point last_bad_mail_log_{};
};

/// The cluster's pins, for the operator's list-ids: (ID, key fingerprint) sorted by ID; an error
/// text instead when Redis cannot be asked.
net::awaitable<std::variant<std::vector<std::pair<std::string, std::string>>, std::string>> list_cluster_pins(
    cluster::redis_client& client);
/// Forgets `id`'s pin in the cluster (release-id): 1 if there was one, 0 if not, or an error text.
net::awaitable<std::variant<int, std::string>> release_cluster_pin(cluster::redis_client& client, std::string id);

}  // namespace rendezvous
