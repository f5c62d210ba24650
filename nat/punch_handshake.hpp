// The check every punched (or relayed) TCP connection must pass before it may carry data: both
// ends prove they hold the attempt token, bound to fresh nonces from both sides so a proof seen
// on one connection is useless on another, and the initiator selects exactly one connection.
//
//   both:       {"type":"punch_hello","attempt":ID,"role":R,"nonce":N_R}
//   both:       {"type":"punch_proof","proof":HMAC(token, "punch:"+R+":"+N_mine+":"+N_theirs)}
//   initiator:  {"type":"punch_select","mac":HMAC(token, "select:"+N_initiator+":"+N_responder)}
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/frame_reader.hpp"

namespace nat {

/// Which side of a connect attempt we are: the initiator asked to connect and chooses the path.
enum class role { initiator, responder };
const char* to_string(role r);
role other(role r);

/// What both ends of one attempt share (handed out by the rendezvous server).
struct attempt_secret {
  std::string attempt_id;
  std::string token;
};

/// Our opening message on a connection, carrying a fresh nonce.
nlohmann::json make_punch_hello(const attempt_secret& secret, role mine, const std::string& nonce);
/// The other side's nonce if `hello` is the other role's hello for this attempt; else `why`.
std::optional<std::string> check_punch_hello(const attempt_secret& secret, role mine, const nlohmann::json& hello,
                                             std::string& why);
/// What a side shows the server's hole-assist port: proof it holds the attempt token.
std::string hole_proof(const attempt_secret& secret, role who);
/// The role named `name` ("initiator" or "responder"), if it is one.
std::optional<role> parse_role(const std::string& name);
/// Proof that `who` holds the token, bound to both nonces of this connection.
std::string punch_proof(const attempt_secret& secret, role who, const std::string& nonce_of_who,
                        const std::string& nonce_of_other);
/// The initiator's selection MAC for this connection.
std::string select_mac(const attempt_secret& secret, const std::string& initiator_nonce,
                       const std::string& responder_nonce);

/// Result of exchanging hellos and proofs on one connection.
struct hello_outcome {
  std::string error;  ///< empty on success
  std::string select;  ///< the select MAC both sides expect on this connection
};

/// Runs hello + proof both ways; on success the other side holds the token.
net::awaitable<hello_outcome> exchange_hellos(net::tcp::socket& socket, wire::frame_reader& reader,
                                              const attempt_secret& secret, role mine);
/// True if `message` is a valid select for this connection.
bool is_valid_select(const nlohmann::json& message, const std::string& expected_mac);
/// Initiator: selects this connection (after exchange_hellos); returns the write error, if any.
net::awaitable<std::error_code> send_select(net::tcp::socket& socket, const hello_outcome& hellos);
/// Responder: true if the initiator selected this connection (it may close it instead).
net::awaitable<bool> await_select(net::tcp::socket& socket, wire::frame_reader& reader, const hello_outcome& hellos);

/// The whole handshake on a single connection (the relay path, where there is nothing to choose):
/// hellos and proofs, then the initiator sends select and the responder awaits it. Returns the
/// bytes read past the handshake, or nothing with `why` set.
net::awaitable<std::optional<std::vector<std::uint8_t>>> handshake_single(net::tcp::socket& socket,
                                                                          const attempt_secret& secret, role mine,
                                                                          std::string& why);

}  // namespace nat
