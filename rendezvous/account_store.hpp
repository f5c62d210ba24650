// Accounts: who may use the server with a token of their own (`rendezvous user ...`), and what
// each may do. The one seam under where they are kept: a single server's SQLite state
// (sqlite_account_store); a cluster's Redis store is to come. Every call may take a round trip;
// failures throw std::runtime_error.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/identity.hpp"
#include "common/net.hpp"

namespace rendezvous {

/// One account.
struct account {
  std::string name;
  identity::public_key verifier{};   ///< of its token (account_token::verifier_of); never the secret
  long long created = 0;             ///< Unix seconds
  std::optional<long long> expires;  ///< Unix seconds: refused from then on
  bool disabled = false;
  std::optional<int> max_ids;        ///< most IDs it may own
  /// Ports it may expose (within the server's --expose-ports); nothing: all of the server's.
  std::optional<std::pair<std::uint16_t, std::uint16_t>> expose_ports;
  /// Bytes a calendar month (UTC) the server may carry for it, relayed and exposed together;
  /// nothing: no cap. Direct traffic never reaches the server and is not counted.
  std::optional<std::uint64_t> relay_quota;
};

class account_store {
 public:
  virtual ~account_store() = default;
  /// Every account, sorted by name.
  virtual net::awaitable<std::vector<account>> all() = 0;
  virtual net::awaitable<std::optional<account>> find(std::string name) = 0;
  /// Adds `a`; false if its name is taken.
  virtual net::awaitable<bool> add(account a) = 0;
  /// Replaces the account named `a.name`; false if there is none.
  virtual net::awaitable<bool> replace(account a) = 0;
  /// Removes account `name` and releases the IDs it owns (their pins): how many, or nothing if
  /// there is no such account.
  virtual net::awaitable<std::optional<int>> remove(std::string name) = 0;
  /// A number that changes whenever an account does (cheap: the server polls it).
  virtual net::awaitable<long long> version() = 0;
  /// Where the accounts are, for messages.
  virtual std::string where() const = 0;
  /// Lets go of the store's connection (a network store's keeps its event loop running).
  virtual void close() {}
};

}  // namespace rendezvous
