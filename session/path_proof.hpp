// Proof that a fresh TCP connection belongs to a running secure session, before the session moves
// onto it (a punched path replacing a relayed one). Both sides send a random nonce, then a MAC over
// both nonces under a key derived from their sending record key, then one byte saying they
// accepted the other's MAC. Only the two ends of the session hold those keys: not the rendezvous
// server (which knows the attempt secret the punch handshake uses), not anyone on the path.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/net.hpp"
#include "session/record_cipher.hpp"

namespace session {

/// The MAC keys of one side, derived (keyed BLAKE2b, their own label) from the record keys: ours
/// from our sending key, the peer's from our receiving one.
struct path_proof_keys {
  std::array<std::uint8_t, 32> mine{};
  std::array<std::uint8_t, 32> theirs{};
};
path_proof_keys derive_path_proof_keys(const record_key& send, const record_key& receive);

/// The MAC `keys.mine` gives over (their nonce, our nonce): what we send.
std::array<std::uint8_t, 32> path_proof_mac(const std::array<std::uint8_t, 32>& key, std::span<const std::uint8_t> first,
                                            std::span<const std::uint8_t> second);

/// Runs the exchange on `socket` (whose first bytes may already sit in `received`, read behind
/// the punch's handshake) within `timeout`; "" when both sides proved themselves, else why not
/// (the socket is then closed). Nothing is read beyond the exchange.
net::awaitable<std::string> prove_path(net::tcp::socket& socket, path_proof_keys keys, std::vector<std::uint8_t> received,
                                       std::chrono::milliseconds timeout);
/// The same, with each side's nonce carrying a statement of `statement.size()` bytes (both sides
/// state as many) that the MACs cover: the other side's arrives in `their_statement`, authentic.
/// (A resume states how many records each side has.)
net::awaitable<std::string> prove_path_stating(net::tcp::socket& socket, path_proof_keys keys, std::vector<std::uint8_t> received,
                                               std::chrono::milliseconds timeout, std::vector<std::uint8_t> statement,
                                               std::vector<std::uint8_t>* their_statement);

/// A name for the session these keys belong to that both ends compute alike (the initiator's key
/// first) and that reveals nothing of the keys: the server routes a resume by it.
std::string session_tag(const path_proof_keys& keys, bool initiator);

}  // namespace session
