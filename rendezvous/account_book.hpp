// The server's view of the accounts: read from the store at start, read again whenever the
// store's version changes (the server polls it every second, so `rendezvous user disable` takes
// effect within about a second), and asked synchronously at every authentication.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "rendezvous/account_store.hpp"

namespace rendezvous {

/// Why an account may not (or may no longer) use the server: a wire error code and a message.
struct account_refusal {
  std::string code;
  std::string message;
};

class account_book {
 public:
  explicit account_book(std::unique_ptr<account_store> store) : store_(std::move(store)) {}

  /// Reads every account; throws if the store cannot be read.
  net::awaitable<void> load() { co_await load_from(*store_); }
  /// The same through `reader`, another connection to the same store (one on a loop of its own,
  /// to read before the server's loop runs).
  net::awaitable<void> load_from(account_store& reader);
  /// Reads them again if the store changed; true if it did. A store that cannot be read, or
  /// whose change counter went back (emptied or restored), keeps the accounts last read (logged,
  /// once a minute at most).
  net::awaitable<bool> refresh();
  /// True when there are no accounts.
  bool empty() const { return accounts_.empty(); }
  /// True once the state has held an account, even if none is left: from then on the server
  /// needs a token (removing the last account must not silently open it to anyone).
  bool in_use() const { return version_ > 0 || !accounts_.empty(); }
  std::size_t size() const { return accounts_.size(); }
  const account* find(const std::string& name) const;
  /// Whether any account has a relay quota (if none, nothing needs checking).
  bool any_quota() const { return any_quota_; }
  /// Whether `signature_hex` proves account `name`'s token for `challenge` and the account may
  /// connect at `now` (Unix seconds): nothing if so, else why not.
  std::optional<account_refusal> check(const std::string& name, std::string_view challenge,
                                       std::string_view signature_hex, long long now) const;
  /// Why a live connection of account `name`, authenticated by `verifier`, must close at `now`
  /// (removed, disabled, expired, or its token rotated); nothing if it may stay.
  std::optional<account_refusal> revoked(const std::string& name, const identity::public_key& verifier, long long now) const;
  /// Why account `name` may not be used at `now` at all (removed, disabled, expired), if so.
  std::optional<account_refusal> standing_of(const std::string& name, long long now) const;
  /// True once per passing of an account's expiry (live connections must be checked then).
  bool expiry_passed(long long now);
  const account_store& store() const { return *store_; }
  /// The server is stopping: lets go of the store's connection (a cluster's Redis one would keep
  /// the event loop from draining).
  void close() {
    closed_ = true;
    store_->close();
  }

 private:
  /// Why `a` may not connect at `now`, apart from its token.
  static std::optional<account_refusal> standing(const account& a, long long now);
  void take(std::vector<account> accounts);

  std::unique_ptr<account_store> store_;
  std::map<std::string, account> accounts_;
  long long version_ = -1;
  std::optional<long long> next_expiry_;
  bool any_quota_ = false;  ///< the soonest expiry still to come
  long long last_error_log_ = 0;
  bool closed_ = false;  ///< (a read failing then is the shutdown, not news)
};

}  // namespace rendezvous
