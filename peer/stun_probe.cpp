#include "peer/stun_probe.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <sodium.h>

#include "common/connect.hpp"
#include "nat/reuse_socket.hpp"
#include "nat/stun_codec.hpp"
#include "peer/exit_codes.hpp"

namespace peer {

using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto stun_timeout = std::chrono::milliseconds(3000);

/// Reads one whole STUN message.
net::awaitable<std::vector<std::uint8_t>> read_message(net::tcp::socket& socket) {
  std::vector<std::uint8_t> message(stun::header_size);
  auto [ec, n] = co_await asio::async_read(socket, asio::buffer(message), net::use_nothrow);
  if (ec) throw std::runtime_error("no STUN response: " + ec.message());
  const auto size = stun::message_size(message);
  if (!size || *size > 4096) throw std::runtime_error("the answer is not STUN");
  message.resize(*size);
  auto [body_ec, body_n] =
      co_await asio::async_read(socket, asio::buffer(message.data() + stun::header_size, *size - stun::header_size), net::use_nothrow);
  if (body_ec) throw std::runtime_error("truncated STUN response: " + body_ec.message());
  co_return message;
}

/// One Binding request from local port `port` to `target`; `local`, if given, gets our end.
net::awaitable<std::optional<stun::binding_response>> binding(std::uint16_t port, const net::tcp::endpoint& target,
                                                              net::tcp::endpoint* local = nullptr) {
  auto socket = nat::open_shared_dialer(co_await asio::this_coro::executor, port);
  if (co_await net::connect_within(socket, target, stun_timeout)) co_return std::nullopt;
  std::error_code local_ec;
  if (local) *local = socket.local_endpoint(local_ec);
  stun::transaction_id id;
  randombytes_buf(id.data(), id.size());
  const auto request = stun::binding_request(id);
  if (auto [ec, n] = co_await asio::async_write(socket, asio::buffer(request), net::use_nothrow); ec) co_return std::nullopt;
  asio::steady_timer timer(socket.get_executor(), stun_timeout);
  auto reply = co_await (read_message(socket) || timer.async_wait(net::use_nothrow));
  if (reply.index() == 1) co_return std::nullopt;
  co_return stun::parse_binding_response(std::get<0>(reply), id);
}

}  // namespace

net::awaitable<nat::nat_verdict> probe_nat_stun(const net::host_port& server) {
  auto ex = co_await asio::this_coro::executor;
  net::tcp::resolver resolver(ex);
  auto [ec, results] = co_await resolver.async_resolve(server.host, std::to_string(server.port), net::use_nothrow);
  if (ec || results.empty()) throw command_error(exit_server, "cannot resolve STUN server " + server.host);
  const auto primary = results.begin()->endpoint();

  auto probe_port_socket = nat::open_shared_dialer(ex, 0);  // reserves one local port for all tests
  const auto port = probe_port_socket.local_endpoint().port();
  nat::nat_observations seen;
  const auto first = co_await binding(port, primary, &seen.local);
  if (!first) {
    throw command_error(exit_server, "STUN server " + net::to_string(server) + " did not answer");
  }
  seen.primary_port1 = first->mapped;

  std::vector<std::string> notes;
  if (first->other) {
    // RFC 5780: the same primary address on the alternate port, and the alternate address.
    if (auto r = co_await binding(port, {primary.address(), first->other->port()})) seen.primary_port2 = r->mapped;
    if (auto r = co_await binding(port, {first->other->address(), primary.port()})) seen.alternate_port1 = r->mapped;
  } else {
    notes.push_back("mapping: the STUN server offers no OTHER-ADDRESS (RFC 5780), so only one mapping was seen");
  }
  auto verdict = nat::classify(seen);
  // The classifier's notes speak of our own probe ports and --alt-ip; replace them with what is
  // true of STUN. Filtering needs CHANGE-REQUEST, which STUN offers over UDP only.
  std::erase_if(verdict.undetermined, [&](const std::string& note) {
    return note.rfind("filtering", 0) == 0 || (!first->other && note.rfind("mapping", 0) == 0);
  });
  verdict.undetermined.push_back("filtering: not testable with STUN over TCP (CHANGE-REQUEST is UDP-only)");
  for (auto& note : notes) verdict.undetermined.push_back(note);
  co_return verdict;
}

}  // namespace peer
