#include "common/account_token.hpp"

#include <sodium.h>

#include "common/crypto.hpp"
#include "common/peer_id.hpp"

namespace account_token {
namespace {

constexpr int base64_variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
constexpr std::string_view seed_context = "holepunch account v1:";

identity::key_pair keys_of(const token& t) {
  crypto::ensure_sodium();
  const std::string message = std::string(seed_context) + t.name;
  std::array<unsigned char, crypto_sign_SEEDBYTES> seed{};
  crypto_generichash(seed.data(), seed.size(), reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                     t.secret.data(), t.secret.size());
  identity::key_pair keys;
  crypto_sign_seed_keypair(keys.pub.data(), keys.secret.data(), seed.data());
  sodium_memzero(seed.data(), seed.size());
  return keys;
}

std::string proof_message(std::string_view name, std::string_view challenge) {
  std::string message = "holepunch account proof v1";
  message += '\0';
  message += name;
  message += '\0';
  message += challenge;
  return message;
}

}  // namespace

bool is_valid_name(std::string_view name) { return wire::is_valid_peer_id(name); }

std::optional<token> parse(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  token t;
  t.name = std::string(text.substr(0, colon));
  const auto secret = text.substr(colon + 1);
  if (!is_valid_name(t.name)) return std::nullopt;
  crypto::ensure_sodium();
  std::size_t length = 0;
  const char* end = nullptr;
  if (sodium_base642bin(t.secret.data(), t.secret.size(), secret.data(), secret.size(), nullptr, &length, &end,
                        base64_variant) != 0 ||
      length != t.secret.size() || end != secret.data() + secret.size()) {
    return std::nullopt;
  }
  return t;
}

token generate(const std::string& name) {
  crypto::ensure_sodium();
  token t;
  t.name = name;
  randombytes_buf(t.secret.data(), t.secret.size());
  return t;
}

std::string to_text(const token& t) {
  std::string encoded(sodium_base64_ENCODED_LEN(t.secret.size(), base64_variant), '\0');
  sodium_bin2base64(encoded.data(), encoded.size(), t.secret.data(), t.secret.size(), base64_variant);
  encoded.resize(encoded.find('\0'));
  return t.name + ":" + encoded;
}

identity::public_key verifier_of(const token& t) {
  auto keys = keys_of(t);
  sodium_memzero(keys.secret.data(), keys.secret.size());
  return keys.pub;
}

std::string prove(const token& t, std::string_view challenge) {
  auto keys = keys_of(t);
  auto signature = identity::sign_hex(keys, proof_message(t.name, challenge));
  sodium_memzero(keys.secret.data(), keys.secret.size());
  return signature;
}

bool verify(const identity::public_key& verifier, std::string_view name, std::string_view challenge,
            std::string_view signature_hex) {
  return identity::verify_hex(verifier, proof_message(name, challenge), signature_hex);
}

}  // namespace account_token
