// Accounts in a single server's state database (DIR/pins.sqlite3, beside the pins that say
// which account owns each ID). Safe to use from an operator's command while the server runs.
#pragma once
#include <filesystem>

#include "rendezvous/account_store.hpp"
#include "rendezvous/state_db.hpp"

namespace rendezvous {

class sqlite_account_store : public account_store {
 public:
  explicit sqlite_account_store(const std::filesystem::path& state_dir,
                                std::chrono::milliseconds busy_wait = std::chrono::seconds(5))
      : db_(state_dir, busy_wait) {}

  net::awaitable<std::vector<account>> all() override;
  net::awaitable<std::optional<account>> find(std::string name) override;
  net::awaitable<bool> add(account a) override;
  net::awaitable<bool> replace(account a) override;
  net::awaitable<std::optional<int>> remove(std::string name) override;
  net::awaitable<long long> version() override;
  std::string where() const override { return db_.file().string(); }

 private:
  /// Counts a change (inside the transaction making it).
  void bump_version();
  state_db db_;
};

}  // namespace rendezvous
