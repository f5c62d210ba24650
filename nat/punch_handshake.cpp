#include "nat/punch_handshake.hpp"

#include "common/crypto.hpp"
#include "common/frame_reader.hpp"

namespace nat {
namespace {

/// A string field, or "" when absent or not a string (hostile input must not throw).
std::string text_field(const nlohmann::json& message, const char* key) {
  auto it = message.find(key);
  return it != message.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

const char* to_string(role r) { return r == role::initiator ? "initiator" : "responder"; }
role other(role r) { return r == role::initiator ? role::responder : role::initiator; }

std::string hole_proof(const attempt_secret& secret, role who) {
  return crypto::hmac_hex(secret.token, std::string("hole:") + to_string(who));
}

std::optional<role> parse_role(const std::string& name) {
  if (name == to_string(role::initiator)) return role::initiator;
  if (name == to_string(role::responder)) return role::responder;
  return std::nullopt;
}

nlohmann::json make_punch_hello(const attempt_secret& secret, role mine, const std::string& nonce) {
  return {{"type", "punch_hello"}, {"attempt", secret.attempt_id}, {"role", to_string(mine)}, {"nonce", nonce}};
}

std::optional<std::string> check_punch_hello(const attempt_secret& secret, role mine, const nlohmann::json& hello,
                                             std::string& why) {
  if (text_field(hello, "type") != "punch_hello") {
    why = "expected punch_hello, got '" + text_field(hello, "type").substr(0, 32) + "'";
    return std::nullopt;
  }
  if (text_field(hello, "attempt") != secret.attempt_id) {
    why = "hello for another attempt";
    return std::nullopt;
  }
  if (text_field(hello, "role") != to_string(other(mine))) {
    why = "hello from the wrong role";
    return std::nullopt;
  }
  auto nonce = text_field(hello, "nonce");
  if (nonce.size() < 16 || nonce.size() > 64) {
    why = "hello without a proper nonce";
    return std::nullopt;
  }
  return nonce;
}

std::string punch_proof(const attempt_secret& secret, role who, const std::string& nonce_of_who,
                        const std::string& nonce_of_other) {
  return crypto::hmac_hex(secret.token, std::string("punch:") + to_string(who) + ":" + nonce_of_who + ":" + nonce_of_other);
}

std::string select_mac(const attempt_secret& secret, const std::string& initiator_nonce,
                       const std::string& responder_nonce) {
  return crypto::hmac_hex(secret.token, "select:" + initiator_nonce + ":" + responder_nonce);
}

bool is_valid_select(const nlohmann::json& message, const std::string& expected_mac) {
  return text_field(message, "type") == "punch_select" && crypto::proofs_equal(text_field(message, "mac"), expected_mac);
}

net::awaitable<hello_outcome> exchange_hellos(net::tcp::socket& socket, wire::frame_reader& reader,
                                              const attempt_secret& secret, role mine) {
  const auto my_nonce = crypto::random_hex(16);
  const auto hello = make_punch_hello(secret, mine, my_nonce);
  if (auto error = co_await wire::write_frame(socket, hello)) co_return hello_outcome{"sending hello: " + error.message(), {}};
  auto reply = co_await reader.read(socket);
  if (!reply.message) co_return hello_outcome{wire::describe(reply), {}};
  std::string why;
  auto their_nonce = check_punch_hello(secret, mine, *reply.message, why);
  if (!their_nonce) co_return hello_outcome{why, {}};
  if (*their_nonce == my_nonce) co_return hello_outcome{"our own hello came back", {}};

  const nlohmann::json proof{{"type", "punch_proof"}, {"proof", punch_proof(secret, mine, my_nonce, *their_nonce)}};
  if (auto error = co_await wire::write_frame(socket, proof)) co_return hello_outcome{"sending proof: " + error.message(), {}};
  auto their_proof = co_await reader.read(socket);
  if (!their_proof.message) co_return hello_outcome{wire::describe(their_proof), {}};
  const auto expected = punch_proof(secret, other(mine), *their_nonce, my_nonce);
  if (text_field(*their_proof.message, "type") != "punch_proof" ||
      !crypto::proofs_equal(text_field(*their_proof.message, "proof"), expected)) {
    co_return hello_outcome{"wrong attempt proof", {}};
  }
  const auto& initiator_nonce = mine == role::initiator ? my_nonce : *their_nonce;
  const auto& responder_nonce = mine == role::initiator ? *their_nonce : my_nonce;
  co_return hello_outcome{"", select_mac(secret, initiator_nonce, responder_nonce)};
}

net::awaitable<std::error_code> send_select(net::tcp::socket& socket, const hello_outcome& hellos) {
  const nlohmann::json select{{"type", "punch_select"}, {"mac", hellos.select}};
  co_return co_await wire::write_frame(socket, select);
}

net::awaitable<bool> await_select(net::tcp::socket& socket, wire::frame_reader& reader, const hello_outcome& hellos) {
  auto select = co_await reader.read(socket);
  co_return select.message && is_valid_select(*select.message, hellos.select);
}

net::awaitable<std::optional<std::vector<std::uint8_t>>> handshake_single(net::tcp::socket& socket,
                                                                          const attempt_secret& secret, role mine,
                                                                          std::string& why) {
  wire::frame_reader reader;
  auto hellos = co_await exchange_hellos(socket, reader, secret, mine);
  why = hellos.error;
  if (!why.empty()) co_return std::nullopt;
  if (mine == role::initiator) {
    if (auto error = co_await send_select(socket, hellos)) {
      why = "sending select: " + error.message();
      co_return std::nullopt;
    }
  } else if (!co_await await_select(socket, reader, hellos)) {
    why = "the initiator did not select this connection";
    co_return std::nullopt;
  }
  co_return reader.take_leftover();
}

}  // namespace nat
