#include "rendezvous/sqlite_account_store.hpp"

namespace rendezvous {
namespace {

constexpr const char* columns = "name, verifier, created, expires, disabled, max_ids, expose_first, expose_last, relay_quota";

account account_of(const statement& row) {
  account a;
  a.name = row.text(0);
  a.verifier = row.key(1).value_or(identity::public_key{});
  a.created = row.integer(2);
  if (!row.is_null(3)) a.expires = row.integer(3);
  a.disabled = row.integer(4) != 0;
  if (!row.is_null(5)) a.max_ids = static_cast<int>(row.integer(5));
  if (!row.is_null(6) && !row.is_null(7)) {
    a.expose_ports = {static_cast<std::uint16_t>(row.integer(6)), static_cast<std::uint16_t>(row.integer(7))};
  }
  if (!row.is_null(8)) a.relay_quota = static_cast<std::uint64_t>(row.integer(8));
  return a;
}

/// Binds a's fields to ?1..?9 in the order of `columns`.
void bind_account(statement& s, const account& a) {
  s.bind(1, a.name);
  s.bind(2, a.verifier);
  s.bind(3, a.created);
  a.expires ? s.bind(4, *a.expires) : s.bind_null(4);
  s.bind(5, a.disabled ? 1LL : 0LL);
  a.max_ids ? s.bind(6, static_cast<long long>(*a.max_ids)) : s.bind_null(6);
  if (a.expose_ports) {
    s.bind(7, static_cast<long long>(a.expose_ports->first));
    s.bind(8, static_cast<long long>(a.expose_ports->second));
  } else {
    s.bind_null(7);
    s.bind_null(8);
  }
  a.relay_quota ? s.bind(9, static_cast<long long>(*a.relay_quota)) : s.bind_null(9);
}

}  // namespace

net::awaitable<std::vector<account>> sqlite_account_store::all() {
  statement query(db_, (std::string("SELECT ") + columns + " FROM accounts ORDER BY name").c_str());
  std::vector<account> out;
  while (query.step()) out.push_back(account_of(query));
  co_return out;
}

net::awaitable<std::optional<account>> sqlite_account_store::find(std::string name) {
  statement query(db_, (std::string("SELECT ") + columns + " FROM accounts WHERE name = ?1").c_str());
  query.bind(1, name);
  if (!query.step()) co_return std::nullopt;
  co_return account_of(query);
}

net::awaitable<bool> sqlite_account_store::add(account a) {
  write_transaction transaction(db_);
  statement insert(db_, (std::string("INSERT OR IGNORE INTO accounts (") + columns +
                         ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)").c_str());
  bind_account(insert, a);
  insert.step();
  if (db_.changes() != 1) co_return false;
  bump_version();
  transaction.commit();
  co_return true;
}

net::awaitable<bool> sqlite_account_store::replace(account a) {
  write_transaction transaction(db_);
  statement update(db_, "UPDATE accounts SET verifier = ?2, created = ?3, expires = ?4, disabled = ?5, max_ids = ?6, "
                        "expose_first = ?7, expose_last = ?8, relay_quota = ?9 WHERE name = ?1");
  bind_account(update, a);
  update.step();
  if (db_.changes() != 1) co_return false;
  bump_version();
  transaction.commit();
  co_return true;
}

net::awaitable<std::optional<int>> sqlite_account_store::remove(std::string name) {
  write_transaction transaction(db_);
  statement forget(db_, "DELETE FROM accounts WHERE name = ?1");
  forget.bind(1, name);
  forget.step();
  if (db_.changes() != 1) co_return std::nullopt;
  statement release(db_, "DELETE FROM pins WHERE owner = ?1");
  release.bind(1, name);
  release.step();
  const int released = db_.changes();
  bump_version();
  transaction.commit();
  co_return released;
}

net::awaitable<long long> sqlite_account_store::version() {
  statement query(db_, "SELECT value FROM counters WHERE name = 'accounts'");
  co_return query.step() ? query.integer(0) : 0;
}

void sqlite_account_store::bump_version() {
  db_.execute("INSERT INTO counters (name, value) VALUES ('accounts', 1) "
              "ON CONFLICT (name) DO UPDATE SET value = value + 1");
}

}  // namespace rendezvous
