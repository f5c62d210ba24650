// One-time relay tokens: each joins exactly two halves (side 0 and side 1) of one relayed pair.
// A token is single use, expires, and a half that waits past the expiry is handed back to be
// closed. Pure bookkeeping (no I/O), generic over what a "half" is so it can be unit-tested.
#pragma once
#include <array>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/crypto.hpp"
#include "common/net.hpp"

namespace relay {

/// What presenting a token led to.
enum class claim_outcome {
  unknown,     ///< never issued (or forgotten long ago)
  expired,     ///< issued, but its time ran out
  reused,      ///< already joined a pair, or this side already presented it
  waiting,     ///< first half: kept until the partner arrives
  paired,      ///< second half: here is the pair
};
const char* to_string(claim_outcome outcome);

template <typename Half>
class token_table {
 public:
  /// The outcome of a claim; `pair` is set when paired ([0] side 0, [1] side 1).
  struct claim_result {
    claim_outcome outcome = claim_outcome::unknown;
    std::optional<std::array<Half, 2>> pair;
    std::array<std::string, 2> names;  ///< who the sides are (for logs and accounting)
    std::optional<Half> rejected;      ///< the presented half, handed back when not kept
  };

  /// Issues a token for a pair between `names[0]` (side 0) and `names[1]` (side 1).
  std::string issue(std::array<std::string, 2> names, net::clock::time_point expires) {
    auto token = crypto::random_hex(16);
    entries_[token] = entry{std::move(names), expires, std::nullopt, -1};
    return token;
  }

  /// Issues a token whose side `side` is already here (e.g. a public client of an exposed port).
  std::string issue_with(std::array<std::string, 2> names, net::clock::time_point expires, int side, Half half) {
    auto token = issue(std::move(names), expires);
    auto& e = entries_[token];
    e.waiting.emplace(std::move(half));
    e.waiting_side = side;
    return token;
  }

  /// Presents `token` for `side` (0 or 1) with `half`. On `waiting` the table keeps the half.
  claim_result claim(const std::string& token, int side, Half half, net::clock::time_point now) {
    claim_result result;
    auto it = entries_.find(token);
    if (it == entries_.end()) {
      result.outcome = used_.contains(token)      ? claim_outcome::reused
                       : expired_.contains(token) ? claim_outcome::expired
                                                  : claim_outcome::unknown;
      result.rejected.emplace(std::move(half));
      return result;
    }
    auto& e = it->second;
    result.names = e.names;
    if (now >= e.expires || (side != 0 && side != 1)) {
      result.outcome = now >= e.expires ? claim_outcome::expired : claim_outcome::unknown;
      result.rejected.emplace(std::move(half));
      return result;
    }
    if (!e.waiting) {
      e.waiting.emplace(std::move(half));
      e.waiting_side = side;
      result.outcome = claim_outcome::waiting;
      return result;
    }
    if (e.waiting_side == side) {
      result.outcome = claim_outcome::reused;
      result.rejected.emplace(std::move(half));
      return result;
    }
    std::array<Half, 2> pair = side == 1 ? std::array<Half, 2>{std::move(*e.waiting), std::move(half)}
                                         : std::array<Half, 2>{std::move(half), std::move(*e.waiting)};
    result.pair.emplace(std::move(pair));
    result.outcome = claim_outcome::paired;
    used_[token] = e.expires + remember_used_for;
    entries_.erase(it);
    return result;
  }

  /// Withdraws a token (e.g. the exposing peer could not reach its local service); returns the
  /// waiting half, if any, so the caller can close it.
  std::optional<Half> cancel(const std::string& token) {
    auto it = entries_.find(token);
    if (it == entries_.end()) return std::nullopt;
    auto half = std::move(it->second.waiting);
    used_[token] = it->second.expires + remember_used_for;
    entries_.erase(it);
    return half;
  }

  /// Removes expired tokens; returns their waiting halves (to be closed) with their names.
  std::vector<std::pair<Half, std::array<std::string, 2>>> expire(net::clock::time_point now) {
    std::vector<std::pair<Half, std::array<std::string, 2>>> stale;
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (now < it->second.expires) {
        ++it;
        continue;
      }
      if (it->second.waiting) stale.emplace_back(std::move(*it->second.waiting), it->second.names);
      expired_[it->first] = it->second.expires + remember_used_for;
      it = entries_.erase(it);
    }
    std::erase_if(used_, [&](const auto& item) { return item.second <= now; });
    std::erase_if(expired_, [&](const auto& item) { return item.second <= now; });
    return stale;
  }

  std::size_t outstanding() const { return entries_.size(); }
  std::size_t waiting() const {
    std::size_t n = 0;
    for (const auto& [token, e] : entries_) n += e.waiting ? 1 : 0;
    return n;
  }

 private:
  static constexpr auto remember_used_for = std::chrono::seconds(60);
  struct entry {
    std::array<std::string, 2> names;
    net::clock::time_point expires;
    std::optional<Half> waiting;
    int waiting_side = -1;
  };
  std::map<std::string, entry> entries_;
  std::map<std::string, net::clock::time_point> used_;     ///< token -> forget after
  std::map<std::string, net::clock::time_point> expired_;  ///< token -> forget after
};

inline const char* to_string(claim_outcome outcome) {
  switch (outcome) {
    case claim_outcome::unknown: return "unknown token";
    case claim_outcome::expired: return "expired token";
    case claim_outcome::reused: return "token already used";
    case claim_outcome::waiting: return "waiting for the partner";
    case claim_outcome::paired: return "paired";
  }
  return "?";
}

}  // namespace relay
