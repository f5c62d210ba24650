// Account tokens (`NAME:SECRET`): what `rendezvous user add` prints once and a peer passes as
// --token. SECRET is 32 random bytes in URL-safe base64. The server keeps only a verifier: the
// Ed25519 public key whose seed is BLAKE2b keyed by SECRET over the account name, so its state
// (SQLite or a copy of it) never lets anyone log in. A peer proves its token by signing the
// server's fresh challenge, bound to the account name, with the matching secret key.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/identity.hpp"

namespace account_token {

/// An account token taken apart.
struct token {
  std::string name;
  std::array<std::uint8_t, 32> secret{};
};

/// True for an account name: 1 to 64 of A-Z a-z 0-9 . _ - (as peer IDs).
bool is_valid_name(std::string_view name);
/// The token in `text`, if it is shaped like one (NAME:SECRET with a valid name and a 32-byte
/// secret); otherwise nothing (it may be a server-wide shared token).
std::optional<token> parse(std::string_view text);
/// A new token for `name` from the system CSPRNG.
token generate(const std::string& name);
/// Its text, NAME:SECRET.
std::string to_text(const token& t);
/// What the server stores for it.
identity::public_key verifier_of(const token& t);
/// The hex signature proving `t` for the server's `challenge`.
std::string prove(const token& t, std::string_view challenge);
/// Whether `signature_hex` proves the token of account `name` (whose verifier is `verifier`)
/// for `challenge`.
bool verify(const identity::public_key& verifier, std::string_view name, std::string_view challenge,
            std::string_view signature_hex);

}  // namespace account_token
