// What a registration asks of the ID pins, and their answer: the same for a single server's
// SQLite pins and a cluster's Redis ones.
#pragma once
#include <string>

namespace rendezvous {

/// Who registers an ID: the account owning it ("" for the server-wide token or an open server).
/// The pins read the account's ID limit themselves, where the account is kept, so a limit just
/// lowered (or an account just removed) holds at once.
struct pin_owner {
  std::string account;
};

/// How an ID's key and owner compare with its pin.
enum class pin_verdict {
  pinned_now,      ///< a new ID: now pinned to the key (and owned by the account)
  matches,         ///< the pinned key, and the ID is the account's (or it now is: an unowned ID adopted)
  conflicts,       ///< another key is pinned
  owned_by_other,  ///< the key matches but another account owns the ID
  over_id_limit,   ///< a new ID, and the account already owns as many as it may
  no_account,      ///< the account is gone (removed since it authenticated)
  unavailable,     ///< the pins could not be asked
};

struct pin_outcome {
  pin_verdict verdict = pin_verdict::unavailable;
  std::string detail;  ///< why it is unavailable
};

}  // namespace rendezvous
