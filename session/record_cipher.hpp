// The record layer of a session: every record is [u32 BE length][AEAD ciphertext + tag] under
// a per-direction key, with the nonce a counter that is never sent. Tampering, replay,
// reordering and dropped records all fail authentication at the receiver; truncation of the
// stream is caught one layer up (a session must end with a close record).
//
// The AEAD is AES-256-GCM where the CPU has AES-NI (run by OpenSSL, the fastest implementation
// on Debian) and ChaCha20-Poly1305-IETF otherwise (libsodium); the handshake picks one both
// sides have.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace session {

enum class aead_kind { aes256gcm, chacha20poly1305 };
const char* to_string(aead_kind kind);
/// The AEADs this machine can run, best first.
std::vector<aead_kind> available_aeads();

using record_key = std::array<std::uint8_t, 32>;

/// Largest plaintext in one record, and so the largest length field a receiver accepts.
inline constexpr std::size_t max_record_plaintext = 64 * 1024 + 64;
inline constexpr std::size_t record_header_size = 4;
inline constexpr std::size_t record_tag_size = 16;

/// Asks for records that are framed but not encrypted: only for a link whose far end sees the
/// bytes in the clear anyway (the server's channel to an exposing peer carries public clients'
/// bytes). Never negotiated by the handshake, which knows only the AEADs above.
struct unprotected_t {
  explicit unprotected_t() = default;
};
inline constexpr unprotected_t unprotected{};

/// One direction's AEAD state and nonce counter.
class record_cipher {
 public:
  record_cipher(aead_kind kind, const record_key& key);
  /// Records are [u32 BE length][plaintext]: framing without protection (see unprotected_t).
  explicit record_cipher(unprotected_t);
  ~record_cipher();
  record_cipher(const record_cipher&) = delete;
  record_cipher& operator=(const record_cipher&) = delete;

  /// Appends one sealed record carrying `plaintext` (at most max_record_plaintext) to `out`.
  void seal(std::span<const std::uint8_t> plaintext, std::vector<std::uint8_t>& out);
  /// The same for a plaintext in two parts (a frame header and its payload).
  void seal(std::span<const std::uint8_t> head, std::span<const std::uint8_t> body, std::vector<std::uint8_t>& out);
  /// Bytes one sealed record of `plaintext_size` takes on the wire.
  std::size_t sealed_size(std::size_t plaintext_size) const { return record_header_size + plaintext_size + tag_size_; }
  /// Seals head + body into `out`, exactly sealed_size(head.size() + body.size()) bytes the caller
  /// provides (uninitialised is fine). AES-GCM encrypts straight from where the plaintext is:
  /// no copy of the payload before it is encrypted.
  void seal_into(std::uint8_t* out, std::span<const std::uint8_t> head, std::span<const std::uint8_t> body);

  enum class open_status { need_more, record, oversized, forged };
  struct open_result {
    open_status status = open_status::need_more;
    std::size_t consumed = 0;  ///< bytes of `input` the record took
    std::span<const std::uint8_t> plaintext;  ///< inside `input`
  };
  /// Opens the first record in `input`, decrypting it in place. need_more: not a whole record
  /// yet; oversized or forged: the session must end.
  open_result open(std::span<std::uint8_t> input);
  /// Records sealed (or opened) so far: the next record's number.
  std::uint64_t records() const { return counter_; }
  /// Bytes the sealed record at the start of `sealed` takes (its length field plus 4); 0 if
  /// fewer than 4 bytes are there.
  static std::size_t record_span(std::span<const std::uint8_t> sealed);

 private:
  struct state;
  std::array<std::uint8_t, 12> next_nonce();
  aead_kind kind_;
  std::unique_ptr<state> state_;  ///< null when unprotected
  std::size_t tag_size_ = record_tag_size;
  std::uint64_t counter_ = 0;
};

}  // namespace session
