#include "rendezvous/usage_ledger.hpp"

namespace rendezvous {

void usage_ledger::add(const std::vector<usage_row>& id_rows, const std::vector<usage_row>& account_rows) {
  if (id_rows.empty() && account_rows.empty()) return;
  // Both statements number their parameters alike (?3, the ID, is unused per account), so one
  // loop binds either.
  const std::pair<const char*, const std::vector<usage_row>*> upserts[] = {
      {"INSERT INTO usage (day, account, id, relayed, exposed) VALUES (?1, ?2, ?3, ?4, ?5) "
       "ON CONFLICT (day, account, id) DO UPDATE SET relayed = relayed + excluded.relayed, exposed = exposed + excluded.exposed",
       &id_rows},
      {"INSERT INTO account_usage (day, account, relayed, exposed) VALUES (?1, ?2, ?4, ?5) "
       "ON CONFLICT (day, account) DO UPDATE SET relayed = relayed + excluded.relayed, exposed = exposed + excluded.exposed",
       &account_rows}};
  write_transaction transaction(db_);
  for (const auto& [sql, rows] : upserts) {
    statement upsert(db_, sql);
    for (const auto& row : *rows) {
      upsert.reset();
      upsert.bind(1, row.day);
      upsert.bind(2, row.account);
      upsert.bind(3, row.id);
      upsert.bind(4, static_cast<long long>(row.relayed));
      upsert.bind(5, static_cast<long long>(row.exposed));
      upsert.step();
    }
  }
  transaction.commit();
}

std::vector<usage_row> usage_ledger::since(const std::string& first_day, const std::optional<std::string>& account) {
  statement query(db_, account ? "SELECT day, account, id, relayed, exposed FROM usage WHERE day >= ?1 AND account = ?2 "
                                 "ORDER BY day, account, id"
                               : "SELECT day, account, id, relayed, exposed FROM usage WHERE day >= ?1 ORDER BY day, account, id");
  query.bind(1, first_day);
  if (account) query.bind(2, *account);
  std::vector<usage_row> rows;
  while (query.step()) {
    rows.push_back({query.text(0), query.text(1), query.text(2), static_cast<std::uint64_t>(query.integer(3)),
                    static_cast<std::uint64_t>(query.integer(4))});
  }
  return rows;
}

std::vector<usage_row> usage_ledger::account_totals_since(const std::string& first_day, const std::optional<std::string>& account) {
  statement query(db_, account ? "SELECT account, SUM(relayed), SUM(exposed) FROM account_usage WHERE day >= ?1 AND account = ?2 "
                                 "GROUP BY account ORDER BY account"
                               : "SELECT account, SUM(relayed), SUM(exposed) FROM account_usage WHERE day >= ?1 "
                                 "GROUP BY account ORDER BY account");
  query.bind(1, first_day);
  if (account) query.bind(2, *account);
  std::vector<usage_row> rows;
  while (query.step()) {
    rows.push_back({first_day, query.text(0), "", static_cast<std::uint64_t>(query.integer(1)),
                    static_cast<std::uint64_t>(query.integer(2))});
  }
  return rows;
}

std::map<std::string, std::uint64_t> usage_ledger::totals_since(const std::string& first_day) {
  std::map<std::string, std::uint64_t> totals;
  for (const auto& row : account_totals_since(first_day, std::nullopt)) totals[row.account] = row.relayed + row.exposed;
  return totals;
}

std::string day_of(long long unix_seconds) { return utc_text(unix_seconds, "%Y-%m-%d"); }

std::string month_start_of(long long unix_seconds) { return utc_text(unix_seconds, "%Y-%m-01"); }

}  // namespace rendezvous
