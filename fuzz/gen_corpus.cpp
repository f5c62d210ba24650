// Writes the seed corpora fuzz/corpus/<harness>/ from valid encodings made with the project's own
// encoders (wire::encode, session::encode_frame, record_cipher::seal, handshake_state::hello,
// nat::make_punch_hello, stun::binding_request) and the formats in the code and tests/*.cpp.
// Run: make -f fuzz/Makefile corpus  (or build-fuzz/bin/gen_corpus DIR). Deterministic except
// the handshake's ephemeral keys, which are random by design.
#include <sodium.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "common/crypto.hpp"
#include "common/frame_codec.hpp"
#include "common/identity.hpp"
#include "fuzz/fuzz_wire.hpp"
#include "nat/punch_handshake.hpp"
#include "nat/stun_codec.hpp"
#include "session/handshake.hpp"
#include "session/mux_frame.hpp"
#include "session/record_cipher.hpp"

namespace {

using json = nlohmann::json;
using bytes = std::vector<std::uint8_t>;
std::filesystem::path root;

void write(const std::string& harness, const std::string& name, const bytes& data) {
  const auto dir = root / harness;
  std::filesystem::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary).write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}
bytes text(const std::string& s) { return {s.begin(), s.end()}; }
bytes cat(std::initializer_list<bytes> parts) {
  bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
bytes nul() { return {0}; }

// Messages as the rendezvous server and the peers send them (rendezvous/*.cpp, peer/*.cpp).
const std::vector<std::pair<std::string, json>> messages = {
    {"hello", {{"type", "hello"}, {"version", 1}, {"challenge", "0123456789abcdef0123456789abcdef"}, {"auth_required", false}}},
    {"auth", {{"type", "auth"}, {"proof", ""}, {"key", std::string(64, 'a')}, {"key_sig", std::string(128, 'b')}}},
    {"auth_ok", {{"type", "auth_ok"}}},
    {"register", {{"type", "register"}, {"id", "alice"}, {"req", 1}}},
    {"registered", {{"type", "registered"}, {"req", 1}, {"id", "alice"}, {"observed", "127.0.0.1:40000"}}},
    {"list", {{"type", "list"}, {"req", 2}}},
    {"peers", {{"type", "peers"}, {"req", 2}, {"ids", {"alice", "bob"}}, {"total", 2}, {"truncated", false}}},
    {"connect", {{"type", "connect"}, {"target", "bob"}, {"path", "auto"}, {"punch_timeout_ms", 5000}, {"req", 3}, {"as", "alice"}}},
    {"attempt", {{"type", "attempt"}, {"attempt", "a1b2c3d4e5f60718"}, {"token", "0123456789abcdef"}, {"role", "initiator"},
                 {"peer", "bob"}, {"path", "auto"}, {"hole_port", 7001}, {"relay_port", 7002}, {"relay_token", "rt"},
                 {"punch_timeout_ms", 5000}, {"req", 3}, {"peer_key", std::string(64, 'c')}}},
    {"hole", {{"type", "hole"}, {"attempt", "a1b2c3d4e5f60718"}, {"role", "responder"}, {"proof", std::string(64, 'd')},
              {"private", {"192.168.1.5:40000", "[fe80::1]:40000"}}}},
    {"observed", {{"type", "observed"}, {"endpoint", "203.0.113.7:40000"}}},
    {"punch", {{"type", "punch"}, {"attempt", "a1b2c3d4e5f60718"}, {"candidates", {"203.0.113.7:40000", "[2001:db8::1]:5"}},
               {"observed", "198.51.100.2:1234"}, {"delay_ms", 100}}},
    {"attempt_failed", {{"type", "attempt_failed"}, {"attempt", "a1b2c3d4e5f60718"}, {"code", "peer_busy"}, {"reason", "busy"}}},
    {"decline", {{"type", "decline"}, {"attempt", "a1b2c3d4e5f60718"}, {"reason", "busy with another connection"}}},
    {"nat_report", {{"type", "nat_report"}, {"mapping", "endpoint_independent"}, {"filtering", "address_dependent"}, {"class", "restricted cone"},
                    {"public", "203.0.113.7:40000"}, {"port_preserving", true}, {"undetermined", {"no alternate IP"}}}},
    {"expose", {{"type", "expose"}, {"port", 20000}, {"req", 4}}},
    {"proxy", {{"type", "proxy"}, {"port", 20000}, {"token", "tok"}, {"from", "203.0.113.9:5555"}, {"relay_port", 7002}}},
    {"proxy_failed", {{"type", "proxy_failed"}, {"token", "tok"}, {"reason", "connection refused"}}},
    {"probe_info", {{"type", "probe_info"}, {"ports", {7003, 7004}}, {"alt_ip", "192.0.2.10"}, {"req", 5}}},
    {"probe", {{"type", "probe"}, {"callback", "00112233445566778899aabbccddeeff"}}},
    {"probe_callback", {{"type", "probe_callback"}, {"nonce", "00112233445566778899aabbccddeeff"}, {"from", "other_port"}}},
    {"relay", {{"type", "relay"}, {"token", "rt"}}},
    {"error", {{"type", "error"}, {"req", 4}, {"code", "bad_request"}, {"message", "malformed request fields"}}},
    {"ping", {{"type", "ping"}, {"t", 1700000000000LL}}},
    {"pong", {{"type", "pong"}, {"t", 1700000000000LL}}},
    // Wrong types and odd numbers, as a hostile client might send them.
    {"odd_types", {{"type", "connect"}, {"target", 5}, {"req", "7"}, {"punch_timeout_ms", 1e300}, {"path", nullptr}, {"port", -1.5}}},
    {"odd_numbers", {{"type", "expose"}, {"port", 18446744073709551615ULL}, {"req", -9223372036854775807LL}, {"relay_port", 65536}}},
};

bytes framed(const std::string& body) {
  const auto n = static_cast<std::uint32_t>(body.size());
  return cat({bytes{static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16), static_cast<std::uint8_t>(n >> 8),
                    static_cast<std::uint8_t>(n)},
              text(body)});
}

