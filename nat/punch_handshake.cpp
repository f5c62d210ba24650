#include "nat/punch_handshake.hpp"

#include "common/crypto.hpp"
#include "common/frame_reader.hpp"

namespace nat {

const char* to_string(role r) { return r == role::initiator ? "initiator" : "responder"; }
role other(role r) { return r == role::initiator ? role::responder : role::initiator; }

nlohmann::json make_punch_hello(const attempt_secret& secret, role mine) {
  return {{"type", "punch_hello"},
          {"attempt", secret.attempt_id},
          {"role", to_string(mine)},
          {"proof", crypto::hmac_hex(secret.token, std::string("punch:") + to_string(mine))}};
}

bool verify_punch_hello(const attempt_secret& secret, role mine, const nlohmann::json& hello, std::string& why) {
  if (hello.value("type", "") != "punch_hello") {
    why = "expected punch_hello, got " + hello.value("type", "?");
    return false;
  }
  if (hello.value("attempt", "") != secret.attempt_id) {
    why = "hello for another attempt";
    return false;
  }
  const std::string expected_role = to_string(other(mine));
  if (hello.value("role", "") != expected_role) {
    why = "hello from the wrong role";
    return false;
  }
  const auto expected = crypto::hmac_hex(secret.token, "punch:" + expected_role);
  if (!crypto::proofs_equal(hello.value("proof", ""), expected)) {
    why = "wrong attempt proof";
    return false;
  }
  return true;
}

net::awaitable<std::string> exchange_hellos(net::tcp::socket& socket, wire::frame_reader& reader,
                                            const attempt_secret& secret, role mine) {
  const auto hello = make_punch_hello(secret, mine);
  if (auto error = co_await wire::write_frame(socket, hello)) co_return "sending hello: " + error.message();
  auto reply = co_await reader.read(socket);
  if (!reply.message) {
    co_return reply.protocol_error.empty() ? (reply.error ? reply.error.message() : "closed") : reply.protocol_error;
  }
  std::string why;
  if (!verify_punch_hello(secret, mine, *reply.message, why)) co_return why;
  co_return "";
}

net::awaitable<std::optional<std::vector<std::uint8_t>>> handshake_single(net::tcp::socket& socket,
                                                                          const attempt_secret& secret, role mine,
                                                                          std::string& why) {
  wire::frame_reader reader;
  why = co_await exchange_hellos(socket, reader, secret, mine);
  if (!why.empty()) co_return std::nullopt;
  if (mine == role::initiator) {
    const nlohmann::json select{{"type", "punch_select"}};
    if (auto error = co_await wire::write_frame(socket, select)) {
      why = "sending select: " + error.message();
      co_return std::nullopt;
    }
  } else {
    auto select = co_await reader.read(socket);
    if (!select.message || select.message->value("type", "") != "punch_select") {
      why = "the initiator did not select this connection";
      co_return std::nullopt;
    }
  }
  co_return reader.take_leftover();
}

}  // namespace nat
