// The receiving end of `peer online --inbox` and `peer receive`: whether a peer may send us
// files (--accept-from, --accept-any), and one transfer stream served into the inbox with its
// progress shown.
#pragma once
#include <memory>
#include <string>

#include "peer/events.hpp"
#include "peer/peer_config.hpp"
#include "session/stream.hpp"

namespace peer {

/// Whether `config` takes transfers from `peer` (an ID as the server introduced it).
bool accepts_transfer_from(const peer_config& config, const std::string& peer);

/// Serves one "transfer" stream from `peer` into config.inbox, or refuses it (the sender sees
/// why; "busy" when too many transfers run). `path` is how the session runs; `live_line` shows
/// progress on a terminal (not for `online`, whose transfers may run side by side). Returns why
/// it failed, empty when every file was stored.
net::awaitable<std::string> serve_transfer(const peer_config& config, const event_sink& events, std::string peer,
                                           std::string path, std::shared_ptr<session::stream> stream, bool live_line);

}  // namespace peer