void frame_seeds() {
  for (const auto& [name, message] : messages) {
    write("frame_decode", name, wire::encode(message));
    write("frame_fields", name, text(message.dump()));
  }
  write("frame_decode", "two_frames", cat({wire::encode(messages[0].second), wire::encode(messages[3].second)}));
  const auto whole = wire::encode(messages[3].second);
  write("frame_decode", "truncated", bytes(whole.begin(), whole.end() - 3));
  write("frame_decode", "oversized_header", bytes{0x00, 0x01, 0x00, 0x01, '{'});
  write("frame_decode", "empty_frame", bytes{0, 0, 0, 0});
  write("frame_decode", "not_object", framed("[1,2,3]"));
  write("frame_decode", "nested", framed(R"({"type":"x","a":[[[[[[[[{"b":[]}]]]]]]]]})"));
  write("frame_decode", "escapes", framed(R"({"type":"x\u0000y","s":"\ud83d\ude00","n":-0.0,"e":1E+2})"));
  // At the nesting cap (wire::max_json_depth = 32 levels, the object included): one more level is refused.
  const std::string at_cap = R"({"type":"x","a":)" + std::string(31, '[') + std::string(31, ']') + "}";
  write("frame_decode", "at_nesting_cap", framed(at_cap));
  write("frame_fields", "at_nesting_cap", text(at_cap));
  // Regression seeds: one level over the cap, and 20000 deep (which overflowed the stack in any
  // recursion over it before the cap). Both must be refused by decode.
  const std::string over_cap = R"({"type":"x","a":)" + std::string(32, '[') + std::string(32, ']') + "}";
  const std::string very_deep = R"({"type":"x","a":)" + std::string(20000, '[') + std::string(20000, ']') + "}";
  write("frame_decode", "over_nesting_cap", framed(over_cap));
  write("frame_decode", "very_deep", framed(very_deep));
  write("frame_fields", "over_nesting_cap", text(over_cap));
  write("frame_fields", "very_deep", text(very_deep));
  write("session_hello", "over_nesting_cap", cat({bytes{0}, text(over_cap)}));
  write("punch_hello", "over_nesting_cap", cat({bytes{0}, text(over_cap)}));
  write("frame_fields", "unicode", text(R"({"type":"register","id":"\u00e9\ud83d\ude00","req":1})"));
  write("frame_fields", "routes", text(R"({"type":"x","expose":[{"local":"127.0.0.1:22","remote_port":2222}]})"));
}

