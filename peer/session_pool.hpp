// The secure sessions one peer process holds, one per peer ID. A stream to a peer we already
// hold a live session with opens on that session; only otherwise does a connect attempt (punch,
// then relay) run, and concurrent requests for the same peer share that one attempt.
#pragma once
#include <exception>
#include <map>
#include <memory>
#include <string>

#include "common/async_event.hpp"
#include "common/identity.hpp"
#include "peer/events.hpp"
#include "peer/peer_config.hpp"
#include "peer/secure_session.hpp"
#include "peer/server_link.hpp"
#include "session/session.hpp"

namespace peer {

class session_pool {
 public:
  /// `link` must be open (and registered, if the peer should see our ID) and outlive the pool.
  /// A `speak_as` ID is named with each connect of an unregistered link, so the peer we reach
  /// sees it (the server checks it is pinned to our key).
  session_pool(server_link& link, identity::key_pair keys, const peer_config& config, std::string speak_as = "");

  /// A new stream to `peer` described by `meta`. Throws command_error with the connect exit
  /// codes (4 unknown or busy, 5 no path, 6 key refused, 1 broken).
  net::awaitable<std::shared_ptr<session::stream>> open_stream(const std::string& peer, nlohmann::json meta);
  /// The live session to `peer`, connecting if there is none; `reused` says which. A later
  /// path_changed counts its elapsed_ms from `started` (when the user's request began).
  net::awaitable<std::shared_ptr<session::session>> session_to(const std::string& peer, bool* reused = nullptr,
                                                               net::clock::time_point started = net::clock::now());
  const session_origin& origin(const std::string& peer) const { return *entries_.at(peer).origin; }
  /// Connect attempts this pool has made (tests and logs).
  int attempts() const { return attempts_; }

 private:
  struct entry {
    std::shared_ptr<session::session> session;
    std::shared_ptr<session_origin> origin = std::make_shared<session_origin>();  ///< (a move updates it)
    bool connecting = false;
    std::shared_ptr<net::async_event> settled;  ///< the attempt in progress finished
    std::uint64_t generation = 0;               ///< attempts finished
    std::exception_ptr failure;                 ///< why the last attempt failed, for its waiters
  };
  net::awaitable<void> connect(const std::string& peer, entry& slot, net::clock::time_point started);

  server_link& link_;
  identity::key_pair keys_;
  peer_config config_;
  std::string speak_as_;
  event_sink events_;  ///< path_changed
  std::map<std::string, entry> entries_;
  int attempts_ = 0;
};

}  // namespace peer
