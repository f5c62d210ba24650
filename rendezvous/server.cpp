#include "rendezvous/server.hpp"

#include <unistd.h>

#include <set>

#include <asio/co_spawn.hpp>
#include <asio/use_future.hpp>
#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "common/endpoint.hpp"
#include "common/spawn.hpp"
#include "rendezvous/metrics.hpp"
#include "common/logging.hpp"
#include "rendezvous/client_session.hpp"
#include "rendezvous/config_reload.hpp"
#include "rendezvous/hole_assist.hpp"
#include "rendezvous/listener.hpp"
#include "rendezvous/local_directory.hpp"
#include "rendezvous/node_mail.hpp"
#include "rendezvous/operator_commands.hpp"
#include "rendezvous/public_addresses.hpp"
#include "rendezvous/redis_directory.hpp"
#include "rendezvous/redis_account_store.hpp"
#include "rendezvous/sqlite_account_store.hpp"
#include "rendezvous/state_db.hpp"

namespace rendezvous {
namespace {

/// The config with its caps cut to what the descriptor budget allows.
server_config within(const descriptor_budget& budget, server_config config) {
  config.max_peers = budget.max_peers;
  config.max_idle_clients = budget.max_idle_clients;
  config.max_relay_pairs = budget.max_relay_pairs;
  config.max_exposed_clients = budget.max_exposed_clients;
  config.max_pending_handshakes = budget.max_pending_per_port;
  return config;
}

/// Reads the accounts into `book`, through `reader` if given (then closed, so its loop can end).
net::awaitable<void> load_accounts(account_book& book, account_store* reader) {
  if (reader == nullptr) {
    co_await book.load();
    co_return;
  }
  try {
    co_await book.load_from(*reader);
  } catch (...) {
    reader->close();
    throw;
  }
  reader->close();
}

/// The address peers of other nodes reach this one at: the first of --advertise, else the
/// listen address unless it is a wildcard (an interface address guessed for a wildcard may not be
/// what peers elsewhere reach: it is told only as a second family for hole-assist reports).
std::string advertised_address(const server_config& config, const std::vector<std::string>& public_hosts) {
  std::error_code ec;
  const auto listen = asio::ip::make_address(config.listen_host, ec);
  const bool known = !config.advertise.empty() || (!ec && !listen.is_unspecified());
  return known && !public_hosts.empty() ? public_hosts.front() : std::string();
}

}  // namespace

server::server(asio::io_context& io, server_config config)
    : io_(io),
      requested_(config),
      budget_(fit_to_descriptors(net::current_descriptor_limit(), config)),
      context_(io.get_executor(), within(budget_, std::move(config))) {}

void server::join_cluster() {
  const auto& config = context_.config;
  const auto address = cluster::parse_redis_url(config.cluster);
  std::string node = config.node_name;
  if (node.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    node = std::string(host) + ":" + std::to_string(main_port_);
  }
  context_.advertised = advertised_address(config, context_.public_hosts);
  if (context_.advertised.empty()) {
    spdlog::warn("cluster: node {} listens on {} and has no --advertise address: connects from its peers to peers "
                 "on other nodes are refused",
                 node, config.listen_host);
  }
  const nlohmann::json info{{"main", main_port_},
                            {"hole", hole_port_},
                            {"relay", relay_port_},
                            {"advertise", context_.advertised},
                            {"started", net::now_ms()}};
  auto directory = std::make_unique<redis_directory>(io_.get_executor(), address, node, info,
                                                     std::chrono::seconds(config.node_lease_s), context_.registry);
  directory->on_mail([this](const std::string& from, const nlohmann::json& mail) { handle_node_mail(context_, from, mail); });
  auto* shared = directory.get();
  context_.exposes.join_cluster(expose_cluster_link{
      [shared](std::uint16_t port, const std::string& owner) {
        shared->broadcast({{"kind", "exposed"}, {"port", port}, {"owner", owner}});
      },
      [shared](std::uint16_t port) {
        shared->release_port(port);
        shared->broadcast({{"kind", "unexposed"}, {"port", port}});
      },
      [shared](const std::string& to, const nlohmann::json& mail) { shared->post(to, mail); }, context_.advertised});
  directory->start();
  spdlog::info("cluster: node {} shares registrations and ID pins through {}", node, address.display());
  context_.directory = std::move(directory);
}

void server::start() {
  const auto& config = context_.config;
  if (config.cluster.empty()) {
    auto pins = std::make_unique<key_pins>(config.state_dir, server_busy_wait);
    spdlog::info("ID key pins in {}", pins->file().string());
    context_.directory = std::make_unique<local_directory>(std::move(pins), context_.registry);
  }
  open_accounts();
  std::vector<asio::ip::address> hosts;
  for (const auto& text : config.listen_hosts) {
    std::error_code ec;
    hosts.push_back(asio::ip::make_address(text, ec));
    if (ec) throw std::runtime_error("invalid listen address '" + text + "'");
  }
  context_.public_hosts = public_addresses(config.listen_hosts, config.advertise);
  const auto ex = io_.get_executor();
  main_port_ = listen_all(main_acceptors_, ex, hosts, config.main_port, "the main port");
  hole_port_ = listen_all(hole_acceptors_, ex, hosts, config.hole_port, "the hole-assist port");
  relay_port_ = listen_all(relay_acceptors_, ex, hosts, config.relay_port, "the relay port");
  context_.config.hole_port = hole_port_;
  context_.config.relay_port = relay_port_;
  if (!config.cluster.empty()) join_cluster();

  for (auto& acceptor : main_acceptors_) {
    asio::co_spawn(io_, accept_admitted(*acceptor, context_.accepting(context_.admissions.main), [this](net::tcp::socket socket, admission_ticket ticket) {
                     std::make_shared<client_session>(context_, std::move(socket), std::move(ticket))->start();
                   }),
                   net::log_escaped("accept main"));
  }
  for (auto& acceptor : hole_acceptors_) {
    asio::co_spawn(io_, accept_admitted(*acceptor, context_.accepting(context_.admissions.hole), [this](net::tcp::socket socket, admission_ticket ticket) {
                     asio::co_spawn(io_, serve_hole_assist(context_, std::move(socket), std::move(ticket)),
                                    net::log_escaped("hole-assist"));
                   }),
                   net::log_escaped("accept hole"));
  }
  for (auto& acceptor : relay_acceptors_) {
    asio::co_spawn(io_, accept_admitted(*acceptor, context_.accepting(context_.admissions.relay), [this](net::tcp::socket socket, admission_ticket ticket) {
                     asio::co_spawn(io_, context_.relay.serve(std::move(socket), std::move(ticket)), net::log_escaped("relay"));
                   }),
                   net::log_escaped("accept relay"));
  }
  context_.probes.start();
  if (const auto where = metrics_endpoint_of(config.metrics)) {
    metrics_ = std::make_unique<metrics_endpoint>(io_, *where);
    metrics_->publish(render_metrics(context_));  // (then every second, in housekeeping)
  }
  open_control_socket();
  asio::co_spawn(io_, housekeeping(), net::log_escaped("housekeeping"));
  if (context_.accounts) asio::co_spawn(io_, watch_accounts(), net::log_escaped("accounts"));
  follow_port_claims_if_needed();

  spdlog::info("listening on {}: main {}, hole-assist {}, relay {}{}", fmt::format("{}", fmt::join(config.listen_hosts, ", ")),
               main_port_, hole_port_, relay_port_,
               context_.public_hosts.empty() ? std::string(" (no public address known: peers report over the family they reached us by)")
                                             : " (peers are told " + fmt::format("{}", fmt::join(context_.public_hosts, ", ")) + ")");
  spdlog::log(budget_.reduced ? spdlog::level::warn : spdlog::level::info, "{}", describe(budget_));
  if (config.expose_first != 0) spdlog::info("peers may expose ports {}-{}", config.expose_first, config.expose_last);
  const auto probe_ports = context_.probes.ports();
  spdlog::info("NAT probes on ports {} and {}{}", probe_ports[0], probe_ports[1],
               config.alt_ip.empty() ? " (no --alt-ip: peers cannot tell every NAT kind apart)" : " and on " + config.alt_ip);
  if (config.token.empty() && (!context_.accounts || !context_.accounts->in_use())) {
    std::error_code ec;
    auto address = asio::ip::make_address(config.listen_host, ec);
    if (!ec && !address.is_loopback()) {
      spdlog::warn("no token set: anyone who reaches {} can register (set --token or RENDEZVOUS_TOKEN)",
                   config.listen_host);
    }
  }
}

void server::follow_port_claims_if_needed() {
  if (following_claims_ || context_.config.cluster.empty() || context_.config.expose_first == 0) return;
  following_claims_ = true;
  asio::co_spawn(io_, follow_port_claims(), net::log_escaped("port claims"));
}

void server::reload(const server_config& next) {
  if (stopped_) return;
  for (const auto& key : restart_only_changes(requested_, next)) {
    spdlog::warn("config reload: \"{}\" changed, which takes a restart: it stays as the server started", key);
  }
  const auto asked_before = requested_;
  const auto running_before = context_.config;
  requested_ = with_reloadable(requested_, next);
  budget_ = fit_to_descriptors(net::current_descriptor_limit(), requested_);
  const auto fitted = within(budget_, requested_);
  context_.config = with_reloadable(context_.config, fitted);
  context_.config.max_idle_clients = fitted.max_idle_clients;
  logging::set_level(context_.config.log_level);
  context_.admissions.set_limits(context_.config);
  context_.exposes.reload_limits();
  follow_port_claims_if_needed();
  // What the operator changed; then the caps the descriptor budget derives, if they moved.
  const auto changes = describe_changes(asked_before, requested_);
  spdlog::info("config reloaded: {}", changes.empty() ? std::string("no setting changed") : fmt::format("{}", fmt::join(changes, ", ")));
  if (!describe_changes(running_before, context_.config).empty() || running_before.max_idle_clients != context_.config.max_idle_clients) {
    spdlog::log(budget_.reduced ? spdlog::level::warn : spdlog::level::info, "{}", describe(budget_));
  }
  if (context_.config.expose_first != running_before.expose_first || context_.config.expose_last != running_before.expose_last) {
    if (const auto outside = context_.exposes.open_ports_outside(context_.config.expose_first, context_.config.expose_last)) {
      spdlog::warn("config reload: {} exposed port(s) outside the new range stay open until their peers close them", outside);
    }
  }
}

void server::open_accounts() {
  const auto& config = context_.config;
  const bool clustered = !config.cluster.empty();
  std::unique_ptr<account_store> store;
  if (clustered) store = std::make_unique<redis_account_store>(io_.get_executor(), cluster::parse_redis_url(config.cluster));
  else store = std::make_unique<sqlite_account_store>(config.state_dir, server_busy_wait);
  auto book = std::make_unique<account_book>(std::move(store));
  // Read before the first connection is accepted (the loop is not running yet: on a loop of its
  // own, with a Redis connection of its own on it in a cluster), so no peer is let in on an open
  // server that has accounts. A cluster node that cannot read them does not start.
  asio::io_context once;
  std::unique_ptr<account_store> reader;
  if (clustered) reader = std::make_unique<redis_account_store>(once.get_executor(), cluster::parse_redis_url(config.cluster));
  auto loaded = asio::co_spawn(once, load_accounts(*book, reader.get()), asio::use_future);
  once.run();
  try {
    loaded.get();
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("cannot read the accounts: ") + e.what());
  }
  if (!book->empty()) spdlog::info("{} account(s) may connect with their own tokens ({})", book->size(), book->store().where());
  context_.accounts = std::move(book);
  if (clustered) {
    // Usage is metered in a single server's state; a cluster keeps none yet, so no quota holds.
    if (context_.accounts->any_quota()) spdlog::warn("accounts: relay quotas are not enforced in a cluster (it meters nothing yet)");
    return;
  }
  context_.usage = std::make_unique<usage_meter>(context_.config.state_dir, server_busy_wait);
  context_.relay.meter_with(relay_metering{
      [this](const std::string& payer, const std::string& id, bool exposed, std::uint64_t bytes, bool bill) {
        context_.usage->charge(payer, id, exposed, bytes, bill);
      },
      [this](const std::string& payer) { return quota_refusal(payer); }});
}