const stun::transaction_id tid{0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

void stun_seeds() {
  // RFC 5769 section 2.2 (IPv4 XOR-MAPPED-ADDRESS 192.0.2.1:32853), as in tests/stun_codec_test.cpp.
  const bytes v4{0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa,
                 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f,
                 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43, 0x00, 0x08, 0x00,
                 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53,
                 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96};
  write("stun_response", "rfc5769_v4", cat({bytes{1}, v4}));
  write("stun_response", "rfc5769_v4_fixed_id", cat({bytes{0}, v4}));
  auto with_other = v4;  // + OTHER-ADDRESS 198.51.100.9:3479 (tests/stun_codec_test.cpp)
  const bytes other{0x80, 0x2c, 0x00, 0x08, 0x00, 0x01, 0x0d, 0x97, 198, 51, 100, 9};
  with_other.insert(with_other.end(), other.begin(), other.end());
  with_other[3] = static_cast<std::uint8_t>(with_other.size() - 20);
  write("stun_response", "other_address", cat({bytes{1}, with_other}));
  // A plain MAPPED-ADDRESS (RFC 3489 servers) and CHANGED-ADDRESS, IPv6 XOR-MAPPED-ADDRESS.
  auto header = stun::binding_request(tid);
  header[0] = 0x01;
  header[1] = 0x01;
  const bytes mapped{0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x1f, 0x90, 192, 0, 2, 1,
                     0x00, 0x05, 0x00, 0x08, 0x00, 0x01, 0x0d, 0x97, 192, 0, 2, 2};
  auto old = cat({header, mapped});
  old[3] = static_cast<std::uint8_t>(mapped.size());
  write("stun_response", "mapped_changed", cat({bytes{1}, old}));
  bytes v6{0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0xa1, 0x47};
  for (int i = 0; i < 16; ++i) v6.push_back(static_cast<std::uint8_t>(0x20 + i));
  auto six = cat({header, v6});
  six[3] = static_cast<std::uint8_t>(v6.size());
  write("stun_response", "xor_v6", cat({bytes{1}, six}));
  auto error = header;
  error[1] = 0x11;
  write("stun_response", "error_response", cat({bytes{1}, error}));
  write("stun_response", "request", cat({bytes{1}, stun::binding_request(tid)}));
}

std::vector<bytes> mux_examples() {
  using session::frame_kind;
  return {session::encode_frame(frame_kind::open, 1, std::string(R"({"kind":"transfer","bytes":10,"files":1,"dirs":0})")),
          session::encode_frame(frame_kind::data, 1, std::string("hello, stream")),
          session::encode_frame(frame_kind::fin, 1),
          session::encode_frame(frame_kind::reset, 3, std::string("refused: not accepted")),
          session::encode_u32_frame(frame_kind::window, 1, 262144),
          session::encode_u64_frame(frame_kind::ping, 0, 1700000000000ULL),
          session::encode_u64_frame(frame_kind::pong, 0, 1700000000000ULL),
          session::encode_frame(frame_kind::close, 0, std::string("done")),
          session::encode_frame(frame_kind::migrate, 0),
          session::encode_u64_frame(frame_kind::ack, 0, 4096)};
}

session::record_key fixed_key() {  // as in fuzz/record_open.cpp
  session::record_key key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(0x42 + i);
  return key;
}

void mux_and_record_seeds() {
  const auto frames = mux_examples();
  for (std::size_t i = 0; i < frames.size(); ++i) write("mux_frame", "frame" + std::to_string(i), frames[i]);
  for (int aead = 0; aead < 2; ++aead) {
    const auto kind = aead ? session::aead_kind::chacha20poly1305 : session::aead_kind::aes256gcm;
    const std::string name = session::to_string(kind);
    session::record_cipher sealer(kind, fixed_key());
    bytes stream;
    for (const auto& f : frames) sealer.seal(f, stream);
    write("record_open", "raw_" + name, cat({bytes{static_cast<std::uint8_t>(aead)}, stream}));
    write("record_open", "raw_partial_" + name, cat({bytes{static_cast<std::uint8_t>(aead)}, bytes(stream.begin(), stream.begin() + 30)}));
    for (int op = 0; op < 5; ++op) {
      bytes script{static_cast<std::uint8_t>(op), 0x00, 0x21};
      for (const auto& f : frames) {
        script.push_back(static_cast<std::uint8_t>(f.size() >> 8));
        script.push_back(static_cast<std::uint8_t>(f.size()));
        script.insert(script.end(), f.begin(), f.end());
      }
      write("record_open", "sealed_op" + std::to_string(op) + "_" + name, cat({bytes{static_cast<std::uint8_t>(2 | aead)}, script}));
    }
  }
}

void transfer_seeds() {
  const std::vector<std::pair<std::string, json>> wire_messages = {
      {"file", {{"type", "file"}, {"path", "dir/a.txt"}, {"size", 10}, {"mode", 420}}},
      {"file_whole", {{"type", "file"}, {"path", "b.bin"}, {"size", 0}, {"mode", 384}, {"whole", true}}},
      {"dir", {{"type", "dir"}, {"path", "dir"}, {"mode", 493}}},
      {"send_from", {{"type", "send_from"}, {"offset", 4096}}},
      {"end", {{"type", "end"}, {"hash", std::string(64, 'e')}}},
      {"stored", {{"type", "stored"}, {"path", "dir/a (1).txt"}}},
      {"ok", {{"type", "ok"}}},
      {"done", {{"type", "done"}}},
      {"odd", {{"type", "file"}, {"path", 7}, {"size", -1}, {"mode", 1.5}}}};
  const std::vector<std::pair<int, std::string>> reasons = {
      {0, "disk full"}, {1, "peer carol is not accepted"}, {2, "a.txt is being received by another transfer"}};
  std::size_t i = 0;
  for (const auto& [name, message] : wire_messages) {
    const auto& [kind, reason] = reasons[i++ % reasons.size()];
    write("transfer_wire", name, cat({bytes{static_cast<std::uint8_t>(kind)}, text(reason), nul(), text(message.dump())}));
  }
}

void handshake_seeds() {
  const auto other = fuzz::fixed_keys(0x22);
  const auto me = fuzz::fixed_keys(0x11);
  for (int initiator = 0; initiator < 2; ++initiator) {
    session::handshake_state peer(other, !initiator);
    session::handshake_state us(me, initiator);
    const auto hello = peer.hello();
    (void)peer.take_peer_hello(us.hello());
    const auto auth = peer.auth();
    for (std::uint8_t flags : {0, 2, 6}) {
      write("session_hello", "hello_auth_" + std::to_string(initiator) + "_" + std::to_string(flags),
            cat({bytes{static_cast<std::uint8_t>(flags | initiator)}, text(hello.dump()), nul(), text(auth.dump())}));
    }
  }
  write("session_hello", "float_version",
        cat({bytes{1}, text(R"({"type":"session_hello","version":2.5,"identity":"","ephemeral":"","aead":["aes256gcm",7]})")}));
  write("session_hello", "bad_version",
        cat({bytes{0}, text(R"({"type":"session_hello","version":2,"identity":"","ephemeral":"","aead":["chacha20poly1305"]})")}));

  // punch_hello: the secret and our nonce as in fuzz/punch_hello.cpp, so the select is valid.
  const nat::attempt_secret secret{"a1b2c3d4e5f60718", "0123456789abcdef0123456789abcdef"};
  const std::string my_nonce = "00112233445566778899aabbccddeeff";
  const std::string their_nonce = "ffeeddccbbaa99887766554433221100";
  for (int initiator = 0; initiator < 2; ++initiator) {
    const auto mine = initiator ? nat::role::initiator : nat::role::responder;
    const auto hello = nat::make_punch_hello(secret, nat::other(mine), their_nonce);
    const auto mac = initiator ? nat::select_mac(secret, my_nonce, their_nonce) : nat::select_mac(secret, their_nonce, my_nonce);
    const json select{{"type", "punch_select"}, {"mac", mac}};
    write("punch_hello", "hello_select_" + std::to_string(initiator),
          cat({bytes{static_cast<std::uint8_t>(initiator)}, text(hello.dump()), nul(), text(select.dump())}));
    const json proof{{"type", "punch_proof"}, {"proof", nat::punch_proof(secret, nat::other(mine), their_nonce, my_nonce)}};
    write("punch_hello", "hello_proof_" + std::to_string(initiator),
          cat({bytes{static_cast<std::uint8_t>(initiator)}, text(hello.dump()), nul(), text(proof.dump())}));
  }
}

void text_seeds() {
  const auto key = fuzz::fixed_keys(0x22).pub;
  const std::vector<std::string> samples = {"127.0.0.1:7000", "[::1]:7000", "example.com:80", "[fe80::1%lo]:1", "0.0.0.0:0",
                                            "host:65535", "host:65536", "alice", "a.b_c-1", identity::to_hex(key),
                                            identity::fingerprint(key), "1A:2B 3c-4d"};
  for (std::size_t i = 0; i < samples.size(); ++i) write("text_parsers", "sample" + std::to_string(i), text(samples[i]));
}

void config_seeds() {
  const std::string server_file = R"(// rendezvous config
{
  "listen": "0.0.0.0:7000", /* main port */
  "token": "s3cret", "log_level": "info", "peer_timeout": 30, "max_peers": 100,
  "expose_ports": "20000-20100", "alt_ip": "192.0.2.10", "stats_interval": 0, "state": "/tmp/x"
})";
  write("config_resolve", "server",
        cat({text(server_file), nul(), text("RENDEZVOUS_TOKEN=t\nmax_peers=50\nhole_port=7101\n"), nul(), text(R"({"listen":"127.0.0.1:0"})")}));
  const std::string peer_file = R"({
  "server": "127.0.0.1:7000", "id": "alice", "path": "auto", "punch_timeout": 2.5, "dead_after": "30",
  "expose": [{"local": "127.0.0.1:22", "remote_port": 2222}], "allow": ["127.0.0.1:80"],
  "accept_from": ["bob"], "accept_any": false, "overwrite": true, "rate_limit": 10.5,
  "stun": "stun.example.org:3478", "expect_key": "1a2b3c4d-1a2b3c4d-1a2b3c4d-1a2b3c4d-1a2b3c4d", "listen": "8080", "target": "[::1]:22"
})";
  write("config_resolve", "peer", cat({text(peer_file), nul(), text("PEER_ID=bob\npunch_timeout=1e999\n"), nul(), text(R"({"json":true})")}));
  write("config_resolve", "at_nesting_cap",
        cat({text(R"({"expose":)" + std::string(31, '[') + std::string(31, ']') + "}"), nul(), nul(), text("{}")}));
  write("config_resolve", "over_nesting_cap",
        cat({text(R"({"expose":)" + std::string(32, '[') + std::string(32, ']') + "}"), nul(), nul(), text("{}")}));
  write("config_resolve", "very_deep",
        cat({text(R"({"expose":)" + std::string(20000, '[') + std::string(20000, ']') + "}"), nul(), nul(), text("{}")}));
  write("config_resolve", "empty", cat({text("{}"), nul(), nul(), text("{}")}));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: gen_corpus DIR\n";
    return 2;
  }
  root = argv[1];
  frame_seeds();
  stun_seeds();
  mux_and_record_seeds();
  transfer_seeds();
  handshake_seeds();
  text_seeds();
  config_seeds();
  std::cout << "seeds written under " << root << "\n";
  return 0;
}
