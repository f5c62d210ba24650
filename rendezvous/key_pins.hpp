// Durable ID -> public key pins (SQLite): the first registration of an ID pins its key, later
// registrations must prove the same key, and only an operator can release a pin (offline).
#pragma once
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/identity.hpp"

struct sqlite3;

namespace rendezvous {

/// The pin database at DIR/pins.sqlite3 (DIR created on demand). Throws std::runtime_error when
/// it cannot be opened or written.
class key_pins {
 public:
  explicit key_pins(const std::filesystem::path& state_dir);
  ~key_pins();
  key_pins(const key_pins&) = delete;
  key_pins& operator=(const key_pins&) = delete;

  enum class verdict { pinned_now, matches, conflicts };
  /// Pins `key` for `id` if the ID is new; otherwise says whether the pinned key is `key`.
  verdict check_or_pin(const std::string& id, const identity::public_key& key);
  /// The key pinned for `id`, if any.
  std::optional<identity::public_key> pinned(const std::string& id);
  /// Forgets the pin of `id`; returns whether there was one.
  bool release(const std::string& id);
  /// Every pinned ID with its key's fingerprint, sorted by ID.
  std::vector<std::pair<std::string, std::string>> list();
  const std::filesystem::path& file() const { return file_; }

 private:
  void execute(const char* sql);
  std::filesystem::path file_;
  sqlite3* db_ = nullptr;
};

}  // namespace rendezvous