std::optional<std::string> server::quota_refusal(const std::string& account_name) const {
  if (!context_.accounts->any_quota()) return std::nullopt;
  const auto* a = context_.accounts->find(account_name);
  if (a == nullptr || !a->relay_quota) return std::nullopt;
  const auto used = context_.usage->month_bytes(account_name);
  if (used < *a->relay_quota) return std::nullopt;
  constexpr double gib = 1024.0 * 1024 * 1024;
  return fmt::format("account '{}' has used its relay quota for this month ({:.3f} GiB of {:.3f} GiB)", account_name,
                     static_cast<double>(used) / gib, static_cast<double>(*a->relay_quota) / gib);
}

void server::flush_usage() {
  if (!context_.usage) return;
  context_.relay.meter_live();  // (what the live pairs moved so far)
  context_.usage->flush();
}

void server::open_control_socket() {
  try {
    control_ = std::make_unique<control_socket>(io_, control_socket_path(context_.config.state_dir),
                                                [this](const nlohmann::json& request) { return answer_operator(context_, request); });
    spdlog::info("operator commands (rendezvous peers, kick) on {}", control_->path().string());
  } catch (const state_in_use_error&) {
    throw;
  } catch (const std::exception& e) {
    spdlog::warn("no operator commands: {}", e.what());
  }
}

