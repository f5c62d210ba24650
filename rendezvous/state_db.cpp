#include "rendezvous/state_db.hpp"

#include <sqlite3.h>

#include <chrono>
#include <ctime>
#include <cstring>
#include <stdexcept>

namespace rendezvous {
namespace {

bool has_column(state_db& db, const char* table, const char* column) {
  statement query(db, (std::string("SELECT 1 FROM pragma_table_info('") + table + "') WHERE name = ?1").c_str());
  query.bind(1, std::string(column));
  return query.step();
}

}  // namespace

state_db::state_db(const std::filesystem::path& state_dir, std::chrono::milliseconds busy_wait)
    : file_(state_dir / "pins.sqlite3") {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) throw std::runtime_error("cannot create state directory " + state_dir.string() + ": " + ec.message());
  if (sqlite3_open_v2(file_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw std::runtime_error("cannot open the state database " + file_.string() + ": " + why);
  }
  // An operator's command run while the server runs waits for the lock instead of failing (the
  // schema is set up under the lock, so a server and a command opening an old state at once
  // do not both migrate it).
  sqlite3_busy_timeout(db_, 5000);
  execute("PRAGMA journal_mode=WAL");
  // In WAL mode NORMAL syncs at checkpoints, not at every commit: a pin survives the server's
  // crash or kill (it is in the WAL), and only a power loss can lose the last pins (see README).
  // Each new ID was an fdatasync on the server's only thread before: ~50 µs here, far more on a
  // slow disk, for every connection waiting behind it.
  execute("PRAGMA synchronous=NORMAL");
  write_transaction schema(*this);
  execute("CREATE TABLE IF NOT EXISTS pins (id TEXT PRIMARY KEY, key BLOB NOT NULL, pinned_at INTEGER NOT NULL)");
  // The account that owns each ID ('' for one registered with the server-wide token or on an
  // open server); added to the pins of a state made before accounts existed.
  if (!has_column(*this, "pins", "owner")) execute("ALTER TABLE pins ADD COLUMN owner TEXT NOT NULL DEFAULT ''");
  execute("CREATE INDEX IF NOT EXISTS pins_by_owner ON pins (owner)");
  execute("CREATE TABLE IF NOT EXISTS accounts (name TEXT PRIMARY KEY, verifier BLOB NOT NULL, created INTEGER NOT NULL, "
          "expires INTEGER, disabled INTEGER NOT NULL DEFAULT 0, max_ids INTEGER, expose_first INTEGER, expose_last INTEGER)");
  // Bytes a month (UTC) the server may carry for the account; added to an earlier accounts table.
  if (!has_column(*this, "accounts", "relay_quota")) execute("ALTER TABLE accounts ADD COLUMN relay_quota INTEGER");
  execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)");
  // Bytes the server carried per day (UTC), account ('' for none) and ID: relayed for pairs with
  // another peer, exposed for clients of the ID's exposed ports.
  execute("CREATE TABLE IF NOT EXISTS usage (day TEXT NOT NULL, account TEXT NOT NULL, id TEXT NOT NULL, "
          "relayed INTEGER NOT NULL DEFAULT 0, exposed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (day, account, id))");
  // The same per account, each byte once: two IDs of one account on one relayed pair are both in
  // `usage`, but the account was carried those bytes once (what its quota counts).
  execute("CREATE TABLE IF NOT EXISTS account_usage (day TEXT NOT NULL, account TEXT NOT NULL, "
          "relayed INTEGER NOT NULL DEFAULT 0, exposed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (day, account))");
  schema.commit();
  sqlite3_busy_timeout(db_, static_cast<int>(busy_wait.count()));
}

state_db::~state_db() { sqlite3_close(db_); }

void state_db::execute(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string why = error ? error : "?";
    sqlite3_free(error);
    throw std::runtime_error("state database " + file_.string() + ": " + why);
  }
}

int state_db::changes() const { return sqlite3_changes(db_); }

statement::statement(const state_db& db, const char* sql) : db_(db.handle()) {
  if (sqlite3_prepare_v2(db_, sql, -1, &stmt_, nullptr) != SQLITE_OK) fail("prepare");
}

statement::~statement() { sqlite3_finalize(stmt_); }

void statement::bind(int index, const std::string& text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

void statement::bind(int index, const identity::public_key& key) {
  sqlite3_bind_blob(stmt_, index, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
}

void statement::bind(int index, long long value) { sqlite3_bind_int64(stmt_, index, value); }

void statement::bind_null(int index) { sqlite3_bind_null(stmt_, index); }

void statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) fail("step");
  return false;
}

std::string statement::text(int column) const {
  const auto* data = sqlite3_column_text(stmt_, column);
  return data ? reinterpret_cast<const char*>(data) : "";
}

long long statement::integer(int column) const { return sqlite3_column_int64(stmt_, column); }

bool statement::is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

std::optional<identity::public_key> statement::key(int column) const {
  identity::public_key key{};
  if (sqlite3_column_bytes(stmt_, column) != static_cast<int>(key.size())) return std::nullopt;
  std::memcpy(key.data(), sqlite3_column_blob(stmt_, column), key.size());
  return key;
}

void statement::fail(const char* what) const {
  throw std::runtime_error(std::string("state database: ") + what + ": " + sqlite3_errmsg(db_));
}

write_transaction::~write_transaction() {
  if (done_) return;
  try {
    db_.execute("ROLLBACK");
  } catch (const std::exception&) {
    // (nothing more can be done: the connection rolls back when it closes)
  }
}

void write_transaction::commit() {
  db_.execute("COMMIT");
  done_ = true;
}

std::string utc_text(long long unix_seconds, const char* format) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm parts{};
  gmtime_r(&t, &parts);
  char text[32];
  return std::string(text, std::strftime(text, sizeof text, format, &parts));
}

std::optional<long long> unix_time_of(const std::string& text) {
  std::tm parts{};
  const char* end = nullptr;
  if (text.size() == 10) end = strptime(text.c_str(), "%Y-%m-%d", &parts);
  if (text.size() == 20) end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &parts);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const auto fields = parts;
  const auto when = static_cast<long long>(timegm(&parts));
  // timegm rolls 2027-02-31 over into March: such a date is refused, not moved.
  if (parts.tm_mday != fields.tm_mday || parts.tm_mon != fields.tm_mon || parts.tm_year != fields.tm_year) return std::nullopt;
  return when;
}

std::optional<long long> day_start_of(const std::string& text) {
  if (text.size() != 10) return std::nullopt;
  return unix_time_of(text);
}

long long unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace rendezvous
