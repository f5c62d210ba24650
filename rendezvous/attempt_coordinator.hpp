// Connect attempts in flight: who asked whom, the one-time token, and the endpoints each side
// reported to the hole-assist port. When both have reported, both get the other's candidates and
// a start delay so their SYNs cross.
//
// The responder hears of an attempt only once the initiator has committed to it (reported to the
// hole-assist port, or for a relay-only attempt, joined the relay): a requester that asks and
// never follows through costs its target nothing, so connect spam cannot keep a peer busy.
//
// In a cluster the responder may be registered on another node: the initiator's node still
// coordinates (its hole-assist and relay ports serve both sides), and what the responder is told
// goes as mail to its node, which hands it over its main connection (node_mail.cpp). That node
// keeps a note of the attempt, so the responder's decline, or its leaving, reaches this one.
#pragma once
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/identity.hpp"
#include "common/net.hpp"
#include "rendezvous/connect_outcomes.hpp"

namespace rendezvous {

class client_session;

/// What a peer's hole-assist connection showed: its NAT-mapped endpoint and its own local ones.
/// A dual-stack peer reports once over each family it has (`of` says how many reports it sends).
struct hole_report {
  net::tcp::endpoint mapped;
  std::vector<net::tcp::endpoint> private_endpoints;
  int of = 1;
};

/// Everything one side reported.
struct side_reports {
  std::vector<hole_report> received;
  bool complete() const { return !received.empty() && static_cast<int>(received.size()) >= received.front().of; }
  /// The side's candidates, IPv6 first (the order the other side dials them in), each once.
  nlohmann::json candidates() const;
  /// Its mapped endpoints, for logs and the punch message.
  std::string mapped() const;
};

/// One side of an attempt: a main connection on this node, or a peer registered on another one.
struct attempt_side {
  std::weak_ptr<client_session> session;  ///< on this node
  std::string node;                       ///< else: the node holding the peer's main connection
  std::string name;                       ///< its ID (or anonymous@ for an unregistered initiator)
  std::optional<identity::public_key> key;  ///< the identity key it proved to its node
  long long rtt_ms = 0;  ///< another node's peer: its round trip plus the nodes' (once delivered)
  bool remote() const { return !node.empty(); }
  static attempt_side here(const std::shared_ptr<client_session>& session);
};

/// One connect-by-ID attempt between an initiator and a responder.
struct attempt {
  std::string id;
  std::string token;
  attempt_side sides[2];  ///< [0] initiator (always on this node), [1] responder
  side_reports reports[2];
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
    std::string resume;         ///< a session's tag: the relay pair resumes it (the responder is told "resume")
    std::string host;           ///< this node's address, told a responder on another node
    std::vector<std::string> hole_hosts;  ///< our addresses per family, for reports over each
    std::uint16_t hole_port = 0;
    std::uint16_t relay_port = 0;
    std::array<std::string, 2> relay_tokens;  ///< [0] the initiator's, [1] the responder's
    long long punch_timeout_ms = 5000;        ///< the initiator's; both sides punch this long
    std::chrono::seconds timeout{15};
  };
  /// Cancels relay tokens of attempts that end before both sides could use them.
  using relay_canceller = std::function<void(const std::array<std::string, 2>& tokens, const std::string& why)>;
  /// Sends mail to another node (the directory's post).
  using mail_sender = std::function<void(const std::string& node, const nlohmann::json& mail)>;
  attempt_coordinator(relay_canceller cancel_relay, mail_sender post)
      : cancel_relay_(std::move(cancel_relay)), post_(std::move(post)) {}

  /// Why a new attempt from `initiator` to the peer `responder` must wait, if it must (caps per
  /// side, per pair, overall).
  std::optional<std::string> refuse(const client_session& initiator, const std::string& responder) const;
  /// Creates an attempt and tells the initiator (the responder once it commits); returns its ID.
  std::string start(const std::shared_ptr<client_session>& initiator, attempt_side responder, long long request,
                    const plan& how);
  /// The attempt's token, if the attempt exists (the hole-assist port checks proofs with it).
  std::optional<std::string> token(const std::string& attempt_id) const;
  /// Records a side's report; when both are in, sends the punch instruction. Returns false if unknown.
  bool report(const std::string& attempt_id, int side, hole_report report);
  /// A first half waits at the relay with `token`: if it is an initiator's, its attempt is committed.
  void relay_half_waiting(const std::string& token);
  /// The responder declined (busy): the initiator is told, the attempt ends. An attempt another
  /// node coordinates is passed on to it.
  void decline(const std::string& attempt_id, const client_session& responder, const std::string& reason);
  /// Fails attempts past their deadline.
  void expire(net::clock::time_point now);
  /// Fails attempts of a session that went away (and tells the nodes coordinating its others).
  void forget(const client_session& session);
  std::size_t size() const { return attempts_.size(); }
  /// Attempts that failed, by the code their sides were told (timeout, peer_busy, peer_gone).
  const std::map<std::string, std::uint64_t>& failures() const { return failures_; }
  /// How the attempts ended, as their initiators report (and the failures above).
  const connect_outcomes& outcomes() const { return outcomes_; }
  /// The initiator `from` reports how attempt `attempt_id` ended: "direct", "relay" or "failed".
  void outcome_reported(const std::string& attempt_id, const client_session& from, const std::string& outcome) {
    outcomes_.reported(attempt_id, &from, outcome, net::clock::now());
  }

  // Mail about attempts (node_mail.cpp reads it off the wire).
  /// Another node coordinates `attempt_id`, whose responder `session` here was just told of it.
  void coordinated_elsewhere(const std::string& attempt_id, const std::string& node,
                             const std::shared_ptr<client_session>& session, std::chrono::seconds lifetime);
  /// Node `node` handed our message to the responder, whose round trip is `rtt_ms`; `sent_ms`
  /// (our clock) is when we posted it.
  void delivered(const std::string& attempt_id, const std::string& node, long long rtt_ms, long long sent_ms);
  /// The responder on `node` declined, or is not (or no longer) there.
  void declined_elsewhere(const std::string& attempt_id, const std::string& node, const std::string& id,
                          const std::string& reason);
  void gone_elsewhere(const std::string& attempt_id, const std::string& node, const std::string& id,
                      const std::string& reason);

 private:
  void fail(attempt& a, const std::string& code, const std::string& reason);
  /// Tells the responder, now that the initiator has shown it means it.
  void dispatch(attempt& a);
  /// Sends `message` to a side's peer, on this node or through its node's mail.
  void tell(const attempt_side& side, const nlohmann::json& message);
  /// Ends attempt `it` as declined by its responder.
  void end_declined(std::map<std::string, attempt>::iterator it, const std::string& reason);
  /// The attempt `attempt_id` if its responder is `id` on `node`.
  std::map<std::string, attempt>::iterator remote_attempt(const std::string& attempt_id, const std::string& node,
                                                          const std::string& id);

  /// An attempt another node coordinates, whose responder is on this node.
  struct elsewhere {
    std::string node;
    std::weak_ptr<client_session> responder;
    net::clock::time_point expires;
  };
  std::map<std::string, attempt> attempts_;
  std::map<std::string, std::string> by_initiator_relay_token_;  ///< relay-only attempts awaiting their initiator
  std::map<std::string, elsewhere> elsewhere_;  ///< by attempt ID
  relay_canceller cancel_relay_;
  mail_sender post_;
  std::map<std::string, std::uint64_t> failures_;
  connect_outcomes outcomes_;
};

}  // namespace rendezvous
