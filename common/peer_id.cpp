#include "common/peer_id.hpp"

#include <algorithm>

namespace wire {

bool is_valid_peer_id(std::string_view id) {
  if (id.empty() || id.size() > max_peer_id_length) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

}  // namespace wire
