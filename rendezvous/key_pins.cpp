#include "rendezvous/key_pins.hpp"

#include <sqlite3.h>

#include <chrono>
#include <cstring>
#include <stdexcept>

namespace rendezvous {
namespace {

/// One prepared statement, finalized on scope exit.
class statement {
 public:
  statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) fail("prepare");
  }
  ~statement() { sqlite3_finalize(stmt_); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  void bind(int index, const std::string& text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  }
  void bind(int index, const identity::public_key& key) {
    sqlite3_bind_blob(stmt_, index, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
  }
  void bind(int index, long long value) { sqlite3_bind_int64(stmt_, index, value); }
  /// Steps once: true while a row is available.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) fail("step");
    return false;
  }
  std::string text(int column) const {
    const auto* data = sqlite3_column_text(stmt_, column);
    return data ? reinterpret_cast<const char*>(data) : "";
  }
  std::optional<identity::public_key> key(int column) const {
    identity::public_key key{};
    if (sqlite3_column_bytes(stmt_, column) != static_cast<int>(key.size())) return std::nullopt;
    std::memcpy(key.data(), sqlite3_column_blob(stmt_, column), key.size());
    return key;
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw std::runtime_error(std::string("key pin database: ") + what + ": " + sqlite3_errmsg(db_));
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

long long unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

key_pins::key_pins(const std::filesystem::path& state_dir) : file_(state_dir / "pins.sqlite3") {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) throw std::runtime_error("cannot create state directory " + state_dir.string() + ": " + ec.message());
  if (sqlite3_open_v2(file_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw std::runtime_error("cannot open key pin database " + file_.string() + ": " + why);
  }
  // A release-id run by the operator while the server runs waits for the lock instead of failing.
  sqlite3_busy_timeout(db_, 5000);
  execute("PRAGMA journal_mode=WAL");
  // In WAL mode NORMAL syncs at checkpoints, not at every commit: a pin survives the server's
  // crash or kill (it is in the WAL), and only a power loss can lose the last pins (see README).
  // Each new ID was an fdatasync on the server's only thread before: ~50 µs here, far more on a
  // slow disk, for every connection waiting behind it.
  execute("PRAGMA synchronous=NORMAL");
  execute("CREATE TABLE IF NOT EXISTS pins (id TEXT PRIMARY KEY, key BLOB NOT NULL, pinned_at INTEGER NOT NULL)");
}

key_pins::~key_pins() { sqlite3_close(db_); }

void key_pins::execute(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string why = error ? error : "?";
    sqlite3_free(error);
    throw std::runtime_error("key pin database " + file_.string() + ": " + why);
  }
}

key_pins::verdict key_pins::check_or_pin(const std::string& id, const identity::public_key& key) {
  statement insert(db_, "INSERT OR IGNORE INTO pins (id, key, pinned_at) VALUES (?1, ?2, ?3)");
  insert.bind(1, id);
  insert.bind(2, key);
  insert.bind(3, unix_now());
  insert.step();
  if (sqlite3_changes(db_) == 1) return verdict::pinned_now;
  return pinned(id) == key ? verdict::matches : verdict::conflicts;
}

std::optional<identity::public_key> key_pins::pinned(const std::string& id) {
  statement query(db_, "SELECT key FROM pins WHERE id = ?1");
  query.bind(1, id);
  if (!query.step()) return std::nullopt;
  return query.key(0);
}

bool key_pins::release(const std::string& id) {
  statement remove(db_, "DELETE FROM pins WHERE id = ?1");
  remove.bind(1, id);
  remove.step();
  return sqlite3_changes(db_) == 1;
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
