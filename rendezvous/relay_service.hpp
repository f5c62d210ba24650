// The relay port: data connections present a one-time token; when both halves of a token are
// here the server splices them together. Also joins an exposed port's public clients to the
// exposing peer. Enforces pair limits and keeps per-ID traffic accounts.
//
//   peer -> {"type":"relay","token":T}   (each side has its own token; the token says which side)
//   server -> {"type":"relay_ok"} once paired, then raw bytes;  or {"type":"error",...} and close
//   peer -> {"type":"pool","owner":ID}   an exposing peer's idle connection (expose_pool)
#pragma once
#include <array>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <string>

#include "common/log_limiter.hpp"
#include "common/socket_registry.hpp"
#include "relay/splice_pump.hpp"
#include "relay/token_table.hpp"
#include "rendezvous/admission.hpp"
#include "rendezvous/server_config.hpp"

namespace rendezvous {

struct server_stats;

/// One side of a relayed pair.
struct relay_half {
  net::tcp::socket socket;
  bool speaks_frames = true;  ///< false for a raw public client of an exposed port
  admission_ticket ticket;
  std::string token;      ///< the token it came with (peers' halves)
  bool upgraded = false;  ///< its peer said the session moved to a direct path
};

/// How relayed bytes are metered and capped (set by the server; unset: neither).
struct relay_metering {
  /// Charges `bytes` carried for peer `id`, of account `payer` ("" for none); `exposed`: for
  /// clients of its exposed ports rather than for a pair with another peer; `bill`: to the account
  /// as a whole too (false when the pair's other side already billed the same account).
  std::function<void(const std::string& payer, const std::string& id, bool exposed, std::uint64_t bytes, bool bill)> charge;
  /// Why account `payer` may have nothing more relayed (over its quota); nothing if it may.
  std::function<std::optional<std::string>(const std::string& payer)> refusal;
};

/// Bytes relayed for one peer ID since the server started.
struct traffic_account {
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::uint64_t pairs = 0;
};

class relay_service {
 public:
  relay_service(const asio::any_io_executor& ex, const server_config& config, server_stats& stats,
                net::socket_registry& short_lived, logging::log_limiter& log)
      : executor_(ex), config_(config), stats_(stats), short_lived_(short_lived), log_(log) {}

  /// Tokens for the two sides of a connect attempt ([0] initiator, [1] responder), valid
  /// `lifetime`; `payers` are the sides' accounts.
  std::array<std::string, 2> issue_for_attempt(const std::string& initiator, const std::string& responder,
                                               std::chrono::seconds lifetime, std::array<std::string, 2> payers = {});
  /// Holds a public client of `exposer`'s port (of account `payer`); returns the exposer's
  /// token, or nothing (with `why`) if over a limit.
  std::optional<std::string> issue_for_client(relay_half client, const std::string& client_name,
                                              const std::string& exposer, const std::string& payer, std::string& why);
  /// A peer's session on the pair it joined with `token` moved onto a punched path: the pair's
  /// end is logged as an upgrade, not as a loss (unknown tokens are ignored).
  void note_upgraded(const std::string& token);
  /// Withdraws a token; a waiting half is told why and closed (e.g. the exposed service refused).
  void cancel(const std::string& token, const std::string& reason);
  /// Called with the token of every first half that starts waiting for its partner.
  void on_first_half_waiting(std::function<void(const std::string& token)> hook) { first_half_waiting_ = std::move(hook); }
  /// Where a pool connection goes (with its first message and the deadline of its handshake):
  /// returns why it was refused, empty if it was kept.
  using pool_handler = std::function<net::awaitable<std::string>(const nlohmann::json& hello, net::tcp::socket socket,
                                                                 net::clock::time_point deadline)>;
  void on_pool_connection(pool_handler handler) { pool_handler_ = std::move(handler); }
  /// Splices two connections that are already here (a client and a pool connection).
  void start_pair(std::array<relay_half, 2> halves, std::array<std::string, 2> names, std::array<std::string, 2> payers);
  /// A client of an exposed port carried on a channel (not spliced here), as metering sees it.
  struct carried_client {
    std::string exposer;
    std::string payer;
    const std::uint64_t* sent_by_exposer = nullptr;      ///< kept current by its bridge
    const std::uint64_t* received_by_exposer = nullptr;  ///< kept current by its bridge
    std::function<void(const std::string& why)> close;   ///< ends it (over quota, revoked)
    std::uint64_t metered = 0;
    std::string closed_why;
  };
  /// Meters `client` while it runs (it must stay put until carried_ended).
  void carrying(carried_client& client);
  /// The client ended: charges its last bytes and counts it in the exposed totals and the
  /// exposer's traffic account.
  void carried_ended(carried_client& client);
  /// Meters and caps relayed bytes from now on.
  void meter_with(relay_metering metering) { metering_ = std::move(metering); }
  /// Why `payer`'s bytes may not be relayed now (over quota); nothing if they may (or no meter).
  std::optional<std::string> refusal_for(const std::string& payer) const;
  /// Charges what every live pair moved since the last call, then closes the pairs of accounts
  /// now over their quota (the server calls it every second).
  void meter_live();
  /// Closes the live pairs for which `why(payer)` of a side's account (never "") says why.
  void close_pairs_where(const std::function<std::optional<std::string>(const std::string& payer)>& why);
  /// Serves one connection on the relay port.
  net::awaitable<void> serve(net::tcp::socket socket, admission_ticket ticket);
  /// Closes halves whose token expired.
  void expire(net::clock::time_point now);
  /// Closes every live pair and waiting half (shutdown).
  void stop();

