// Small cryptographic helpers over libsodium: random tokens and HMAC proofs.
#pragma once
#include <string>
#include <string_view>

namespace crypto {

/// Initialises libsodium once; throws if it cannot. Call before any libsodium function.
void ensure_sodium();
/// Lowercase hex of `size` bytes.
std::string to_hex(const unsigned char* data, std::size_t size);

/// Hex of `bytes` random bytes from the system CSPRNG.
std::string random_hex(std::size_t bytes);
/// Hex HMAC-SHA256 of `message` under `key`: proves knowledge of `key` without sending it.
std::string hmac_hex(std::string_view key, std::string_view message);
/// Constant-time comparison of two hex proofs.
bool proofs_equal(std::string_view a, std::string_view b);

}  // namespace crypto
