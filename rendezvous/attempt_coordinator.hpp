// Connect attempts in flight: who asked whom, the one-time token, and the endpoints each side
// reported to the hole-assist port. When both have reported, both get the other's candidates and
// a start delay so their SYNs cross.
//
// The responder hears of an attempt only once the initiator has committed to it (reported to the
// hole-assist port, or for a relay-only attempt, joined the relay): a requester that asks and
// never follows through costs its target nothing, so connect spam cannot keep a peer busy.
#pragma once
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/net.hpp"

namespace rendezvous {

class client_session;

/// What a peer's hole-assist connection showed: its NAT-mapped endpoint and its own local ones.
struct hole_report {
  net::tcp::endpoint mapped;
  std::vector<net::tcp::endpoint> private_endpoints;
};

/// One connect-by-ID attempt between an initiator and a responder.
struct attempt {
  std::string id;
  std::string token;
  std::weak_ptr<client_session> sides[2];  ///< [0] initiator, [1] responder
  std::string names[2];
  std::optional<hole_report> reports[2];
  net::clock::time_point expires;
  bool relay_only = false;  ///< no hole-assist reports expected; ends silently at expiry
  bool dispatched = false;  ///< the responder has been told (once the initiator committed)
  nlohmann::json responder_message;  ///< what the responder is told then
  std::array<std::string, 2> relay_tokens;
};

/// Owns the attempts and sends the coordination messages.
class attempt_coordinator {
 public:
  /// How an attempt may connect, chosen by the initiator.
  struct plan {
    std::string path = "auto";  ///< auto (punch, then relay), direct (punch only), relay (relay only)
    std::string reason;         ///< why the server chose the path, if it did
    std::uint16_t hole_port = 0;
    std::uint16_t relay_port = 0;
    std::array<std::string, 2> relay_tokens;  ///< [0] the initiator's, [1] the responder's
    long long punch_timeout_ms = 5000;        ///< the initiator's; both sides punch this long
    std::chrono::seconds timeout{15};
  };
  /// Cancels relay tokens of attempts that end before both sides could use them.
  using relay_canceller = std::function<void(const std::array<std::string, 2>& tokens, const std::string& why)>;
  explicit attempt_coordinator(relay_canceller cancel_relay) : cancel_relay_(std::move(cancel_relay)) {}

  /// Why a new attempt between these two must wait, if it must (caps per side, per pair, overall).
  std::optional<std::string> refuse(const client_session& initiator, const client_session& responder) const;
  /// Creates an attempt and tells both sides; returns its ID.
  std::string start(const std::shared_ptr<client_session>& initiator, const std::shared_ptr<client_session>& responder,
                    long long request, const plan& how);
  /// The attempt's token, if the attempt exists (the hole-assist port checks proofs with it).
  std::optional<std::string> token(const std::string& attempt_id) const;
  /// Records a side's report; when both are in, sends the punch instruction. Returns false if unknown.
  bool report(const std::string& attempt_id, int side, hole_report report);
  /// A first half waits at the relay with `token`: if it is an initiator's, its attempt is committed.
  void relay_half_waiting(const std::string& token);
  /// The responder declined (busy): the initiator is told, the attempt ends.
  void decline(const std::string& attempt_id, const client_session& responder, const std::string& reason);
  /// Fails attempts past their deadline.
  void expire(net::clock::time_point now);
  /// Fails attempts of a session that went away.
  void forget(const client_session& session);
  std::size_t size() const { return attempts_.size(); }

 private:
  void fail(attempt& a, const std::string& code, const std::string& reason);
  /// Tells the responder, now that the initiator has shown it means it.
  void dispatch(attempt& a);
  std::map<std::string, attempt> attempts_;
  std::map<std::string, std::string> by_initiator_relay_token_;  ///< relay-only attempts awaiting their initiator
  relay_canceller cancel_relay_;
};

}  // namespace rendezvous
