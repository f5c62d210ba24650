// One peer's main connection: hello and challenge-response auth within a deadline, then
// registration, listing and connect requests until the channel closes.
#pragma once
#include <deque>
#include <list>
#include <memory>
#include <string>

#include "common/identity.hpp"
#include "common/message_channel.hpp"
#include "common/token_bucket.hpp"
#include "nat/nat_report.hpp"
#include "rendezvous/admission.hpp"

namespace rendezvous {

struct server_context;

/// Serves one main connection; held by the registry while registered.
class client_session : public std::enable_shared_from_this<client_session> {
 public:
  client_session(server_context& context, net::tcp::socket socket, admission_ticket ticket);

  /// Greets the client and serves its messages until the connection ends, then leaves the
  /// registry. Driven by the channel's handlers: an idle peer holds no coroutine.
  void start();
  /// Queues a message to this peer.
  void send(const nlohmann::json& message) { channel_->send(message); }
  /// Closes the connection (server shutdown).
  void close(const std::string& why) { channel_->close(wire::close_reason::closed_locally, why); }
  /// Tells the peer why in an error message after what is queued for it, then closes the
  /// connection (within 2 s): for a reason the peer must hear (its account was revoked).
  void close_telling(const std::string& code, const std::string& message) {
    channel_->send_and_close({{"type", "error"}, {"code", code}, {"message", message}}, wire::close_reason::closed_locally,
                             message);
  }
  /// Tells the peer why in an error message (unless a write is in progress), then closes the connection.
  void close_with_error(const std::string& code, const std::string& message) {
    channel_->close_with_notice({{"type", "error"}, {"code", code}, {"message", message}}, wire::close_reason::closed_locally,
                                message);
  }
  /// How the operator sees it (rendezvous peers): ID, account, address, NAT class, since, key.
  nlohmann::json operator_view() const;
  /// The registered ID, or "anonymous@IP:PORT" before registration.
  std::string display_name() const;
  /// The registered ID; empty before registration.
  const std::string& id() const { return id_; }
  /// Last measured round trip in ms (0 if none yet).
  long long rtt_ms() const;
  /// The NAT behaviour per family this peer reported from its probes (unknown until it does).
  const nat::nat_report& nat() const { return nat_; }
  /// The identity key this connection proved at authentication, if it sent one.
  const std::optional<identity::public_key>& key() const { return key_; }
  /// The account it authenticated as ("" for the server-wide token or an open server).
  const std::string& account_name() const { return account_; }
  /// True if it was let in without any token (the server needed none then).
  bool anonymous() const { return anonymous_; }
  /// The verifier of the account token it proved (all zero without an account).
  const identity::public_key& account_verifier() const { return account_verifier_; }

 private:
  void on_message(const nlohmann::json& message);
  /// Handles one request, refusing (not throwing) one with a malformed field.
  void dispatch(const nlohmann::json& message);
  /// A request with a field of the wrong type or out of range: refused, the connection kept.
  void refuse_bad_request(const nlohmann::json& message, const std::string& why, const std::string& reply);
  /// Runs a request that waits for the directory; requests arriving meanwhile wait their turn
  /// (at most max_backlog), so replies keep the order of requests.
  void run_in_order(net::awaitable<void> task);
  net::awaitable<void> refusing_malformed(net::awaitable<void> task, nlohmann::json message);
  void drain_backlog();
  void finish_handshake(const nlohmann::json& message);
  /// check_auth, with a malformed message refused and closed instead of thrown.
  bool authenticate(const nlohmann::json& message, const std::string& challenge);
  bool check_auth(const nlohmann::json& message, const std::string& challenge);
  /// Checks an account token's proof (message "user", "user_sig"); false if refused (and closed).
  bool check_account(const nlohmann::json& message, const std::string& challenge);
  /// Refuses the handshake with an error, closing the connection.
  void refuse_auth(const std::string& code, const std::string& message, const std::string& log_line);
  bool accept_key(const nlohmann::json& message, const std::string& challenge);
  net::awaitable<bool> key_may_register(nlohmann::json message, std::string id);
  /// Takes the "as" ID of a connect request from an unregistered connection; false (after
  /// replying with the error) when it is not ours to claim.
  net::awaitable<bool> claim_id(nlohmann::json message);
  void handle(const nlohmann::json& message);
  net::awaitable<void> handle_register(nlohmann::json message);
  net::awaitable<void> handle_list(nlohmann::json message);
  /// Speaks as the "as" ID first if the request names one, then connects.
  net::awaitable<void> handle_connect(nlohmann::json message);
  net::awaitable<void> connect_to_target(const nlohmann::json& message);
  net::awaitable<void> handle_expose(nlohmann::json message);
  void handle_nat_report(const nlohmann::json& message);
  /// How the directory describes this registration to other nodes: observed endpoint, key,
  /// since, NAT report.
  nlohmann::json registration_info() const;
  void reply_error(const nlohmann::json& request, const std::string& code, const std::string& text);
  void leave();
  /// Requests a client may make: 20 a second on average, bursts of 40; beyond that the server
  /// reads its requests more slowly (TCP pushes back), so a flood costs it a bounded share.
  net::token_bucket requests_{20, 40};
  /// Connect requests: 2 a second, bursts of 10; beyond that each is refused as rate_limited.
  net::token_bucket connects_{2, 10};

  server_context& context_;
  std::shared_ptr<wire::message_channel> channel_;
  admission_ticket ticket_;
  std::string id_;  ///< empty until registered
  /// An ID an unregistered connection proved it owns (its key is the one pinned), named in its
  /// connect requests ("as") so the peer it reaches knows who is calling.
  std::string claimed_id_;
  bool authenticated_ = false;  ///< nothing but auth is handled before this
  std::optional<identity::public_key> key_;
  std::string account_;
  bool anonymous_ = false;
  identity::public_key account_verifier_{};
  nat::nat_report nat_;
  std::string remote_;
  long long registered_ms_ = 0;  ///< when it registered (wall clock: Unix milliseconds)
  std::string challenge_;  ///< until the handshake is done
  bool busy_ = false;      ///< a request is waiting for the directory
  std::deque<nlohmann::json> backlog_;  ///< requests that arrived meanwhile
  std::unique_ptr<asio::steady_timer> handshake_timer_;  ///< until the handshake is done
  std::list<client_session*>::iterator registration_;    ///< in server_context::sessions
};

}  // namespace rendezvous
