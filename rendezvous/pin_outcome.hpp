// What a registration asks of the ID pins, and their answer: the same for a single server's
// SQLite pins and a cluster's Redis ones.
#pragma once
#include <optional>
#include <string>

namespace rendezvous {

/// Who registers an ID: the account owning it ("" for the server-wide token or an open server)
/// and the most IDs that account may own (nothing: no limit).
struct pin_owner {
  std::string account;
  std::optional<int> max_ids;
};

/// How an ID's key and owner compare with its pin.
enum class pin_verdict {
  pinned_now,      ///< a new ID: now pinned to the key (and owned by the account)
  matches,         ///< the pinned key, and the ID is the account's (or it now is: an unowned ID adopted)
  conflicts,       ///< another key is pinned
  owned_by_other,  ///< the key matches but another account owns the ID
  over_id_limit,   ///< a new ID, and the account already owns as many as it may
  unavailable,     ///< the pins could not be asked
};

struct pin_outcome {
  pin_verdict verdict = pin_verdict::unavailable;
  std::string detail;  ///< why it is unavailable
};

}  // namespace rendezvous
