// The session record layer (session/record_cipher.cpp) with a fixed key.
// Byte 0: bit 0 picks the AEAD (0 AES-256-GCM via OpenSSL, 1 ChaCha20-Poly1305 via libsodium);
// bit 1 the mode:
//  0  raw: the rest is a ciphertext stream, opened record by record as session.cpp does (records
//     that authenticate come from seeds sealed with the same key; the plaintext then goes through
//     the mux decoder). open() must stay inside its input and report need_more / oversized /
//     forged, never crash.
//  1  sealed: the rest is [u8 op][u16 position] then plaintexts as [u16 BE length][bytes]...; the
//     harness seals them into one stream, tampers with it by `op` (0 none, 1 flip a bit at
//     position, 2 truncate at position, 3 drop the first record, 4 swap the first two records)
//     and opens it: every record before the damage must come back exactly, the damaged one must
//     not open (forged, oversized or need_more), none after it may be accepted.
#include <algorithm>
#include <exception>

#include "fuzz/fuzz_util.hpp"
#include "session/mux_frame.hpp"
#include "session/record_cipher.hpp"

namespace {

constexpr const char* harness = "record_open";
using session::record_cipher;
using status = record_cipher::open_status;

session::record_key fixed_key() {
  session::record_key key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(0x42 + i);
  return key;
}

void raw_stream(session::aead_kind kind, std::vector<std::uint8_t> stream) {
  record_cipher opener(kind, fixed_key());
  std::size_t at = 0;
  for (int records = 0; records < 256; ++records) {
    const std::span<std::uint8_t> input(stream.data() + at, stream.size() - at);
    const auto result = opener.open(input);
    if (result.status != status::record) {
      FUZZ_CHECK(harness, result.consumed == 0 && result.plaintext.empty(), "a failed open consumed bytes");
      if (result.status == status::need_more && input.size() >= session::record_header_size) {
        const std::size_t length = (std::size_t{input[0]} << 24) | (std::size_t{input[1]} << 16) |
                                   (std::size_t{input[2]} << 8) | input[3];
        FUZZ_CHECK(harness, session::record_header_size + length > input.size(), "need_more with a whole record there");
      }
      return;
    }
    FUZZ_CHECK(harness, result.consumed >= session::record_header_size + session::record_tag_size &&
                            result.consumed <= input.size(),
               "consumed out of range");
    FUZZ_CHECK(harness, result.plaintext.size() == result.consumed - session::record_header_size - session::record_tag_size,
               "plaintext size is not record minus header and tag");
    FUZZ_CHECK(harness, result.plaintext.empty() || (result.plaintext.data() >= input.data() &&
                                                     result.plaintext.data() + result.plaintext.size() <= input.data() + input.size()),
               "plaintext points outside the input");
    if (auto frame = session::decode_frame(result.plaintext)) (void)session::payload_text(*frame);
    at += result.consumed;
  }
}

std::uint16_t be16(std::span<const std::uint8_t> b) { return static_cast<std::uint16_t>((b[0] << 8) | b[1]); }

void sealed_stream(session::aead_kind kind, std::span<const std::uint8_t> script) {
  if (script.size() < 3) return;
  const int op = script[0] % 5;
  const std::size_t position = be16(script.subspan(1));
  script = script.subspan(3);
  std::vector<std::vector<std::uint8_t>> plaintexts;
  while (script.size() >= 2 && plaintexts.size() < 16) {
    const std::size_t n = std::min<std::size_t>(be16(script), script.size() - 2);
    plaintexts.emplace_back(script.begin() + 2, script.begin() + 2 + static_cast<std::ptrdiff_t>(n));
    script = script.subspan(2 + n);
  }
  if (plaintexts.empty()) return;

  record_cipher sealer(kind, fixed_key());
  std::vector<std::uint8_t> stream;
  std::vector<std::size_t> ends;  // where each sealed record ends in `stream`
  for (std::size_t i = 0; i < plaintexts.size(); ++i) {
    const auto& p = plaintexts[i];
    if (i % 2 == 0) {
      sealer.seal(p, stream);
    } else {  // the two-part seal (frame header + payload) must produce the same kind of record
      const std::size_t cut = std::min<std::size_t>(session::frame_header_size, p.size());
      sealer.seal(std::span(p).first(cut), std::span(p).subspan(cut), stream);
    }
    ends.push_back(stream.size());
    FUZZ_CHECK(harness, ends.back() - (i ? ends[i - 1] : 0) == session::record_header_size + p.size() + session::record_tag_size,
               "a sealed record has the wrong size");
  }

  std::size_t intact = plaintexts.size();  // records that must open
  switch (op) {
    case 1: {  // flip one bit
      const std::size_t at = position % stream.size();
      stream[at] ^= static_cast<std::uint8_t>(1u << (position % 8));
      intact = static_cast<std::size_t>(std::upper_bound(ends.begin(), ends.end(), at) - ends.begin());
      break;
    }
    case 2: {  // truncate
      const std::size_t at = position % stream.size();
      stream.resize(at);
      intact = static_cast<std::size_t>(std::upper_bound(ends.begin(), ends.end(), at) - ends.begin());
      break;
    }
    case 3:  // drop the first record: the second now meets nonce 0
      stream.erase(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(ends[0]));
      intact = 0;
      break;
    case 4:  // swap the first two records
      if (plaintexts.size() < 2) break;
      std::rotate(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(ends[0]),
                  stream.begin() + static_cast<std::ptrdiff_t>(ends[1]));
      intact = 0;
      break;
    default:
      break;
  }

  record_cipher opener(kind, fixed_key());
  std::size_t at = 0;
  for (std::size_t i = 0;; ++i) {
    const auto result = opener.open(std::span(stream.data() + at, stream.size() - at));
    if (i < intact) {
      FUZZ_CHECK(harness, result.status == status::record, "record " + std::to_string(i) + " sealed with the key did not open");
      FUZZ_CHECK(harness, std::equal(result.plaintext.begin(), result.plaintext.end(), plaintexts[i].begin(), plaintexts[i].end()),
                 "record " + std::to_string(i) + " opened to another plaintext");
      at += result.consumed;
      continue;
    }
    FUZZ_CHECK(harness, result.status != status::record,
               "record " + std::to_string(i) + " opened after tampering (op " + std::to_string(op) + ")");
    if (op == 0) FUZZ_CHECK(harness, result.status == status::need_more && at == stream.size(), "untouched stream did not end cleanly");
    break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto kind = (data[0] & 1) ? session::aead_kind::chacha20poly1305 : session::aead_kind::aes256gcm;
  try {
    if (data[0] & 2) {
      sealed_stream(kind, std::span(data + 1, size - 1));
    } else {
      raw_stream(kind, std::vector<std::uint8_t>(data + 1, data + size));
    }
  } catch (const std::exception& e) {
    fuzz::fail(harness, std::string("record layer threw: ") + e.what());
  }
  return 0;
}
