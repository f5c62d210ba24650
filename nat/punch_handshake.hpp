// The check every punched TCP connection must pass before it may carry data: both ends prove they
// belong to the same connect attempt, and the initiator picks exactly one connection.
//
//   both:       {"type":"punch_hello","attempt":ID,"role":R,"proof":HMAC(token,"punch:"+R)}
//   initiator:  {"type":"punch_select"}   on the one connection it keeps
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

/// Our hello for this attempt.
nlohmann::json make_punch_hello(const attempt_secret& secret, role mine);
/// True if `hello` is the other role's valid hello for this attempt; otherwise `why` says why not.
bool verify_punch_hello(const attempt_secret& secret, role mine, const nlohmann::json& hello, std::string& why);

/// Sends our hello and checks the other's on a fresh connection; returns why it failed, or "".
net::awaitable<std::string> exchange_hellos(net::tcp::socket& socket, wire::frame_reader& reader,
                                            const attempt_secret& secret, role mine);

/// The whole handshake on a single connection (the relay path, where there is nothing to choose):
/// hellos, then the initiator sends select and the responder awaits it. Returns the bytes read
/// past the handshake, or nothing with `why` set.
net::awaitable<std::optional<std::vector<std::uint8_t>>> handshake_single(net::tcp::socket& socket,
                                                                          const attempt_secret& secret, role mine,
                                                                          std::string& why);

}  // namespace nat
