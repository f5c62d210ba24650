#include "session/handshake.hpp"

#include <sodium.h>

#include <algorithm>

#include <asio/experimental/awaitable_operators.hpp>

#include "common/crypto.hpp"
#include "common/frame_reader.hpp"
#include "common/json_fields.hpp"

namespace session {
namespace {

constexpr int protocol_version = 1;

using crypto::to_hex;

std::optional<std::array<std::uint8_t, 32>> key_from(const nlohmann::json& message, const char* field) {
  auto it = message.find(field);
  if (it == message.end() || !it->is_string()) return std::nullopt;
  return identity::public_key_from_hex(it->get_ref<const std::string&>());
}

std::vector<std::string> aead_names(const std::vector<aead_kind>& kinds) {
  std::vector<std::string> names;
  for (auto kind : kinds) names.emplace_back(to_string(kind));
  return names;
}

/// The cipher a hello names, if it is one we know.
std::optional<aead_kind> parse_aead(const std::string& name) {
  for (auto kind : {aead_kind::aes256gcm, aead_kind::chacha20poly1305}) {
    if (name == to_string(kind)) return kind;
  }
  return std::nullopt;
}

/// Appends `field` with its length in front, so no field can shift another's boundary.
void append_field(std::string& out, const std::string& field) {
  out += std::to_string(field.size()) + ":" + field;
}

/// keyed BLAKE2b-256(key, label | transcript): a record key bound to this very handshake.
record_key bind_key(const std::uint8_t* kx_key, const std::string& label, const std::string& transcript_hex) {
  const std::string input = label + "|" + transcript_hex;
  record_key out{};
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(input.data()), input.size(), kx_key,
                     crypto_kx_SESSIONKEYBYTES);
  return out;
}

}  // namespace

handshake_state::handshake_state(const identity::key_pair& me, bool initiator)
    : me_(me), initiator_(initiator), aeads_(available_aeads()) {
  crypto_kx_keypair(ephemeral_public_.data(), ephemeral_secret_.data());
}

handshake_state::~handshake_state() { sodium_memzero(ephemeral_secret_.data(), ephemeral_secret_.size()); }

nlohmann::json handshake_state::hello() const {
  return {{"type", "session_hello"},
          {"version", protocol_version},
          {"identity", identity::to_hex(me_.pub)},
          {"ephemeral", to_hex(ephemeral_public_.data(), ephemeral_public_.size())},
          {"aead", aead_names(aeads_)},
          // Optional abilities; a peer ignores names it does not know (older ones send none).
          {"features", nlohmann::json::array({"resume"})}};
}

std::optional<std::string> handshake_state::take_peer_hello(const nlohmann::json& hello) {
  if (hello.value("type", "") != "session_hello") return "expected a session hello, got '" + hello.value("type", "?") + "'";
  // Read as a checked integer: a version of 1e300 is another version, never a cast out of range.
  const auto version = hello.find("version");
  if (version != hello.end() && !version->is_number()) return "malformed session hello";
  if (version == hello.end() || wire::to_integer(*version) != protocol_version) {
    return "the peer speaks another session protocol version";
  }
  const auto identity = key_from(hello, "identity");
  const auto ephemeral = key_from(hello, "ephemeral");
  const auto offered = hello.find("aead");
  if (!identity || !ephemeral || offered == hello.end() || !offered->is_array()) return "malformed session hello";
  std::vector<aead_kind> theirs;
  for (const auto& name : *offered) {
    // Only names we know: nothing the peer sends may carry separators into the transcript.
    if (!name.is_string() || theirs.size() == 8) return "malformed session hello";
    const auto kind = parse_aead(name.get_ref<const std::string&>());
    if (!kind) return "the peer offers an unknown cipher";
    theirs.push_back(*kind);
  }
  if (const auto features = hello.find("features"); features != hello.end()) {
    if (!features->is_array() || features->size() > 16) return "malformed session hello";
    for (const auto& name : *features) peer_resumes_ = peer_resumes_ || (name.is_string() && name == "resume");
  }
  peer_identity_ = *identity;
  peer_ephemeral_ = *ephemeral;
  // The initiator's preference decides; both sides compute the same choice.
  const auto& preference = initiator_ ? aeads_ : theirs;
  const auto& other = initiator_ ? theirs : aeads_;
  const auto common = std::find_if(preference.begin(), preference.end(), [&](aead_kind kind) {
    return std::find(other.begin(), other.end(), kind) != other.end();
  });
  if (common == preference.end()) return "no cipher in common with the peer";
  chosen_ = *common;
  // The transcript: both hellos in initiator-then-responder order.
  const auto side_text = [](const identity::public_key& id, const std::array<std::uint8_t, 32>& eph,
                            const std::vector<aead_kind>& aead) {
    std::string text;
    append_field(text, identity::to_hex(id));
    append_field(text, to_hex(eph.data(), eph.size()));
    append_field(text, std::to_string(aead.size()));
    for (auto kind : aead) append_field(text, to_string(kind));
    return text;
  };
  const auto my_text = side_text(me_.pub, ephemeral_public_, aeads_);
  const auto their_text = side_text(peer_identity_, peer_ephemeral_, theirs);
  std::string transcript;
  append_field(transcript, "holepunch-session-v1");
  append_field(transcript, initiator_ ? my_text : their_text);
  append_field(transcript, initiator_ ? their_text : my_text);
  std::array<std::uint8_t, 32> digest{};
  crypto_generichash(digest.data(), digest.size(), reinterpret_cast<const unsigned char*>(transcript.data()),
                     transcript.size(), nullptr, 0);
  transcript_hex_ = to_hex(digest.data(), digest.size());
  return std::nullopt;
}

