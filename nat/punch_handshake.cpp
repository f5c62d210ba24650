#include "nat/punch_handshake.hpp"

#include "common/crypto.hpp"

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

}  // namespace nat
