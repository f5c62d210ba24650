// The server's durable state on one host: DIR/pins.sqlite3, holding the ID -> key pins (and the
// account owning each ID), the accounts, and a change counter for the accounts. Each user
// (the server's pins, its account book, an operator's command) opens its own connection; WAL
// mode lets the operator's commands run while the server does.
#pragma once
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "common/identity.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace rendezvous {

/// How long the server's own connections wait for a lock an operator's command holds: its one
/// thread serves everyone meanwhile.
inline constexpr std::chrono::milliseconds server_busy_wait{250};

/// One connection to the state database, with the schema in place. Throws std::runtime_error
/// when it cannot be opened or written.
class state_db {
 public:
  /// `busy_wait`: how long a statement waits for another connection's write lock before it
  /// fails (the server's thread waits little; an operator's command may wait longer).
  explicit state_db(const std::filesystem::path& state_dir, std::chrono::milliseconds busy_wait = std::chrono::seconds(5));
  ~state_db();
  state_db(const state_db&) = delete;
  state_db& operator=(const state_db&) = delete;

  /// Runs SQL that returns no rows.
  void execute(const char* sql);
  /// Rows changed by the last statement.
  int changes() const;
  sqlite3* handle() const { return db_; }
  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  sqlite3* db_ = nullptr;
};

/// One prepared statement, finalized on scope exit.
class statement {
 public:
  statement(const state_db& db, const char* sql);
  ~statement();
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  void bind(int index, const std::string& text);
  void bind(int index, const identity::public_key& key);
  void bind(int index, long long value);
  void bind_null(int index);
  /// Makes it ready to step again with new bindings.
  void reset();
  /// Steps once: true while a row is available.
  bool step();
  std::string text(int column) const;
  long long integer(int column) const;
  bool is_null(int column) const;
  std::optional<identity::public_key> key(int column) const;

 private:
  [[noreturn]] void fail(const char* what) const;
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

/// A write transaction (BEGIN IMMEDIATE): committed by commit(), rolled back if destroyed first.
class write_transaction {
 public:
  explicit write_transaction(state_db& db) : db_(db) { db_.execute("BEGIN IMMEDIATE"); }
  ~write_transaction();
  write_transaction(const write_transaction&) = delete;
  write_transaction& operator=(const write_transaction&) = delete;
  void commit();

 private:
  state_db& db_;
  bool done_ = false;
};

/// Seconds since the Unix epoch, now.
long long unix_now();
/// A Unix time as UTC text in strftime's `format` (at most 31 characters).
std::string utc_text(long long unix_seconds, const char* format = "%Y-%m-%dT%H:%M:%SZ");
/// The Unix time of UTC text, a day (2027-01-31: as it starts) or a time (2027-01-31T12:00:00Z);
/// nothing if it is neither, or names a day that does not exist (2027-02-31).
std::optional<long long> unix_time_of(const std::string& text);
/// The start of a day given as YYYY-MM-DD; nothing if it is not one.
std::optional<long long> day_start_of(const std::string& text);

}  // namespace rendezvous
