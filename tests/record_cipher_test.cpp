// The record layer and the handshake, as pure code: every way of altering records is caught, and
// the handshake refuses keys it should not accept.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include <sodium.h>

#include "session/handshake.hpp"
#include "session/record_cipher.hpp"

namespace {

using session::record_cipher;

session::record_key some_key(std::uint8_t seed) {
  session::record_key key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(seed + i);
  return key;
}

std::vector<std::uint8_t> bytes_of(const std::string& text) { return {text.begin(), text.end()}; }

TEST(RecordCipherInterop, AesGcmRecordsAreByteForByteLibsodiums) {
  // Sealed by OpenSSL (ours), opened by libsodium's AES-256-GCM with the same key, counter nonce
  // and length prefix as associated data: the construction did not change with the library.
  ASSERT_GE(sodium_init(), 0);
  if (!crypto_aead_aes256gcm_is_available()) GTEST_SKIP() << "no AES-NI";
  record_cipher ours(session::aead_kind::aes256gcm, some_key(9));
  const auto plaintext = bytes_of("the same construction, byte for byte");
  for (std::uint64_t counter = 0; counter < 3; ++counter) {
    std::vector<std::uint8_t> wire;
    ours.seal(plaintext, wire);
    std::array<std::uint8_t, 12> nonce{};
    for (int i = 0; i < 8; ++i) nonce[11 - i] = static_cast<std::uint8_t>(counter >> (8 * i));
    std::vector<std::uint8_t> opened(plaintext.size());
    unsigned long long size = 0;
    const auto key = some_key(9);
    ASSERT_EQ(crypto_aead_aes256gcm_decrypt(opened.data(), &size, nullptr, wire.data() + 4, wire.size() - 4, wire.data(), 4,
                                            nonce.data(), key.data()),
              0);
    EXPECT_EQ(opened, plaintext);
  }
}

class RecordCipherTest : public ::testing::TestWithParam<session::aead_kind> {
 protected:
  void SetUp() override {
    const auto kinds = session::available_aeads();
    if (std::find(kinds.begin(), kinds.end(), GetParam()) == kinds.end()) GTEST_SKIP() << "AEAD not on this CPU";
  }
  record_cipher sender_{GetParam(), some_key(1)};
  record_cipher receiver_{GetParam(), some_key(1)};
  /// Opens a copy (opening decrypts in place).
  record_cipher::open_status open(std::vector<std::uint8_t> wire) { return receiver_.open(wire).status; }
};

TEST_P(RecordCipherTest, RoundTripHidesThePlaintext) {
  std::vector<std::uint8_t> wire;
  sender_.seal(bytes_of("attack at dawn"), wire);
  const std::string needle = "attack";
  EXPECT_EQ(std::search(wire.begin(), wire.end(), needle.begin(), needle.end()), wire.end());
  const auto size = wire.size();
  auto result = receiver_.open(wire);
  ASSERT_EQ(result.status, record_cipher::open_status::record);
  EXPECT_EQ(result.consumed, size);
  EXPECT_EQ(std::string(result.plaintext.begin(), result.plaintext.end()), "attack at dawn");
}

TEST_P(RecordCipherTest, PartialRecordNeedsMore) {
  std::vector<std::uint8_t> wire;
  sender_.seal(bytes_of("hello"), wire);
  wire.pop_back();
  EXPECT_EQ(open(wire), record_cipher::open_status::need_more);
}

TEST_P(RecordCipherTest, EveryFlippedBitIsDetected) {
  std::vector<std::uint8_t> wire;
  sender_.seal(bytes_of("integrity matters"), wire);
  for (std::size_t byte = 4; byte < wire.size(); ++byte) {  // the length prefix is checked below
    record_cipher receiver(GetParam(), some_key(1));
    auto altered = wire;
    altered[byte] ^= 0x01;
    EXPECT_EQ(receiver.open(altered).status, record_cipher::open_status::forged) << "byte " << byte;
  }
}

TEST_P(RecordCipherTest, AlteredLengthIsDetected) {
  std::vector<std::uint8_t> wire;
  sender_.seal(bytes_of("integrity matters"), wire);
  wire[3] -= 1;  // claims one byte less: the tag no longer matches
  EXPECT_EQ(open(wire), record_cipher::open_status::forged);
}

TEST_P(RecordCipherTest, ReplayedRecordIsDetected) {
  std::vector<std::uint8_t> first;
  sender_.seal(bytes_of("pay 10"), first);
  ASSERT_EQ(open(first), record_cipher::open_status::record);
  EXPECT_EQ(open(first), record_cipher::open_status::forged);
}

TEST_P(RecordCipherTest, ReorderedRecordsAreDetected) {
  std::vector<std::uint8_t> first, second;
  sender_.seal(bytes_of("one"), first);
  sender_.seal(bytes_of("two"), second);
  EXPECT_EQ(open(second), record_cipher::open_status::forged);
}

TEST_P(RecordCipherTest, DroppedRecordIsDetected) {
  std::vector<std::uint8_t> first, second;
  sender_.seal(bytes_of("one"), first);
  sender_.seal(bytes_of("two"), second);
  (void)first;
  EXPECT_EQ(open(second), record_cipher::open_status::forged);
}

TEST_P(RecordCipherTest, WrongKeyIsDetected) {
  std::vector<std::uint8_t> wire;
  sender_.seal(bytes_of("secret"), wire);
  record_cipher stranger(GetParam(), some_key(2));
  EXPECT_EQ(stranger.open(wire).status, record_cipher::open_status::forged);
}

TEST_P(RecordCipherTest, ImpossibleLengthIsRefusedBeforeBuffering) {
  std::vector<std::uint8_t> wire{0x7f, 0xff, 0xff, 0xff};
  EXPECT_EQ(open(wire), record_cipher::open_status::oversized);
}

TEST(UnprotectedRecords, AreFramedOnlyAndStillRefuseImpossibleLengths) {
  // An expose channel's records: the length prefix and the plaintext, nothing else.
  record_cipher sender(session::unprotected), receiver(session::unprotected);
  std::vector<std::uint8_t> wire;
  const auto head = bytes_of("head:"), body = bytes_of("in the clear");
  sender.seal(head, body, wire);
  EXPECT_EQ(wire.size(), sender.sealed_size(head.size() + body.size()));
  EXPECT_EQ(wire.size(), session::record_header_size + head.size() + body.size());
  EXPECT_EQ(std::string(wire.begin() + 4, wire.end()), "head:in the clear");
  auto partial = std::vector<std::uint8_t>(wire.begin(), wire.end() - 1);
  EXPECT_EQ(receiver.open(partial).status, record_cipher::open_status::need_more);
  auto result = receiver.open(wire);
  ASSERT_EQ(result.status, record_cipher::open_status::record);
  EXPECT_EQ(result.consumed, wire.size());
  EXPECT_EQ(std::string(result.plaintext.begin(), result.plaintext.end()), "head:in the clear");
  std::vector<std::uint8_t> impossible{0x7f, 0xff, 0xff, 0xff};
  EXPECT_EQ(receiver.open(impossible).status, record_cipher::open_status::oversized);
}

INSTANTIATE_TEST_SUITE_P(Aeads, RecordCipherTest,
                         ::testing::Values(session::aead_kind::aes256gcm, session::aead_kind::chacha20poly1305),
                         [](const auto& info) { return std::string(session::to_string(info.param)); });

// --- handshake ---

struct handshake_run {
  session::handshake_state::outcome initiator, responder;
};

handshake_run shake(const identity::key_pair& a, const identity::key_pair& b, session::peer_expectation a_expects,
                    session::peer_expectation b_expects, const identity::key_pair* b_signs_with = nullptr) {
  session::handshake_state ia(a, true), rb(b, false);
  auto hello_a = ia.hello(), hello_b = rb.hello();
  if (b_signs_with) hello_b["identity"] = identity::to_hex(b_signs_with->pub);  // claims another key
  EXPECT_FALSE(ia.take_peer_hello(hello_b));
  EXPECT_FALSE(rb.take_peer_hello(hello_a));
  return {ia.finish(rb.auth(), a_expects), rb.finish(ia.auth(), b_expects)};
}

TEST(HandshakeTest, BothSidesDeriveMatchingKeysAndLearnEachOther) {
  const auto alice = identity::generate(), bob = identity::generate();
  auto run = shake(alice, bob, {bob.pub, "", "bob"}, {alice.pub, "", "alice"});
  ASSERT_TRUE(run.initiator.keys) << run.initiator.failure;
  ASSERT_TRUE(run.responder.keys) << run.responder.failure;
  EXPECT_EQ(run.initiator.keys->send, run.responder.keys->receive);
  EXPECT_EQ(run.initiator.keys->receive, run.responder.keys->send);
  EXPECT_NE(run.initiator.keys->send, run.initiator.keys->receive);
  EXPECT_EQ(run.initiator.keys->peer, bob.pub);
  EXPECT_EQ(run.responder.keys->peer, alice.pub);
}

TEST(HandshakeTest, FreshEphemeralKeysEveryTime) {
  const auto alice = identity::generate(), bob = identity::generate();
  auto first = shake(alice, bob, {}, {});
  auto second = shake(alice, bob, {}, {});
  ASSERT_TRUE(first.initiator.keys && second.initiator.keys);
  EXPECT_NE(first.initiator.keys->send, second.initiator.keys->send);
}

TEST(HandshakeTest, KeyOtherThanTheServerVouchedForIsRefused) {
  const auto alice = identity::generate(), bob = identity::generate(), mallory = identity::generate();
  auto run = shake(alice, mallory, {bob.pub, "", "bob"}, {});
  EXPECT_FALSE(run.initiator.keys);
  EXPECT_TRUE(run.initiator.key_refused);
  EXPECT_NE(run.initiator.failure.find("server introduced it with key " + identity::fingerprint(bob.pub)), std::string::npos)
      << run.initiator.failure;
}

TEST(HandshakeTest, ExpectKeyPinBeatsALyingServer) {
  const auto alice = identity::generate(), bob = identity::generate(), mallory = identity::generate();
  // The server vouches for mallory's key as "bob"; alice pinned bob's real fingerprint.
  auto run = shake(alice, mallory, {mallory.pub, identity::fingerprint(bob.pub), "bob"}, {});
  EXPECT_FALSE(run.initiator.keys);
  EXPECT_NE(run.initiator.failure.find("--expect-key"), std::string::npos) << run.initiator.failure;
  auto honest = shake(alice, bob, {bob.pub, identity::fingerprint(bob.pub), "bob"}, {});
  EXPECT_TRUE(honest.initiator.keys) << honest.initiator.failure;
}

TEST(HandshakeTest, ClaimingSomeoneElsesKeyFailsTheSignature) {
  const auto alice = identity::generate(), bob = identity::generate(), mallory = identity::generate();
  // mallory announces bob's public key but can only sign with her own.
  auto run = shake(alice, mallory, {bob.pub, "", "bob"}, {}, &bob);
  EXPECT_FALSE(run.initiator.keys);
  EXPECT_TRUE(run.initiator.key_refused);
  EXPECT_NE(run.initiator.failure.find("signature does not verify"), std::string::npos) << run.initiator.failure;
}

TEST(HandshakeTest, CipherNamesCannotSmuggleSeparatorsIntoTheTranscript) {
  // A man in the middle once could pad the cipher list so two different pairs of hellos hashed
  // alike; only known names are accepted now, and fields are length-prefixed.
  const auto alice = identity::generate(), bob = identity::generate();
  session::handshake_state state(alice, true);
  session::handshake_state other(bob, false);
  auto hello = other.hello();
  hello["aead"] = {"w", "|" + identity::to_hex(bob.pub) + "|00|aes256gcm", "chacha20poly1305"};
  const auto refusal = state.take_peer_hello(hello);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(*refusal, "the peer offers an unknown cipher");
}

TEST(HandshakeTest, MalformedHelloIsRefused) {
  const auto alice = identity::generate();
  session::handshake_state state(alice, true);
  EXPECT_TRUE(state.take_peer_hello({{"type", "session_hello"}, {"version", 1}}));
  EXPECT_TRUE(state.take_peer_hello({{"type", "session_hello"}, {"version", 2}}));
  EXPECT_TRUE(state.take_peer_hello({{"type", "other"}}));
}

TEST(IdentityTest, FingerprintMatchingIgnoresCaseAndSeparators) {
  const auto keys = identity::generate();
  const auto fingerprint = identity::fingerprint(keys.pub);
  EXPECT_EQ(fingerprint.size(), 44u);
  EXPECT_TRUE(identity::matches(keys.pub, fingerprint));
  std::string upper = fingerprint;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(identity::matches(keys.pub, upper));
  EXPECT_TRUE(identity::matches(keys.pub, identity::to_hex(keys.pub)));
  EXPECT_FALSE(identity::matches(identity::generate().pub, fingerprint));
  EXPECT_FALSE(identity::matches(keys.pub, "not hex"));
}

TEST(IdentityTest, CreatedOnceWithMode0600AndRefusedWhenOpenToOthers) {
  const auto dir = std::filesystem::temp_directory_path() / ("hp-identity-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const auto file = dir / "nested" / "identity";
  bool created = false;
  const auto first = identity::load_or_create(file, &created);
  EXPECT_TRUE(created);
  EXPECT_EQ(std::filesystem::status(file).permissions() & std::filesystem::perms::all, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const auto again = identity::load_or_create(file, &created);
  EXPECT_FALSE(created);
  EXPECT_EQ(first.pub, again.pub);
  std::filesystem::permissions(file, std::filesystem::perms::group_read, std::filesystem::perm_options::add);
  EXPECT_THROW(identity::load_or_create(file), identity::identity_error);
  std::filesystem::remove_all(dir);
}

}  // namespace