  std::size_t live_pairs() const { return live_.size(); }
  /// What the relay carried for peer `id` since the server started: ended pairs, and the live
  /// ones (and clients carried on its channels) so far.
  traffic_account traffic_of(const std::string& id) const;
  /// Bytes moved by the live pairs so far (both ways).
  std::uint64_t live_bytes() const;
  std::size_t waiting_halves() const { return tokens_.waiting(); }
  std::uint64_t bytes_relayed() const { return bytes_relayed_; }  ///< by pairs that ended
  std::uint64_t peer_pairs_total() const { return peer_pairs_total_; }  ///< relayed pairs of two peers, ever
  std::uint64_t peer_pairs_upgraded() const { return peer_pairs_upgraded_; }  ///< of those, ended by a move to direct
  /// Clients of exposed ports: joined now, served to the end so far, and the bytes they moved.
  std::size_t live_exposed() const { return live_exposed_; }
  std::uint64_t exposed_served() const { return exposed_served_; }
  std::uint64_t exposed_bytes() const { return exposed_bytes_; }

 private:
  bool admit_pair(const std::array<std::string, 2>& names, std::string& why) const;
  /// Adds one finished pair's bytes to `id`'s traffic account.
  const traffic_account& add_traffic(const std::string& id, std::uint64_t sent, std::uint64_t received);
  /// One client of an exposed port served to its end, spliced or carried on a channel.
  void count_exposed(std::uint64_t bytes);
  /// A pair being spliced, as metering sees it.
  struct live_pair {
    std::array<relay_half, 2>* halves;
    std::array<std::string, 2> names;
    std::array<std::string, 2> payers;
    bool exposed = false;
    relay::pump_stats progress;         ///< kept current by the pump
    std::uint64_t metered[2] = {0, 0};  ///< of progress.a_to_b and .b_to_a, already charged
    std::string closed_why;             ///< set when metering closed it
  };
  net::awaitable<void> run_pair(std::array<relay_half, 2> halves, std::array<std::string, 2> names,
                                std::array<std::string, 2> payers);
  /// Charges what `pair` moved since it was last charged.
  void charge(live_pair& pair);
  /// Refuses a pair whose payer is over quota (telling the halves that speak frames); true if refused.
  bool refuse_over_quota(std::array<relay_half, 2>& halves, const std::array<std::string, 2>& names,
                         const std::array<std::string, 2>& payers);
  /// Tells both halves (those that speak frames) why the pair is refused, and closes them.
  static void refuse_pair(std::array<relay_half, 2>& halves, const std::string& code, const std::string& why);

  asio::any_io_executor executor_;
  const server_config& config_;
  server_stats& stats_;
  net::socket_registry& short_lived_;
  logging::log_limiter& log_;
  relay::token_table<relay_half> tokens_;
  std::list<live_pair*> live_;
  std::list<carried_client*> carried_;
  std::map<std::string, int> live_per_peer_;
  std::map<std::string, traffic_account> accounts_;
  std::uint64_t bytes_relayed_ = 0;
  std::uint64_t peer_pairs_total_ = 0;
  std::uint64_t peer_pairs_upgraded_ = 0;
  std::size_t live_exposed_ = 0;
  std::uint64_t exposed_served_ = 0;
  std::uint64_t exposed_bytes_ = 0;
  std::function<void(const std::string& token)> first_half_waiting_;
  pool_handler pool_handler_;
  relay_metering metering_;
};

}  // namespace rendezvous
