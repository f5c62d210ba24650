#include "peer/resume_router.hpp"

#include <map>

namespace peer::resume_router {
namespace {

/// By tag; the registration owns the handler, the table only points at it.
std::map<std::string, std::weak_ptr<handler>>& table() {
  static std::map<std::string, std::weak_ptr<handler>> routes;
  return routes;
}

link_ref& latest() {
  static link_ref link;
  return link;
}

}  // namespace

void set_current_link(link_ref link) { latest() = std::move(link); }
const link_ref& current_link() { return latest(); }

std::shared_ptr<void> listen(const std::string& tag, handler take) {
  auto owned = std::shared_ptr<handler>(new handler(std::move(take)), [tag](handler* h) {
    auto& routes = table();
    if (auto it = routes.find(tag); it != routes.end() && it->second.expired()) routes.erase(it);
    delete h;
  });
  table()[tag] = owned;
  return owned;
}

bool deliver(const nlohmann::json& message, const asio::ip::address& server, const server_link::detached_sender& send) {
  const auto tag = message.find("resume");
  if (tag == message.end() || !tag->is_string()) return false;
  const auto it = table().find(tag->get<std::string>());
  if (it == table().end()) return false;
  const auto take = it->second.lock();
  if (!take) return false;
  (*take)(message, server, send);
  return true;
}

}  // namespace peer::resume_router
