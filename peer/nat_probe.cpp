#include "peer/nat_probe.hpp"

#include "common/local_addresses.hpp"

#include <set>

#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "common/connect.hpp"
#include "common/crypto.hpp"
#include "common/endpoint.hpp"
#include "common/frame_reader.hpp"
#include "common/json_fields.hpp"
#include "common/spawn.hpp"
#include "nat/reuse_socket.hpp"

namespace peer {

using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto probe_timeout = std::chrono::milliseconds(3000);
/// How long to wait for call-backs that may never come (a filtering NAT drops them).
constexpr auto min_callback_wait = std::chrono::milliseconds(300);
constexpr auto max_callback_wait = std::chrono::milliseconds(3000);

/// One probe from `socket` (already bound) to `target`: the endpoint the server saw.
net::awaitable<std::optional<net::tcp::endpoint>> probe_once(net::tcp::socket& socket, const net::tcp::endpoint& target,
                                                            const std::string& callback_nonce) {
  if (co_await net::connect_within(socket, target, probe_timeout)) co_return std::nullopt;
  nlohmann::json request{{"type", "probe"}};
  if (!callback_nonce.empty()) request["callback"] = callback_nonce;
  if (co_await wire::write_frame(socket, request)) co_return std::nullopt;
  asio::steady_timer timer(socket.get_executor(), probe_timeout);
  wire::frame_reader reader;
  auto reply = co_await (reader.read(socket) || timer.async_wait(net::use_nothrow));
  if (reply.index() == 1 || !std::get<0>(reply).message) co_return std::nullopt;
  co_return net::parse_endpoint(std::get<0>(reply).message->value("observed", ""));
}

/// Accepts call-backs carrying `nonce` until `expected` distinct ones arrived or the deadline.
net::awaitable<std::set<std::string>> collect_callbacks(net::tcp::acceptor& listener, const std::string& nonce,
                                                        std::size_t expected, net::clock::time_point deadline) {
  std::set<std::string> arrived;
  asio::steady_timer timer(listener.get_executor());
  while (arrived.size() < expected && net::clock::now() < deadline) {
    timer.expires_at(deadline);
    auto accepted = co_await (listener.async_accept(net::use_nothrow) || timer.async_wait(net::use_nothrow));
    if (accepted.index() == 1) break;
    auto& [ec, socket] = std::get<0>(accepted);
    if (ec) break;
    timer.expires_at(deadline);
    wire::frame_reader reader;
    auto hello = co_await (reader.read(socket) || timer.async_wait(net::use_nothrow));
    if (hello.index() == 1 || !std::get<0>(hello).message) continue;
    const auto& message = *std::get<0>(hello).message;
    if (message.value("type", "") == "probe_callback" && message.value("nonce", "") == nonce) {
      arrived.insert(message.value("from", ""));
    }
  }
  co_return arrived;
}

}  // namespace

net::awaitable<probe_target> fetch_probe_target(server_link& link) {
  const nlohmann::json ask{{"type", "probe_info"}};
  auto info = co_await link.request(ask);
  if (info.value("type", "") != "probe_info") throw std::runtime_error("this server does not offer NAT probes");
  co_return probe_target{std::move(info), link.server_endpoint()};
}

