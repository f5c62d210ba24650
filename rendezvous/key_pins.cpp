#include "rendezvous/key_pins.hpp"

namespace rendezvous {
namespace {

long long ids_owned(const state_db& db, const std::string& account) {
  statement count(db, "SELECT COUNT(*) FROM pins WHERE owner = ?1");
  count.bind(1, account);
  count.step();
  return count.integer(0);
}

/// Whether `account` may own one more ID: nothing if so, else why not (read inside the
/// transaction that would pin it, so a limit just lowered holds).
std::optional<pin_verdict> may_own_another(const state_db& db, const std::string& account) {
  if (account.empty()) return std::nullopt;
  statement limit(db, "SELECT max_ids FROM accounts WHERE name = ?1");
  limit.bind(1, account);
  if (!limit.step()) return pin_verdict::no_account;
  if (!limit.is_null(0) && ids_owned(db, account) >= limit.integer(0)) return pin_verdict::over_id_limit;
  return std::nullopt;
}

}  // namespace

pin_verdict key_pins::check_or_pin(const std::string& id, const identity::public_key& key, const pin_owner& owner) {
  {
    // The common case, an ID registering again, reads without taking the write lock.
    statement query(db_, "SELECT key, owner FROM pins WHERE id = ?1");
    query.bind(1, id);
    if (query.step() && query.key(0) == key && query.text(1) == owner.account) return pin_verdict::matches;
  }
  write_transaction transaction(db_);
  statement query(db_, "SELECT key, owner FROM pins WHERE id = ?1");
  query.bind(1, id);
  if (!query.step()) {
    if (const auto refusal = may_own_another(db_, owner.account)) return *refusal;
    statement insert(db_, "INSERT INTO pins (id, key, pinned_at, owner) VALUES (?1, ?2, ?3, ?4)");
    insert.bind(1, id);
    insert.bind(2, key);
    insert.bind(3, unix_now());
    insert.bind(4, owner.account);
    insert.step();
    transaction.commit();
    return pin_verdict::pinned_now;
  }
  if (query.key(0) != key) return pin_verdict::conflicts;
  const auto pinned_owner = query.text(1);
  if (pinned_owner == owner.account) return pin_verdict::matches;
  if (!pinned_owner.empty()) return pin_verdict::owned_by_other;
  // Pinned before accounts (or by the server-wide token): the account proving its key takes it.
  if (const auto refusal = may_own_another(db_, owner.account)) return *refusal;
  statement adopt(db_, "UPDATE pins SET owner = ?2 WHERE id = ?1");
  adopt.bind(1, id);
  adopt.bind(2, owner.account);
  adopt.step();
  transaction.commit();
  return pin_verdict::matches;
}

std::optional<identity::public_key> key_pins::pinned(const std::string& id) {
  statement query(db_, "SELECT key FROM pins WHERE id = ?1");
  query.bind(1, id);
  if (!query.step()) return std::nullopt;
  return query.key(0);
}

std::optional<std::string> key_pins::owner(const std::string& id) {
  statement query(db_, "SELECT owner FROM pins WHERE id = ?1");
  query.bind(1, id);
  if (!query.step()) return std::nullopt;
  return query.text(0);
}

bool key_pins::release(const std::string& id) {
  statement remove(db_, "DELETE FROM pins WHERE id = ?1");
  remove.bind(1, id);
  remove.step();
  return db_.changes() == 1;
}

std::vector<std::pair<std::string, std::string>> key_pins::list() {
  statement query(db_, "SELECT id, key FROM pins ORDER BY id");
  std::vector<std::pair<std::string, std::string>> out;
  while (query.step()) {
    const auto key = query.key(1);
    out.emplace_back(query.text(0), key ? identity::fingerprint(*key) : "(malformed)");
  }
  return out;
}

}  // namespace rendezvous