void server::close_revoked_sessions() {
  const auto now = unix_now();
  std::set<std::string> revoked;
  const bool token_needed = !context_.config.token.empty() || context_.accounts->in_use();
  for (auto* session : context_.sessions) {
    if (session->anonymous() && token_needed) {
      spdlog::warn("{}: closed: it connected without a token, and the server now has accounts", session->display_name());
      session->close_telling("auth_required", "the server now requires a token (it has accounts): connect again with one");
      continue;
    }
    if (session->account_name().empty()) continue;
    if (const auto why = context_.accounts->revoked(session->account_name(), session->account_verifier(), now)) {
      spdlog::warn("{}: closed: {}", session->display_name(), why->message);
      session->close_telling(why->code, why->message);
      revoked.insert(session->account_name());
    }
  }
  // And what the relay carries for them.
  context_.relay.close_pairs_where([&](const std::string& payer) -> std::optional<std::string> {
    if (revoked.contains(payer)) return "account '" + payer + "' was revoked";
    const auto why = context_.accounts->standing_of(payer, now);
    return why ? std::optional<std::string>(why->message) : std::nullopt;
  });
}

void server::stop() {
  if (stopped_) return;
  stopped_ = true;
  spdlog::info("shutting down: {} peer(s) online", context_.registry.size());
  metrics_.reset();
  control_.reset();
  flush_usage();
  std::error_code ignored;
  for (auto* set : {&main_acceptors_, &hole_acceptors_, &relay_acceptors_}) {
    for (auto& acceptor : *set) acceptor->close(ignored);
  }
  claims_timer_.cancel();
  accounts_timer_.cancel();
  context_.exposes.stop();
  context_.relay.stop();
  context_.probes.stop();
  if (context_.directory) context_.directory->stop();
  if (context_.accounts) context_.accounts->close();
  context_.short_lived.close_all();
  // Closing completes asynchronously, so the list is not edited while we walk it.
  for (auto* session : context_.sessions) session->close("server shutting down");
}