std::string handshake_state::transcript_signed_text(bool by_initiator) const {
  return std::string("holepunch-session-auth-v1|") + (by_initiator ? "initiator" : "responder") + "|" + transcript_hex_;
}

nlohmann::json handshake_state::auth() const {
  return {{"type", "session_auth"}, {"sig", identity::sign_hex(me_, transcript_signed_text(initiator_))}};
}

handshake_state::outcome handshake_state::finish(const nlohmann::json& auth, const peer_expectation& expect) const {
  outcome result;
  if (auth.value("type", "") != "session_auth") {
    result.failure = "expected a session auth, got '" + auth.value("type", "?") + "'";
    return result;
  }
  const auto fingerprint = identity::fingerprint(peer_identity_);
  if (!identity::verify_hex(peer_identity_, transcript_signed_text(!initiator_), auth.value("sig", ""))) {
    result.key_refused = true;
    result.failure = expect.peer_name + "'s handshake signature does not verify for key " + fingerprint;
    return result;
  }
  if (expect.vouched && *expect.vouched != peer_identity_) {
    result.key_refused = true;
    result.failure = expect.peer_name + " presented key " + fingerprint + ", but the server introduced it with key " +
                     identity::fingerprint(*expect.vouched) + ": refusing (someone may be in the middle)";
    return result;
  }
  if (!expect.pinned.empty() && !identity::matches(peer_identity_, expect.pinned)) {
    result.key_refused = true;
    result.failure = expect.peer_name + "'s key is " + fingerprint + ", not the expected " + expect.pinned + " (--expect-key)";
    return result;
  }
  std::array<std::uint8_t, crypto_kx_SESSIONKEYBYTES> rx{}, tx{};
  const int rc = initiator_ ? crypto_kx_client_session_keys(rx.data(), tx.data(), ephemeral_public_.data(),
                                                            ephemeral_secret_.data(), peer_ephemeral_.data())
                            : crypto_kx_server_session_keys(rx.data(), tx.data(), ephemeral_public_.data(),
                                                            ephemeral_secret_.data(), peer_ephemeral_.data());
  if (rc != 0) {
    result.failure = expect.peer_name + " sent an unusable ephemeral key";
    return result;
  }
  session_keys keys;
  keys.aead = chosen_;
  keys.send = bind_key(tx.data(), "record", transcript_hex_);
  keys.receive = bind_key(rx.data(), "record", transcript_hex_);
  keys.peer = peer_identity_;
  keys.resumable = peer_resumes_;
  sodium_memzero(rx.data(), rx.size());
  sodium_memzero(tx.data(), tx.size());
  result.keys = keys;
  return result;
}

net::awaitable<handshake_result> run_handshake(net::tcp::socket& socket, std::vector<std::uint8_t> received,
                                               identity::key_pair me, bool initiator, peer_expectation expect,
                                               net::clock::time_point deadline) {
  using namespace asio::experimental::awaitable_operators;
  handshake_result result;
  handshake_state state(me, initiator);
  wire::frame_reader reader(std::move(received));
  // Sends our frame, reads theirs; on failure, says which step failed and how.
  auto trade = [&](const char* step, const nlohmann::json& ours) -> net::awaitable<std::optional<nlohmann::json>> {
    if (auto ec = co_await wire::write_frame(socket, ours)) {
      result.failure = std::string("sending the session ") + step + ": " + ec.message();
      co_return std::nullopt;
    }
    auto theirs = co_await reader.read(socket);
    if (!theirs.message) result.failure = std::string("reading the session ") + step + ": " + wire::describe(theirs);
    co_return std::move(theirs.message);
  };
  auto exchange = [&]() -> net::awaitable<void> {
    const auto hello = state.hello();
    const auto their_hello = co_await trade("hello", hello);
    if (!their_hello) co_return;
    std::optional<std::string> refusal;
    try {
      refusal = state.take_peer_hello(*their_hello);
    } catch (const nlohmann::json::exception&) {
      refusal = "malformed session hello";  // a field of the wrong type
    }
    if (refusal) {
      result.failure = *refusal;
      co_return;
    }
    const auto auth = state.auth();
    const auto their_auth = co_await trade("auth", auth);
    if (!their_auth) co_return;
    handshake_state::outcome outcome;
    try {
      outcome = state.finish(*their_auth, expect);
    } catch (const nlohmann::json::exception&) {
      outcome.failure = "malformed session auth";
    }
    result.keys = outcome.keys;
    result.failure = outcome.failure;
    result.key_refused = outcome.key_refused;
  };
  asio::steady_timer timer(socket.get_executor(), deadline);
  auto which = co_await (exchange() || timer.async_wait(net::use_nothrow));
  if (which.index() == 1) {
    result.keys.reset();
    result.failure = "the session handshake did not finish in time";
  }
  result.leftover = reader.take_leftover();
  co_return result;
}

}  // namespace session
