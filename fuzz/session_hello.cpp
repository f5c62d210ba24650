// The session handshake's message parsing (session/handshake.cpp, class handshake_state):
// take_peer_hello on the other side's hello, then finish on its auth, both wrapped exactly as
// run_handshake wraps them (it catches nlohmann::json::exception and nothing else). Each message
// goes through wire::decode first, as frame_reader hands it over.
//
// Input: [u8 flags][hello body] NUL [auth body]. flags bit 0: we are the initiator; bit 1: the
// server vouched for a (fixed) key; bit 2: a pinned --expect-key.
#include <sodium.h>

#include <exception>
#include <typeinfo>
#include <variant>

#include "common/crypto.hpp"
#include "common/frame_codec.hpp"
#include "fuzz/fuzz_wire.hpp"
#include "session/handshake.hpp"

namespace {

constexpr const char* harness = "session_hello";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const identity::key_pair me = fuzz::fixed_keys(0x11);
  static const identity::key_pair other = fuzz::fixed_keys(0x22);
  if (size < 1) return 0;
  const std::uint8_t flags = data[0];
  const auto parts = fuzz::split_nul(fuzz::as_text(data + 1, size - 1), 2);

  const auto hello = fuzz::decode_body(harness, parts[0]);
  if (!hello) return 0;
  session::handshake_state state(me, flags & 1);
  (void)state.hello();
  std::optional<std::string> refusal;
  try {
    refusal = state.take_peer_hello(*hello);
  } catch (const nlohmann::json::exception&) {
    refusal = "malformed session hello";
  } catch (const std::exception& e) {
    fuzz::fail(harness, std::string("take_peer_hello threw past run_handshake's catch: ") + typeid(e).name() + ": " + e.what());
  }
  if (refusal) {
    FUZZ_CHECK(harness, !refusal->empty(), "an empty refusal");
    return 0;
  }
  try {
    (void)state.auth();
  } catch (const std::exception& e) {
    fuzz::fail(harness, std::string("auth() threw after an accepted hello: ") + e.what());
  }

  if (parts.size() < 2) return 0;
  const auto auth = fuzz::decode_body(harness, parts[1]);
  if (!auth) return 0;
  session::peer_expectation expect;
  if (flags & 2) expect.vouched = other.pub;
  if (flags & 4) expect.pinned = identity::fingerprint(other.pub);
  session::handshake_state::outcome outcome;
  try {
    outcome = state.finish(*auth, expect);
  } catch (const nlohmann::json::exception&) {
    outcome.failure = "malformed session auth";
  } catch (const std::exception& e) {
    fuzz::fail(harness, std::string("finish threw past run_handshake's catch: ") + typeid(e).name() + ": " + e.what());
  }
  // Nobody but the holder of the peer's secret key can sign the transcript (it holds a fresh
  // ephemeral key of ours): a fuzzed auth must never yield keys.
  FUZZ_CHECK(harness, !outcome.keys, "finish accepted a forged session auth");
  FUZZ_CHECK(harness, !outcome.failure.empty(), "finish refused without a reason");
  return 0;
}
