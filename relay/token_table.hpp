// One-time relay tokens: a pair has one token per side, each handed only to that side, so
// holding one token never lets anyone take the other side. A token is single use, expires, and
// a half that waits past the expiry is handed back to be closed. Pure bookkeeping (no I/O),
// generic over what a "half" is so it can be unit-tested.
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
    std::array<std::string, 2> payers;  ///< whom each side's bytes are charged to (as issued)
    std::optional<Half> rejected;      ///< the presented half, handed back when not kept
  };

  /// Issues a pair between `names[0]` (side 0) and `names[1]` (side 1): one token per side.
  /// `payers` say whom each side's bytes are charged to (handed back with the pair).
  std::array<std::string, 2> issue(std::array<std::string, 2> names, net::clock::time_point expires,
                                   std::array<std::string, 2> payers = {}) {
    const auto pair_id = crypto::random_hex(8);
    std::array<std::string, 2> tokens{crypto::random_hex(16), crypto::random_hex(16)};
    entries_[pair_id] = entry{std::move(names), std::move(payers), expires, std::nullopt, tokens};
    for (int side = 0; side < 2; ++side) sides_[tokens[side]] = {pair_id, side};
    return tokens;
  }

  /// Issues a pair whose side `side` is already here (e.g. a public client of an exposed port);
  /// returns the other side's token.
  std::string issue_with(std::array<std::string, 2> names, net::clock::time_point expires, int side, Half half,
                         std::array<std::string, 2> payers = {}) {
    auto tokens = issue(std::move(names), expires, std::move(payers));
    auto& e = entries_[sides_[tokens[side]].first];
    e.waiting.emplace(std::move(half));
    sides_.erase(tokens[side]);  // nobody may present the side that is already here
    return tokens[1 - side];
  }

  /// Presents `token` with `half`. On `waiting` the table keeps the half.
  claim_result claim(const std::string& token, Half half, net::clock::time_point now) {
    claim_result result;
    auto side_it = sides_.find(token);
    if (side_it == sides_.end()) {
      result.outcome = used_.contains(token)      ? claim_outcome::reused
                       : expired_.contains(token) ? claim_outcome::expired
                                                  : claim_outcome::unknown;
      result.rejected.emplace(std::move(half));
      return result;
    }
    const auto [pair_id, side] = side_it->second;
    auto& e = entries_.at(pair_id);
    result.names = e.names;
    result.payers = e.payers;
    if (now >= e.expires) {
      result.outcome = claim_outcome::expired;
      result.rejected.emplace(std::move(half));
      return result;
    }
    forget_token(token);
    if (!e.waiting) {
      e.waiting.emplace(std::move(half));
      result.outcome = claim_outcome::waiting;
      return result;
    }
    std::array<Half, 2> pair = side == 1 ? std::array<Half, 2>{std::move(*e.waiting), std::move(half)}
                                         : std::array<Half, 2>{std::move(half), std::move(*e.waiting)};
    result.pair.emplace(std::move(pair));
    result.outcome = claim_outcome::paired;
    entries_.erase(pair_id);
    return result;
  }

  /// Withdraws a pair by either of its tokens (e.g. the exposed service could not be reached);
  /// returns the waiting half, if any, so the caller can close it.
  std::optional<Half> cancel(const std::string& token) {
    auto side_it = sides_.find(token);
    if (side_it == sides_.end()) return std::nullopt;
    auto it = entries_.find(side_it->second.first);
    auto half = std::move(it->second.waiting);
    for (const auto& t : it->second.tokens) forget_token(t);
    entries_.erase(it);
    return half;
  }

  /// Removes expired pairs; returns their waiting halves (to be closed) with their names.
  std::vector<std::pair<Half, std::array<std::string, 2>>> expire(net::clock::time_point now) {
    std::vector<std::pair<Half, std::array<std::string, 2>>> stale;
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (now < it->second.expires) {
        ++it;
        continue;
      }
      if (it->second.waiting) stale.emplace_back(std::move(*it->second.waiting), it->second.names);
      for (const auto& token : it->second.tokens) {
        if (sides_.erase(token)) expired_[token] = it->second.expires + remember_used_for;
      }
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
    std::array<std::string, 2> payers;
    net::clock::time_point expires;
    std::optional<Half> waiting;
    std::array<std::string, 2> tokens;
  };
  /// A presented token is remembered as used (to say "reused", not "unknown", next time).
  void forget_token(const std::string& token) {
    auto it = sides_.find(token);
    if (it == sides_.end()) return;
    used_[token] = entries_.at(it->second.first).expires + remember_used_for;
    sides_.erase(it);
  }
  std::map<std::string, entry> entries_;                         ///< pair id -> pair
  std::map<std::string, std::pair<std::string, int>> sides_;    ///< live token -> (pair id, side)
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
