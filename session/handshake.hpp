// The session handshake: an authenticated key exchange over the freshly opened path (direct or
// relayed). Each side sends a hello with its long-term identity key (Ed25519), a fresh ephemeral
// X25519 key (crypto_kx) and the AEADs it can run; then each signs the transcript of both hellos
// with its identity key. Record keys come from the ephemeral exchange (crypto_kx session keys)
// bound to the transcript with keyed BLAKE2b, so they are forward secret and tied to both
// identities. This is the signed Diffie-Hellman of ISO/IEC 9798-3 / SIGMA, built only from
// libsodium primitives.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/identity.hpp"
#include "common/net.hpp"
#include "session/record_cipher.hpp"

namespace session {

/// What the handshake agrees on.
struct session_keys {
  aead_kind aead = aead_kind::chacha20poly1305;
  record_key send{};
  record_key receive{};
  identity::public_key peer{};
  /// Both sides offered "resume": each keeps what it sent until the other acknowledges it, so
  /// the session can go on over a new path when its path dies (session::resume_on).
  bool resumable = false;
};

/// Which keys we accept from the other side.
struct peer_expectation {
  std::optional<identity::public_key> vouched;  ///< the key the server introduced the peer with
  std::string pinned;                           ///< --expect-key: a fingerprint or key, or empty
  std::string peer_name = "the peer";           ///< for messages
};

/// The pure handshake state of one side. Order: hello() / take_peer_hello() / auth() / finish().
class handshake_state {
 public:
  handshake_state(const identity::key_pair& me, bool initiator);
  ~handshake_state();

  nlohmann::json hello() const;
  /// Takes the other side's hello; returns why it is unacceptable, if it is.
  std::optional<std::string> take_peer_hello(const nlohmann::json& hello);
  /// Our signature over the transcript (after take_peer_hello).
  nlohmann::json auth() const;
  /// Checks the other side's signature and key; the record keys, or why the peer is refused.
  struct outcome {
    std::optional<session_keys> keys;
    std::string failure;
    bool key_refused = false;  ///< a wrong or forged key, as opposed to a garbled message
  };
  outcome finish(const nlohmann::json& auth, const peer_expectation& expect) const;

 private:
  std::string transcript_signed_text(bool by_initiator) const;

  const identity::key_pair& me_;
  bool initiator_;
  std::array<std::uint8_t, 32> ephemeral_public_{};
  std::array<std::uint8_t, 32> ephemeral_secret_{};
  std::vector<aead_kind> aeads_;
  // Known after the peer's hello.
  identity::public_key peer_identity_{};
  std::array<std::uint8_t, 32> peer_ephemeral_{};
  aead_kind chosen_ = aead_kind::chacha20poly1305;
  bool peer_resumes_ = false;  ///< the peer's hello offered the "resume" feature
  std::string transcript_hex_;
};

/// The result of running the handshake on a socket.
struct handshake_result {
  std::optional<session_keys> keys;
  std::string failure;
  bool key_refused = false;
  std::vector<std::uint8_t> leftover;  ///< record bytes that arrived behind the handshake
};

/// Runs the handshake on `socket` (whose first bytes may already sit in `received`) within
/// `deadline`. On failure the socket is left for the caller to close. (Keys and expectations are
/// taken by value: the coroutine may outlive the caller's temporaries.)
net::awaitable<handshake_result> run_handshake(net::tcp::socket& socket, std::vector<std::uint8_t> received,
                                               identity::key_pair me, bool initiator, peer_expectation expect,
                                               net::clock::time_point deadline);

}  // namespace session
