#include "session/path_proof.hpp"

#include <sodium.h>

#include <algorithm>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include "common/crypto.hpp"

namespace session {

using namespace asio::experimental::awaitable_operators;

namespace {

constexpr std::string_view proof_label = "holepunch path proof v1";
constexpr std::uint8_t accepted = 0x01;
constexpr std::size_t nonce_size = 32;

std::array<std::uint8_t, 32> derive(const record_key& key) {
  std::array<std::uint8_t, 32> out{};
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(proof_label.data()), proof_label.size(),
                     key.data(), key.size());
  return out;
}

/// Fills `out`: from `received` (bytes that came before the exchange began) first, then the socket.
net::awaitable<std::error_code> read_exact(net::tcp::socket& socket, std::span<std::uint8_t> out, std::vector<std::uint8_t>& received) {
  const auto taken = std::min(out.size(), received.size());
  std::copy_n(received.begin(), taken, out.begin());
  received.erase(received.begin(), received.begin() + static_cast<std::ptrdiff_t>(taken));
  if (taken == out.size()) co_return std::error_code();
  auto [ec, n] = co_await asio::async_read(socket, asio::buffer(out.data() + taken, out.size() - taken), net::use_nothrow);
  co_return ec;
}

/// The exchange itself; any failure is a reason. Each side's nonce carries its statement.
net::awaitable<std::string> exchange(net::tcp::socket& socket, const path_proof_keys& keys, std::vector<std::uint8_t>& received,
                                     std::span<const std::uint8_t> statement, std::vector<std::uint8_t>& their_statement) {
  std::vector<std::uint8_t> ours(nonce_size + statement.size()), theirs(ours.size());
  std::array<std::uint8_t, 32> their_mac{};
  randombytes_buf(ours.data(), nonce_size);
  std::copy(statement.begin(), statement.end(), ours.begin() + nonce_size);
  if (auto [ec, n] = co_await asio::async_write(socket, asio::buffer(ours), net::use_nothrow); ec) {
    co_return "sending our nonce failed: " + ec.message();
  }
  if (auto ec = co_await read_exact(socket, theirs, received)) co_return "the other side sent no nonce: " + ec.message();
  const auto mine = path_proof_mac(keys.mine, theirs, ours);
  if (auto [ec, n] = co_await asio::async_write(socket, asio::buffer(mine), net::use_nothrow); ec) {
    co_return "sending our proof failed: " + ec.message();
  }
  if (auto ec = co_await read_exact(socket, their_mac, received)) co_return "the other side sent no proof: " + ec.message();
  const auto expected = path_proof_mac(keys.theirs, ours, theirs);
  if (sodium_memcmp(expected.data(), their_mac.data(), expected.size()) != 0) {
    co_return "the other side's proof is wrong: this connection is not from our session's peer";
  }
  std::array<std::uint8_t, 1> verdict{accepted};
  if (auto [ec, n] = co_await asio::async_write(socket, asio::buffer(verdict), net::use_nothrow); ec) {
    co_return "sending our verdict failed: " + ec.message();
  }
  if (auto ec = co_await read_exact(socket, verdict, received); ec || verdict[0] != accepted) {
    co_return "the other side did not accept our proof";
  }
  if (!received.empty()) co_return "the other side sent more than the proof before it was accepted";
  their_statement.assign(theirs.begin() + nonce_size, theirs.end());
  co_return "";
}

}  // namespace

path_proof_keys derive_path_proof_keys(const record_key& send, const record_key& receive) {
  return {derive(send), derive(receive)};
}

std::array<std::uint8_t, 32> path_proof_mac(const std::array<std::uint8_t, 32>& key, std::span<const std::uint8_t> first,
                                            std::span<const std::uint8_t> second) {
  std::array<std::uint8_t, 32> out{};
  crypto_generichash_state state;
  crypto_generichash_init(&state, key.data(), key.size(), out.size());
  crypto_generichash_update(&state, first.data(), first.size());
  crypto_generichash_update(&state, second.data(), second.size());
  crypto_generichash_final(&state, out.data(), out.size());
  return out;
}

std::string session_tag(const path_proof_keys& keys, bool initiator) {
  constexpr std::string_view label = "holepunch session tag v1";
  std::array<std::uint8_t, 16> out{};
  crypto_generichash_state state;
  crypto_generichash_init(&state, reinterpret_cast<const unsigned char*>(label.data()), label.size(), out.size());
  const auto& first = initiator ? keys.mine : keys.theirs;
  const auto& second = initiator ? keys.theirs : keys.mine;
  crypto_generichash_update(&state, first.data(), first.size());
  crypto_generichash_update(&state, second.data(), second.size());
  crypto_generichash_final(&state, out.data(), out.size());
  return crypto::to_hex(out.data(), out.size());
}

net::awaitable<std::string> prove_path(net::tcp::socket& socket, path_proof_keys keys, std::vector<std::uint8_t> received,
                                       std::chrono::milliseconds timeout) {
  std::vector<std::uint8_t> no_statement;  // (a named local: GCC 12 and temporaries in co_await)
  co_return co_await prove_path_stating(socket, keys, std::move(received), timeout, std::move(no_statement), nullptr);
}

net::awaitable<std::string> prove_path_stating(net::tcp::socket& socket, path_proof_keys keys, std::vector<std::uint8_t> received,
                                               std::chrono::milliseconds timeout, std::vector<std::uint8_t> statement,
                                               std::vector<std::uint8_t>* their_statement) {
  std::vector<std::uint8_t> theirs;
  asio::steady_timer timer(socket.get_executor(), timeout);
  auto outcome = co_await (exchange(socket, keys, received, statement, theirs) || timer.async_wait(net::use_nothrow));
  std::string why = outcome.index() == 1 ? "the path proof took longer than " + std::to_string(timeout.count()) + " ms"
                                         : std::get<0>(std::move(outcome));
  if (why.empty() && their_statement) *their_statement = std::move(theirs);
  if (!why.empty()) {
    // Of no use now; closed, so the other side learns it at once instead of at its own timeout.
    std::error_code ignored;
    socket.close(ignored);
  }
  co_return why;
}

}  // namespace session