net::awaitable<nat::nat_verdict> probe_nat(probe_target target, bool other_family) {
  auto ex = co_await asio::this_coro::executor;
  const auto& info = target.info;
  const auto listed = info.value("ports", nlohmann::json());
  if (!listed.is_array() || listed.size() != 2) throw std::runtime_error("the server's probe ports are malformed");
  std::array<std::uint16_t, 2> ports{};
  for (std::size_t i = 0; i < 2; ++i) {
    const auto port = wire::to_integer(listed[i]).value_or(0);
    if (port <= 0 || port > 65535) throw std::runtime_error("the server's probe ports are malformed");
    ports[i] = static_cast<std::uint16_t>(port);
  }
  auto primary = net::unmapped(target.server.address());
  if (other_family) {
    std::optional<asio::ip::address> found;
    for (const auto& host : info.value("hosts", nlohmann::json::array())) {
      std::error_code ec;
      const auto address = host.is_string() ? asio::ip::make_address(host.get<std::string>(), ec) : asio::ip::address();
      if (host.is_string() && !ec && address.is_v4() != primary.is_v4()) found = address;
    }
    if (!found) throw std::runtime_error(std::string("the server has no public ") + (primary.is_v4() ? "IPv6" : "IPv4") + " address");
    primary = *found;
  }
  // The alternate address of the family we probe (alt_ips), else the one alt_ip of older servers.
  std::optional<asio::ip::address> alternate;
  nlohmann::json alternates = info.value("alt_ips", nlohmann::json::array());
  if (alternates.empty() && info.contains("alt_ip") && info.at("alt_ip").is_string()) alternates.push_back(info.at("alt_ip"));
  for (const auto& entry : alternates) {
    std::error_code ec;
    const auto address = entry.is_string() ? asio::ip::make_address(entry.get<std::string>(), ec) : asio::ip::address();
    if (entry.is_string() && !ec && address.is_v4() == primary.is_v4()) alternate = address;
  }
  const auto family = primary.is_v4() ? net::tcp::v4() : net::tcp::v6();

  // Mapping: one local port to (primary, port 1), (primary, port 2) and (alternate, port 1).
  nat::nat_observations seen;
  auto first = nat::open_shared_dialer(ex, 0, family);
  const auto local_port = first.local_endpoint().port();
  const auto started = net::clock::now();
  seen.primary_port1 = co_await probe_once(first, {primary, ports[0]}, "");
  const auto rtt = net::clock::now() - started;
  std::error_code ec;
  seen.local = {first.local_endpoint(ec).address(), local_port};
  auto second = nat::open_shared_dialer(ex, local_port, family);
  seen.primary_port2 = co_await probe_once(second, {primary, ports[1]}, "");
  std::optional<net::tcp::socket> third;
  if (alternate) {
    third.emplace(nat::open_shared_dialer(ex, local_port, family));
    seen.alternate_port1 = co_await probe_once(*third, {*alternate, ports[0]}, "");
  }

  // Filtering: a fresh port that contacted only (primary, port 1) listens for the call-backs.
  auto listener = nat::open_shared_listener(ex, 0, family);
  auto asking = nat::open_shared_dialer(ex, listener.local_endpoint().port(), family);
  const auto nonce = crypto::random_hex(8);
  if (co_await probe_once(asking, {primary, ports[0]}, nonce)) {
    const auto wait = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(rtt * 4), min_callback_wait,
                                 max_callback_wait);
    const auto arrived = co_await collect_callbacks(listener, nonce, alternate ? 2 : 1, net::clock::now() + wait);
    seen.reached_from_other_port = arrived.contains("other_port");
    if (alternate) seen.reached_from_alternate_ip = arrived.contains("alternate_ip");
  }
  co_return nat::classify(seen);
}

nlohmann::json to_json(const nat::nat_verdict& verdict) {
  nlohmann::json out{{"public", verdict.public_endpoint ? net::to_string(*verdict.public_endpoint) : ""},
                     {"mapping", nat::to_string(verdict.mapping)},
                     {"filtering", nat::to_string(verdict.filtering)},
                     {"class", verdict.class_name}};
  out["port_preserving"] = verdict.port_preserving ? nlohmann::json(*verdict.port_preserving) : nlohmann::json();
  if (!verdict.undetermined.empty()) out["undetermined"] = verdict.undetermined;
  return out;
}

namespace {

/// The other family's verdict, or none when we or the server lack that family.
net::awaitable<std::optional<nat::nat_verdict>> probe_other_family(probe_target target, bool reached_by_v4) {
  // Without a public IPv6 address of our own, there is nothing to punch over IPv6.
  if (reached_by_v4 && net::ipv6_candidates(net::local_addresses()).empty()) co_return std::nullopt;
  try {
    auto verdict = co_await probe_nat(std::move(target), /*other_family=*/true);
    // Reached over IPv6, an IPv4 probe that got no answer means we have no IPv4 path out.
    if (!reached_by_v4 && !verdict.public_endpoint) co_return std::nullopt;
    co_return verdict;
  } catch (const std::exception& e) {
    spdlog::debug("no {} NAT probe: {}", reached_by_v4 ? "IPv6" : "IPv4", e.what());
    co_return std::nullopt;
  }
}

}  // namespace

