// Helpers for harnesses that feed frames or need identity keys: one copy, shared with the seed
// generator so harnesses and seeds agree on the keys.
#pragma once
#include <sodium.h>

#include <algorithm>
#include <iterator>
#include <optional>
#include <string_view>
#include <variant>

#include "common/crypto.hpp"
#include "common/frame_codec.hpp"
#include "common/identity.hpp"
#include "fuzz/fuzz_util.hpp"

namespace fuzz {

/// What wire::decode makes of one frame carrying `body` (its depth checked), or nothing if refused.
inline std::optional<nlohmann::json> decode_body(const char* harness, std::string_view body) {
  if (body.size() > wire::max_frame_body) return std::nullopt;
  auto result = wire::decode(frame_of(body));
  auto* decoded = std::get_if<wire::decoded>(&result);
  if (!decoded) return std::nullopt;
  check_depth(harness, decoded->message, "wire::decode");
  return std::move(decoded->message);
}

/// The key pair made from a seed of 32 `fill` bytes: the same on every run.
inline identity::key_pair fixed_keys(unsigned char fill) {
  crypto::ensure_sodium();
  identity::key_pair keys;
  unsigned char seed[crypto_sign_SEEDBYTES];
  std::fill(std::begin(seed), std::end(seed), fill);
  crypto_sign_seed_keypair(keys.pub.data(), keys.secret.data(), seed);
  return keys;
}

}  // namespace fuzz
