#include "rendezvous/probe_service.hpp"

#include <sstream>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "common/connect.hpp"
#include "common/endpoint.hpp"
#include "common/frame_reader.hpp"
#include "common/spawn.hpp"
#include "rendezvous/listener.hpp"

namespace rendezvous {

using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto callback_timeout = std::chrono::seconds(3);
/// How long a probe connection may stay open (it keeps the peer's NAT mapping alive meanwhile).
constexpr auto probe_hold = std::chrono::seconds(10);

}  // namespace

void probe_service::start() {
  std::vector<asio::ip::address> primaries;
  bool wildcard = false;
  for (const auto& host : config_.listen_hosts) {
    primaries.push_back(asio::ip::make_address(host));
    wildcard = wildcard || primaries.back().is_unspecified();
  }
  std::stringstream list(config_.alt_ip);
  for (std::string item; std::getline(list, item, ',');) {
    if (!item.empty()) alternates_.push_back(asio::ip::make_address(item));
  }
  std::uint16_t wanted = config_.probe_port;
  for (int i = 0; i < 2; ++i) {
    ports_[i] = listen_all(acceptors_, executor_, primaries, wanted, "probes");
    wanted = wanted == 0 ? 0 : static_cast<std::uint16_t>(wanted + 1);
  }
  for (const auto& alternate : alternates_) {
    if (wildcard) break;  // a wildcard listener already answers on the alternate addresses
    acceptors_.push_back(std::make_unique<net::tcp::acceptor>(executor_));
    listen_or_throw(*acceptors_.back(), {alternate, ports_[0]}, "probes");
  }
  for (auto& acceptor : acceptors_) {
    asio::co_spawn(executor_,
                   accept_admitted(*acceptor, accepting_,
                                   [this](net::tcp::socket socket, admission_ticket ticket) {
                                     asio::co_spawn(executor_, serve(std::move(socket), std::move(ticket)),
                                                    net::log_escaped("probe"));
                                   }),
                   net::log_escaped("probe accept"));
  }
}

void probe_service::stop() {
  std::error_code ignored;
  for (auto& acceptor : acceptors_) acceptor->close(ignored);
}

nlohmann::json probe_service::info() const {
  nlohmann::json alternates = nlohmann::json::array();
  for (const auto& alternate : alternates_) alternates.push_back(alternate.to_string());
  // alt_ip: the first, for peers that know one alternate address only.
  return {{"ports", {ports_[0], ports_[1]}},
          {"alt_ip", alternates_.empty() ? nlohmann::json() : nlohmann::json(alternates_.front().to_string())},
          {"alt_ips", alternates}};
}

std::optional<asio::ip::address> probe_service::alternate_for(const asio::ip::address& client) const {
  for (const auto& alternate : alternates_) {
    if (alternate.is_v4() == client.is_v4()) return alternate;
  }
  return std::nullopt;
}

// The ticket is held, never marked authenticated: a probe counts against the per-address cap for
// its whole (short) life, which bounds the call-backs one address can ask for.
net::awaitable<void> probe_service::serve(net::tcp::socket socket, admission_ticket ticket) {
  net::socket_registry::entry registration(short_lived_, socket);
  ticket.on_evict([&socket](const std::string& why) { refuse_now(socket, "evicted", why); });
  std::error_code ec;
  const auto observed = net::unmapped(socket.remote_endpoint(ec));
  const auto reached = net::unmapped(socket.local_endpoint(ec));
  if (ec) co_return;
  asio::steady_timer timer(executor_, ticket.handshake_time());
  wire::frame_reader reader;
  auto first = co_await (reader.read(socket) || timer.async_wait(net::use_nothrow));
  if (first.index() == 1) co_return;  // silent: closed at the deadline
  const auto& read = std::get<0>(first);
  if (!read.message || read.message->value("type", nlohmann::json()) != "probe") {
    if (read.error) co_return;  // the client went away
    const auto why = read.message ? std::string("not a probe request") : read.protocol_error;
    accepting_.log.log(spdlog::level::warn, "probe: refused requests", "probe " + net::to_string(observed) + ": refused: " + why);
    refuse_now(socket, "bad_probe", why);
    co_return;
  }
  const auto& request = *read.message;
  const nlohmann::json result{{"type", "probe_result"}, {"observed", net::to_string(observed)}};
  if (co_await wire::write_frame(socket, result)) co_return;

  const auto nonce = request.find("callback");
  if (nonce != request.end() && nonce->is_string() && !nonce->get<std::string>().empty() && nonce->get<std::string>().size() <= 64) {
    const auto text = nonce->get<std::string>();
    asio::co_spawn(executor_, call_back(observed, reached.address(), text, "other_port"), net::log_escaped("probe call-back"));
    if (const auto alternate = alternate_for(observed.address())) {
      asio::co_spawn(executor_, call_back(observed, *alternate, text, "alternate_ip"), net::log_escaped("probe call-back"));
    }
  }
  // Hold the connection (and the peer's NAT mapping) until the peer is done.
  timer.expires_after(probe_hold);
  std::array<char, 64> sink;
  co_await (socket.async_read_some(asio::buffer(sink), net::use_nothrow) || timer.async_wait(net::use_nothrow));
}

net::awaitable<void> probe_service::call_back(net::tcp::endpoint target, asio::ip::address from, std::string nonce,
                                              const char* label) {
  net::tcp::socket socket(executor_);
  net::socket_registry::entry registration(short_lived_, socket);
  std::error_code ec;
  socket.open(target.protocol(), ec);
  if (!ec) socket.bind({from, 0}, ec);
  if (ec) {
    spdlog::warn("probe: cannot call back from {}: {}", from.to_string(), ec.message());
    co_return;
  }
  if (auto error = co_await net::connect_within(socket, target, callback_timeout)) {
    spdlog::debug("probe: call-back {} to {} failed: {}", label, net::to_string(target), error.message());
    co_return;
  }
  const nlohmann::json hello{{"type", "probe_callback"}, {"nonce", nonce}, {"from", label}};
  co_await wire::write_frame(socket, hello);
}

}  // namespace rendezvous