net::awaitable<family_verdicts> probe_families(probe_target target) {
  family_verdicts verdicts;
  verdicts.reached_by_v4 = net::unmapped(target.server.address()).is_v4();
  auto [reached, other] = co_await (probe_nat(target, false) && probe_other_family(target, verdicts.reached_by_v4));
  verdicts.reached = std::move(reached);
  verdicts.other = std::move(other);
  co_return verdicts;
}

nat::nat_report report_of(const family_verdicts& verdicts) {
  const auto behaviour = [](const nat::nat_verdict& verdict) { return nat::family_behaviour{verdict.mapping, verdict.filtering}; };
  nat::nat_report report;
  report.reported = true;
  auto& reached = verdicts.reached_by_v4 ? report.ipv4 : report.ipv6;
  auto& other = verdicts.reached_by_v4 ? report.ipv6 : report.ipv4;
  reached = behaviour(verdicts.reached);
  if (verdicts.other) other = behaviour(*verdicts.other);
  return report;
}

namespace {

/// How often a long-running command checks whether this host's addresses changed.
constexpr auto address_check_interval = std::chrono::seconds(30);

/// The cache's key for the network we probe from now.
std::string network_of(const probe_target& target) {
  return nat_cache::network_key(net::to_string(target.server), target.info.value("observed", ""), nat_cache::address_fingerprint());
}

/// The report message for `verdicts`.
nlohmann::json report_message(const family_verdicts& verdicts) {
  auto message = nat::to_json(report_of(verdicts));
  message["type"] = "nat_report";
  message["public"] = to_json(verdicts.reached).value("public", "");
  return message;
}

net::awaitable<void> pause(std::chrono::seconds how_long) {
  asio::steady_timer timer(co_await asio::this_coro::executor, how_long);
  co_await timer.async_wait(net::use_nothrow);
}

/// Probes (again whenever our addresses change, with `follow`), tells the server each verdict
/// that differs from what it was told, and keeps the latest for this network in the cache.
net::awaitable<void> probe_in_background(probe_target target, server_link::detached_sender send, nat_cache cache,
                                         std::string network, nlohmann::json told, bool follow) {
  // (Nothing here may refer to the link: a short command's link may be gone before the probe ends.)
  for (;;) {
    const auto addresses = nat_cache::address_fingerprint();
    try {
      const auto verdicts = co_await probe_families(target);
      auto message = report_message(verdicts);
      // (The mapped port in "public" changes with every probe: it is news to nobody.)
      const auto without_public = [](nlohmann::json m) {
        if (m.is_object()) m.erase("public");
        return m;
      };
      cache.store(network, message);  // (kept even if the link has gone meanwhile)
      if (without_public(message) != without_public(told)) {
        if (!send(message)) co_return;  // the link is gone: nobody to tell
        spdlog::info("NAT: {}, public {}", report_of(verdicts).describe(), message.value("public", "?"));
        told = message;
      }
    } catch (const std::exception& e) {
      spdlog::info("NAT probe skipped: {}", e.what());
    }
    if (!follow) co_return;
    do {
      co_await pause(address_check_interval);
      if (!send.alive()) co_return;
    } while (nat_cache::address_fingerprint() == addresses);
    spdlog::info("this host's addresses changed: probing the NAT again");
    network = network_of(target);
  }
}

}  // namespace

void remember(const probe_target& target, const family_verdicts& verdicts) {
  nat_cache().store(network_of(target), report_message(verdicts));
}

net::awaitable<void> report_nat(server_link& link, bool follow) {
  probe_target target;
  try {
    target = co_await fetch_probe_target(link);
  } catch (const std::exception& e) {
    spdlog::info("NAT probe skipped: {}", e.what());
    co_return;
  }
  nat_cache cache;
  const auto network = network_of(target);
  nlohmann::json told;
  if (auto known = cache.load(network)) {
    // What this network's NAT did last time: the server has it at once; the probe checks it.
    link.send(*known);
    spdlog::info("NAT: {} (as last seen on this network; probing again)", nat::report_from_json(*known).describe());
    told = std::move(*known);
  }
  asio::co_spawn(link.executor(), probe_in_background(std::move(target), link.sender(), std::move(cache), network, std::move(told), follow),
                 net::log_escaped("NAT probe"));
}

}  // namespace peer
