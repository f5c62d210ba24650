// A peer's long-term identity: an Ed25519 key pair (libsodium) kept in a 0600 file, its public
// key's fingerprint, and signatures that prove possession of it (to the server at registration,
// to the other peer in the session handshake).
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace identity {

using public_key = std::array<std::uint8_t, 32>;
using secret_key = std::array<std::uint8_t, 64>;
using signature = std::array<std::uint8_t, 64>;

/// A long-term key pair.
struct key_pair {
  public_key pub{};
  secret_key secret{};
};

/// A missing, unreadable, malformed or too-open identity file.
class identity_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A fresh key pair from the system CSPRNG.
key_pair generate();
/// `$XDG_DATA_HOME/holepunch/identity` (or `~/.local/share/holepunch/identity`).
std::filesystem::path default_path();
/// Loads the key pair at `path`, creating it (mode 0600, parent directories 0700) if absent.
/// Refuses a file that others can read. `created` says whether a new one was made.
key_pair load_or_create(const std::filesystem::path& path, bool* created = nullptr);

/// The fingerprint users compare and pin: 40 hex digits of BLAKE2b over the public key, in
/// five groups of eight ("1a2b3c4d-...").
std::string fingerprint(const public_key& key);
/// Whether `expected` names `key`: its fingerprint or its full public key in hex, case and
/// separators (':' '-' ' ') ignored.
bool matches(const public_key& key, std::string_view expected);
/// Whether `text` is shaped like a fingerprint or a public key (for flag validation).
bool is_key_reference(std::string_view text);

std::string to_hex(const public_key& key);
std::optional<public_key> public_key_from_hex(std::string_view hex);

/// Ed25519 signature of `message`.
signature sign(const key_pair& keys, std::string_view message);
std::string sign_hex(const key_pair& keys, std::string_view message);
/// Whether `signature_hex` is a valid signature of `message` by `key`.
bool verify_hex(const public_key& key, std::string_view message, std::string_view signature_hex);
bool verify(const public_key& key, std::string_view message, const signature& sig);

/// What a peer signs to prove its key to the server: bound to the server's fresh challenge.
std::string server_proof_message(std::string_view challenge);
/// The "auth" message answering the server's hello: the token proof (may be empty) and our key
/// with its signature over the challenge.
nlohmann::json server_auth_message(const key_pair& keys, std::string_view challenge, const std::string& token_proof);

}  // namespace identity
