// Keeps a long-running command connected to the server: one connected period after another,
// with backoff (1 s doubling to 30 s, +-25% jitter) in between.
#pragma once
#include <functional>
#include <memory>

#include "peer/events.hpp"
#include "peer/server_link.hpp"

namespace peer {

/// One connected period on a fresh link; sets `worked` once it got going. It ends by returning
/// or throwing when the link is lost.
using connected_period = std::function<net::awaitable<void>(std::shared_ptr<server_link> link, bool& worked)>;

/// Runs `period` forever. A command_error before any period ever worked is the user's to fix and
/// is rethrown; later failures (a server restarting) are retried with a "reconnecting" event.
net::awaitable<void> keep_connected(const event_sink& events, connected_period period);

}  // namespace peer