net::awaitable<void> server::housekeeping() {
  asio::steady_timer timer(io_);
  // (The stats interval is read each time round: a reload may change it, and the next line is
  // then due one new interval on.)
  auto stats_every = std::chrono::seconds(context_.config.stats_interval_s);
  auto next_stats = net::clock::now() + stats_every;
  // Usage is written every few seconds, not per chunk (and at shutdown: the meter's destructor).
  constexpr auto usage_flush_every = std::chrono::seconds(5);
  auto next_usage_flush = net::clock::now() + usage_flush_every;
  while (!stopped_) {
    timer.expires_after(std::chrono::seconds(1));
    co_await timer.async_wait(net::use_nothrow);
    const auto now = net::clock::now();
    context_.attempts.expire(now);
    context_.relay.expire(now);
    context_.exposes.expire(now);
    context_.relay.meter_live();
    if (context_.usage && now >= next_usage_flush) {
      context_.usage->flush();
      next_usage_flush = now + usage_flush_every;
    }
    context_.log.flush();
    if (metrics_) metrics_->publish(render_metrics(context_));
    if (const std::chrono::seconds interval(context_.config.stats_interval_s); interval != stats_every) {
      stats_every = interval;
      next_stats = now + stats_every;
    }
    if (stats_every.count() > 0 && now >= next_stats) {
      log_stats();
      next_stats = now + stats_every;
    }
  }
}

