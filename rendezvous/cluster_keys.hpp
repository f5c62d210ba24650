// The cluster store's keys that more than one part of the server touches: the ID pins, which
// account owns each pinned ID, and the accounts themselves (redis_directory.cpp holds the rest).
#pragma once
#include <string>

namespace rendezvous::cluster_keys {

inline const std::string pins = "hp:pins";                ///< HASH: ID -> identity key (hex)
inline const std::string pin_owners = "hp:pin_owner";     ///< HASH: ID -> the account owning it
inline const std::string owned_prefix = "hp:owned:";      ///< + ACCOUNT: SET of the IDs it owns
inline const std::string accounts = "hp:accounts";        ///< HASH: name -> the account (JSON)
inline const std::string accounts_version = "hp:accounts:version";  ///< INCR on every change

}  // namespace rendezvous::cluster_keys
