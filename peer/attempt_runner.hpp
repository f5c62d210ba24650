// One side of a connect attempt, from the server's "attempt" message to a connection: open the
// shared port, report to the hole-assist port from it, wait for the other side's candidates,
// then punch; and the relay. Relay first (path auto): the relay at once, the punch beside it,
// its connection handed over when it wins so the session can move onto it (path_upgrade.hpp).
// Punch first: the punch, then the relay if it fails.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "common/async_event.hpp"
#include "common/endpoint.hpp"
#include "common/identity.hpp"
#include "nat/punch.hpp"
#include "peer/server_link.hpp"

namespace peer {

/// The server's "attempt" message, parsed.
struct attempt_info {
  nat::attempt_secret secret;
  nat::role mine = nat::role::initiator;
  std::string peer;  ///< the other side's ID
  std::string path = "auto";  ///< auto, punch-first, direct or relay (chosen by the initiator, or the server)
  std::string reason;         ///< why the server chose the path, if it did
  std::uint16_t hole_port = 0;
  std::uint16_t relay_port = 0;
  std::string relay_token;  ///< ours only: it admits us, never the other side
  std::chrono::milliseconds punch_timeout{0};  ///< the initiator's, so both sides punch as long
  std::optional<identity::public_key> peer_key;  ///< the key the server knows the other side by
  /// The server asks the initiator to tell it how the attempt ended (report_outcome()).
  bool report_outcome = false;
  /// The coordinating node's address when it is not the server we are connected to (the other
  /// side is registered on another node of a cluster, which coordinates): its hole-assist and
  /// relay ports are there.
  std::optional<asio::ip::address> coordinator;
  /// The coordinator's public addresses per family: a dual-stack peer reports over both.
  std::vector<asio::ip::address> hole_hosts;
  /// Where the hole-assist and relay ports are: the coordinator, else our server. Of the
  /// coordinator's addresses, one of the family we reach our own node by, which we surely have.
  asio::ip::address ports_host(const server_link& link) const { return ports_host(link.server_endpoint().address()); }
  asio::ip::address ports_host(const asio::ip::address& server) const {
    if (!coordinator) return server;
    const bool v4 = net::unmapped(server).is_v4();
    if (coordinator->is_v4() == v4) return *coordinator;
    for (const auto& host : hole_hosts) {
      if (host.is_v4() == v4) return host;
    }
    return *coordinator;
  }
};

/// Parses an "attempt" message; throws command_error if it is malformed.
attempt_info parse_attempt(const nlohmann::json& message);

/// The punch of a relay-first attempt, still running beside the relayed connection; its outcome.
struct direct_upgrade {
  direct_upgrade(const asio::any_io_executor& ex, server_link::detached_sender server) : settled(ex), tell_server(std::move(server)) {}
  net::clock::time_point started = net::clock::now();
  bool done = false;
  std::optional<nat::punch_success> connection;  ///< the punched connection, once it won
  std::string failure;                           ///< else why there is none
  std::string gave_up_code;                      ///< the server ended the attempt (attempt_failed): its code
  net::async_event settled;                      ///< `done` became true, or the server gave up
  server_link::detached_sender tell_server;      ///< (the server logs the relay pair as upgraded)
  std::string relay_token;                       ///< ours, naming the pair to the server
};

/// The result of one attempt: the connection and its path, or why there is none.
struct attempt_result {
  std::optional<nat::punch_success> connection;
  std::string path;     ///< "direct" or "relay"
  std::string why_relay;  ///< why the relay was used
  std::string failure;
  int exit_code = 5;  ///< when there is no connection: 5 no path, 4 declined, 3 server lost
  std::shared_ptr<direct_upgrade> upgrade;  ///< relay first: the punch running beside the relay
  /// The link the attempt ran on, and its server's address: a session whose path dies asks it for
  /// a relay pair to resume on (path_fallback.hpp).
  server_link::detached_sender server;
  asio::ip::address server_address;
};

/// Runs the attempt. Relay first (path auto): join the relay at once and punch beside it; the
/// result is relayed, with the punch in `upgrade` (or direct when the relay failed and the punch
/// won). Punch first: punch (unless the path is relay), then fall back to the relay (unless the
/// path is direct); while waiting, other attempts arriving on the link are declined as busy.
/// `punch_timeout` applies when the attempt does not carry the initiator's.
net::awaitable<attempt_result> run_attempt(server_link& link, const attempt_info& attempt,
                                           std::chrono::milliseconds punch_timeout);

/// Tells the server how our attempt ended, if it asked and we began it: connected over `path`
/// ("direct" or "relay"), or failed (an empty path). It counts outcomes and time to connected.
void report_outcome(const server_link::detached_sender& server, const attempt_info& attempt, const std::string& path);

/// Declines an attempt we cannot take.
void decline_attempt(server_link& link, const nlohmann::json& attempt_message, const std::string& reason);

}  // namespace peer
