// `peer send NAME PATH...`: files and directories to a peer running `online --inbox` or
// `receive`, over the secure session, with progress, resume and a whole-file hash check.
#pragma once
#include <string>
#include <vector>

#include "common/net.hpp"
#include "peer/events.hpp"
#include "peer/peer_config.hpp"

namespace peer {

/// Exit 0 when every file was stored; 7 when the receiver refused; 1 when the transfer broke.
net::awaitable<int> run_send(const peer_config& config, const event_sink& events, const std::string& target,
                             const std::vector<std::string>& paths);

}  // namespace peer
