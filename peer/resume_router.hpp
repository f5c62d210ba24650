// Where the server's "resume" messages go. A session whose path died is resumed on a relay pair
// the session's initiator asks for; the server names the session to the other side by its tag
// (session::session::tag()), and this process-wide table hands the message to that session,
// whichever server link of ours it came over.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/net.hpp"
#include "peer/server_link.hpp"

namespace peer::resume_router {

/// Takes a "resume" message; `server` is the address of the server it came from.
using handler = std::function<void(const nlohmann::json& message, const asio::ip::address& server,
                                   const server_link::detached_sender& send)>;

/// Routes resumes for `tag` to `take` for as long as the returned registration lives.
std::shared_ptr<void> listen(const std::string& tag, handler take);

/// Hands `message` to the session its "resume" tag names; false if no live session has it.
bool deliver(const nlohmann::json& message, const asio::ip::address& server, const server_link::detached_sender& send);

/// The server link this process opened last (a command that reconnects replaces its link, and a
/// session outliving the old one asks through the new one), and its server's address.
struct link_ref {
  server_link::detached_sender send;
  asio::ip::address server;
};
void set_current_link(link_ref link);
const link_ref& current_link();

}  // namespace peer::resume_router
