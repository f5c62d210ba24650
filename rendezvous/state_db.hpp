// The server's durable state on one host: DIR/pins.sqlite3, holding the ID -> key pins (and the
// account owning each ID), the accounts, and a change counter for the accounts. Each user
// (the server's pins, its account book, an operator's command) opens its own connection; WAL
// mode lets the operator's commands run while the server does.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include "common/identity.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace rendezvous {

/// One connection to the state database, with the schema in place. Throws std::runtime_error
/// when it cannot be opened or written.
class state_db {
 public:
  explicit state_db(const std::filesystem::path& state_dir);
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

}  // namespace rendezvous
