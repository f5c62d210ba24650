// Peer IDs: what a name registered on the server may look like.
#pragma once
#include <string_view>

namespace wire {

/// Longest ID a peer may register.
inline constexpr std::size_t max_peer_id_length = 64;

/// True for 1 to 64 characters of A-Z a-z 0-9 . _ -
bool is_valid_peer_id(std::string_view id);

}  // namespace wire
