// Durable ID -> public key pins (SQLite): the first registration of an ID pins its key and makes
// it the registering account's, later registrations must prove the same key (and be that
// account), and only an operator can release a pin.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/identity.hpp"
#include "rendezvous/pin_outcome.hpp"
#include "rendezvous/state_db.hpp"

namespace rendezvous {

/// The pins in the state database at DIR/pins.sqlite3 (DIR created on demand). Throws
/// std::runtime_error when it cannot be opened or written.
class key_pins {
 public:
  explicit key_pins(const std::filesystem::path& state_dir, std::chrono::milliseconds busy_wait = std::chrono::seconds(5))
      : db_(state_dir, busy_wait) {}

  /// Pins `key` for `id` (owned by `owner.account`) if the ID is new; otherwise says whether the
  /// pinned key is `key` and the ID is the owner's. An ID pinned without an account is adopted
  /// by the first account that proves its key.
  pin_verdict check_or_pin(const std::string& id, const identity::public_key& key, const pin_owner& owner = {});
  /// The key pinned for `id`, if any.
  std::optional<identity::public_key> pinned(const std::string& id);
  /// The account owning `id` ("" for none), if it is pinned.
  std::optional<std::string> owner(const std::string& id);
  /// Forgets the pin of `id`; returns whether there was one.
  bool release(const std::string& id);
  /// Every pinned ID with its key's fingerprint, sorted by ID.
  std::vector<std::pair<std::string, std::string>> list();
  const std::filesystem::path& file() const { return db_.file(); }

 private:
  state_db db_;
};

}  // namespace rendezvous
