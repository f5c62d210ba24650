// The whole-file hash of file transfer: BLAKE2b with a 256-bit digest (libsodium), the same as
// `b2sum -l 256`, so a user can check a received file with coreutils.
#pragma once
#include <array>
#include <span>
#include <string>

#include <sodium.h>

namespace crypto {

class content_hash {
 public:
  content_hash();
  void update(std::span<const unsigned char> data);
  /// Lowercase hex of the digest; the hash cannot be updated afterwards.
  std::string hex_digest();

 private:
  crypto_generichash_state state_;
};

}  // namespace crypto