net::awaitable<void> server::watch_accounts() {
  // Apart from housekeeping: a stalled cluster store (a reply up to its 3 s timeout) must not hold
  // up the expiry of attempts and relay pairs, or the metrics.
  while (!stopped_) {
    accounts_timer_.expires_after(std::chrono::seconds(1));
    co_await accounts_timer_.async_wait(net::use_nothrow);
    if (stopped_) break;
    const bool changed = co_await context_.accounts->refresh();
    if (stopped_) break;
    if (changed || context_.accounts->expiry_passed(unix_now())) close_revoked_sessions();
  }
}

net::awaitable<void> server::follow_port_claims() {
  auto& timer = claims_timer_;
  const auto every = std::max(std::chrono::milliseconds(1000), std::chrono::milliseconds(context_.config.node_lease_s * 1000 / 2));
  while (!stopped_) {
    auto claims = co_await context_.directory->list_port_claims();
    if (stopped_) co_return;
    if (claims.unavailable.empty()) context_.exposes.reconcile(claims.claims, context_.directory->node());
    timer.expires_after(every);
    co_await timer.async_wait(net::use_nothrow);
  }
}

void server::log_stats() const {
  const auto& s = context_.stats;
  const auto& relay = context_.relay;
  spdlog::info("stats: {} peers online, {} connect attempts, {} relayed pairs ({} waiting), {} bytes relayed, "
               "{} exposed ports with {} clients ({} spliced, {} on {} channels, {} served, {} bytes) and {} idle pool connections, "
               "{} pending handshakes, "
               "{} connections refused, {} evicted, {} refused at the "
               "descriptor wall, {} relay refusals, {} auth failures, {} ID key refusals, {} protocol errors",
               context_.registry.size(), s.attempts_started, relay.live_pairs() - relay.live_exposed(),
               relay.waiting_halves(), relay.bytes_relayed(), context_.exposes.open_ports(), context_.exposes.clients(),
               relay.live_exposed(), context_.exposes.channel_clients(), context_.exposes.channels(), relay.exposed_served(),
               relay.exposed_bytes(), context_.exposes.idle_pool(),
               context_.admissions.pending(),
               context_.admissions.refused(), context_.admissions.evicted(), context_.reserve.wall_hits,
               s.relay_refusals, s.auth_failures, s.key_refusals, s.protocol_errors);
}

}  // namespace rendezvous
