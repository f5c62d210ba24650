#include "common/identity.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/crypto.hpp"

namespace identity {
namespace {

constexpr std::string_view file_header = "holepunch-identity-v1";

using crypto::ensure_sodium;
using crypto::to_hex;

template <std::size_t N>
std::optional<std::array<std::uint8_t, N>> bytes_from_hex(std::string_view hex) {
  std::array<std::uint8_t, N> out{};
  std::size_t length = 0;
  const char* end = nullptr;
  if (hex.size() != N * 2) return std::nullopt;
  if (sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &length, &end) != 0 || length != N ||
      end != hex.data() + hex.size()) {
    return std::nullopt;
  }
  return out;
}

/// Lowercase hex digits of `text`, separators dropped; nothing if another character appears.
std::optional<std::string> normalised_hex(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ':' || c == '-' || c == ' ') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

std::string fingerprint_digits(const public_key& key) {
  std::array<std::uint8_t, 20> digest{};
  crypto_generichash(digest.data(), digest.size(), key.data(), key.size(), nullptr, 0);
  return to_hex(digest.data(), digest.size());
}

void write_new_identity(const std::filesystem::path& path, const key_pair& keys) {
  std::error_code ec;
  if (path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) throw identity_error("cannot create " + path.parent_path().string() + ": " + ec.message());
  }
  // O_EXCL: two first runs at once must not both write; the loser reads the winner's file.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return;
    throw identity_error("cannot create identity file " + path.string() + ": " + std::strerror(errno));
  }
  const std::string text = std::string(file_header) + "\n" + to_hex(keys.secret.data(), keys.secret.size()) + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!written) {
    ::unlink(path.c_str());
    throw identity_error("cannot write identity file " + path.string());
  }
}

}  // namespace

key_pair generate() {
  ensure_sodium();
  key_pair keys;
  crypto_sign_keypair(keys.pub.data(), keys.secret.data());
  return keys;
}

std::filesystem::path default_path() {
  const char* data_home = std::getenv("XDG_DATA_HOME");
  if (data_home && *data_home) return std::filesystem::path(data_home) / "holepunch" / "identity";
  const char* home = std::getenv("HOME");
  if (!home || !*home) throw identity_error("neither XDG_DATA_HOME nor HOME is set: pass --identity FILE");
  return std::filesystem::path(home) / ".local" / "share" / "holepunch" / "identity";
}

key_pair load_or_create(const std::filesystem::path& path, bool* created) {
  ensure_sodium();
  if (created) *created = false;
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    if (errno != ENOENT) throw identity_error("cannot read identity file " + path.string() + ": " + std::strerror(errno));
    write_new_identity(path, generate());
    if (created) *created = true;
    if (::stat(path.c_str(), &info) != 0) throw identity_error("identity file " + path.string() + " vanished");
  }
  if ((info.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
    throw identity_error("identity file " + path.string() + " is open to other users (mode " + mode +
                         "); run: chmod 600 " + path.string());
  }
  std::ifstream in(path);
  std::string header, secret_hex;
  std::getline(in, header);
  std::getline(in, secret_hex);
  if (!in || header != file_header) throw identity_error("identity file " + path.string() + " is not a holepunch identity");
  auto secret = bytes_from_hex<64>(secret_hex);
  if (!secret) throw identity_error("identity file " + path.string() + " holds a malformed key");
  key_pair keys;
  keys.secret = *secret;
  crypto_sign_ed25519_sk_to_pk(keys.pub.data(), keys.secret.data());
  return keys;
}

std::string fingerprint(const public_key& key) {
  const auto digits = fingerprint_digits(key);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); i += 8) {
    if (i) out.push_back('-');
    out += digits.substr(i, 8);
  }
  return out;
}

bool matches(const public_key& key, std::string_view expected) {
  const auto hex = normalised_hex(expected);
  if (!hex) return false;
  if (hex->size() == 64) return *hex == to_hex(key);
  return hex->size() == 40 && *hex == fingerprint_digits(key);
}

bool is_key_reference(std::string_view text) {
  const auto hex = normalised_hex(text);
  return hex && (hex->size() == 40 || hex->size() == 64);
}

std::string to_hex(const public_key& key) { return to_hex(key.data(), key.size()); }

std::optional<public_key> public_key_from_hex(std::string_view hex) { return bytes_from_hex<32>(hex); }

signature sign(const key_pair& keys, std::string_view message) {
  ensure_sodium();
  signature sig{};
  crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       keys.secret.data());
  return sig;
}

std::string sign_hex(const key_pair& keys, std::string_view message) {
  const auto sig = sign(keys, message);
  return to_hex(sig.data(), sig.size());
}

bool verify(const public_key& key, std::string_view message, const signature& sig) {
  ensure_sodium();
  return crypto_sign_verify_detached(sig.data(), reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                                     key.data()) == 0;
}

bool verify_hex(const public_key& key, std::string_view message, std::string_view signature_hex) {
  const auto sig = bytes_from_hex<64>(signature_hex);
  return sig && verify(key, message, *sig);
}

std::string server_proof_message(std::string_view challenge) {
  return "holepunch-server-auth-v1:" + std::string(challenge);
}

nlohmann::json server_auth_message(const key_pair& keys, std::string_view challenge, const std::string& token_proof) {
  return {{"type", "auth"},
          {"proof", token_proof},
          {"key", to_hex(keys.pub)},
          {"key_sig", sign_hex(keys, server_proof_message(challenge))}};
}

}  // namespace identity
