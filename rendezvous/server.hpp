// The rendezvous server: the main port (registration, connect coordination), the hole-assist
// port, the relay port, the probe ports and exposed ports, with admission limits and periodic
// housekeeping.
#pragma once
#include <memory>

#include <asio/io_context.hpp>

#include "rendezvous/control_socket.hpp"
#include "rendezvous/descriptor_budget.hpp"
#include "rendezvous/metrics_endpoint.hpp"
#include "rendezvous/server_context.hpp"

namespace rendezvous {

/// Owns the listeners and the shared context; runs on one io_context thread.
class server {
 public:
  server(asio::io_context& io, server_config config);

  /// Binds and starts accepting; throws std::runtime_error saying which address failed.
  void start();
  /// Closes the listeners and every connection.
  void stop();
  /// Applies the settings of `next` that may change while running (limits, timeouts, the expose
  /// range, the server-wide token, the log level) and logs what changed; the others take a
  /// restart and are logged as kept. No connection is closed: each limit applies to what comes
  /// next (a lower --max-peers refuses newcomers, it does not drop peers online).
  void reload(const server_config& next);
  /// Writes the usage counted so far (stop() does; so must an exit that does not wait for the
  /// connections to end).
  void flush_usage();

  std::uint16_t main_port() const { return main_port_; }
  std::uint16_t hole_port() const { return hole_port_; }
  std::uint16_t relay_port() const { return relay_port_; }
  /// The --metrics port (0: none).
  std::uint16_t metrics_port() const { return metrics_ ? metrics_->port() : 0; }
  const server_context& context() const { return context_; }

 private:
  /// --cluster: this node's registrations and pins go to Redis (redis_directory).
  void join_cluster();
  /// In a cluster that exposes ports: starts follow_port_claims, once.
  void follow_port_claims_if_needed();
  /// Listens for the operator's commands in the state directory.
  void open_control_socket();
  /// Reads the accounts from the state (a single server).
  void open_accounts();
  /// Closes the connections whose account was removed, disabled, expired or given a new token,
  /// and those let in without a token while the server needed none, if it now does.
  void close_revoked_sessions();
  /// Why account `account_name`'s bytes may not be relayed now (over its quota), if so.
  std::optional<std::string> quota_refusal(const std::string& account_name) const;
  net::awaitable<void> housekeeping();
  /// Reads the accounts again each second when they changed, and closes what a change (or an
  /// expiry) revokes.
  net::awaitable<void> watch_accounts();
  /// In a cluster: listens on every port other nodes' peers expose, as the live claims say
  /// (mail announces them at once; this catches lost mail and dead nodes).
  net::awaitable<void> follow_port_claims();
  void log_stats() const;

  asio::io_context& io_;
  server_config requested_;  ///< as given, before the descriptor budget cut it (reloads start here)
  descriptor_budget budget_;
  server_context context_;
  /// One of each per listen address.
  std::vector<std::unique_ptr<net::tcp::acceptor>> main_acceptors_;
  std::vector<std::unique_ptr<net::tcp::acceptor>> hole_acceptors_;
  std::vector<std::unique_ptr<net::tcp::acceptor>> relay_acceptors_;
  std::uint16_t main_port_ = 0;
  std::uint16_t hole_port_ = 0;
  std::uint16_t relay_port_ = 0;
  std::unique_ptr<metrics_endpoint> metrics_;
  std::unique_ptr<control_socket> control_;  ///< rendezvous peers / kick
  asio::steady_timer claims_timer_{io_};  ///< follow_port_claims' pause, cut short by stop()
  asio::steady_timer accounts_timer_{io_};  ///< watch_accounts' pause, cut short by stop()
  bool following_claims_ = false;         ///< follow_port_claims runs
  bool stopped_ = false;
};

}  // namespace rendezvous
