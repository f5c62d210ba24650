#include "rendezvous/local_directory.hpp"

namespace rendezvous {

net::awaitable<pin_outcome> local_directory::check_or_pin(std::string id, identity::public_key key, pin_owner owner) {
  try {
    co_return pin_outcome{pins_->check_or_pin(id, key, owner), {}};
  } catch (const std::exception& e) {
    co_return pin_outcome{pin_verdict::unavailable, e.what()};
  }
}

net::awaitable<claim_outcome> local_directory::claim(std::string, nlohmann::json) {
  co_return claim_outcome{true, {}, {}};  // the registry's duplicate check was the whole check
}

net::awaitable<location> local_directory::locate(std::string id) {
  location where;
  where.found = registry_.contains(id);
  co_return where;
}

net::awaitable<listing> local_directory::list(std::size_t max) {
  listing out;
  out.total = registry_.size();
  for (const auto& [id, session] : registry_) {
    if (out.ids.size() == max) break;
    out.ids.push_back(id);
  }
  co_return out;
}

}  // namespace rendezvous
