// Accounts in a cluster's Redis (cluster_keys.hpp): every node reads them, and `rendezvous
// --cluster URL user ...` changes them while the nodes run. Each change is one script, so an
// account and the version the nodes poll move together, and removing an account releases the
// IDs it owns with it.
#pragma once
#include <memory>

#include "cluster/redis_client.hpp"
#include "rendezvous/account_store.hpp"

namespace rendezvous {

class redis_account_store : public account_store {
 public:
  redis_account_store(const asio::any_io_executor& ex, const cluster::redis_address& address);

  net::awaitable<std::vector<account>> all() override;
  net::awaitable<std::optional<account>> find(std::string name) override;
  net::awaitable<bool> add(account a) override;
  net::awaitable<bool> replace(account a) override;
  net::awaitable<std::optional<int>> remove(std::string name) override;
  net::awaitable<long long> version() override;
  std::string where() const override { return "the cluster's Redis (" + client_.address().display() + ")"; }
  void close() override { client_.close(); }

 private:
  /// Runs `command`; throws std::runtime_error on an error reply (Redis down, say).
  net::awaitable<cluster::redis_reply> ask(std::vector<std::string> command);
  cluster::redis_client client_;
};

/// An account as the cluster keeps it (JSON), and back; nothing if the text is not one.
std::string account_text(const account& a);
std::optional<account> account_from_text(const std::string& name, const std::string& text);

}  // namespace rendezvous
