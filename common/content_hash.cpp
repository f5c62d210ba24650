#include "common/content_hash.hpp"

#include "common/crypto.hpp"

namespace crypto {

content_hash::content_hash() {
  ensure_sodium();
  crypto_generichash_init(&state_, nullptr, 0, 32);
}

void content_hash::update(std::span<const unsigned char> data) {
  crypto_generichash_update(&state_, data.data(), data.size());
}

std::string content_hash::hex_digest() {
  std::array<unsigned char, 32> digest{};
  crypto_generichash_final(&state_, digest.data(), digest.size());
  return to_hex(digest.data(), digest.size());
}

}  // namespace crypto
