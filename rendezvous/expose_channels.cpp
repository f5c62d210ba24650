#include "rendezvous/expose_channels.hpp"

#include <algorithm>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "common/spawn.hpp"
#include "session/expose_channel.hpp"

namespace rendezvous {

std::string expose_channels::start(const std::string& owner, net::tcp::socket socket) {
  std::error_code ignored;
  auto& list = by_owner_[owner];
  std::string why;
  if (static_cast<int>(list.size()) >= limits_.per_owner) {
    why = owner + " already has its maximum of " + std::to_string(limits_.per_owner) + " channels";
  } else if (count_ >= static_cast<std::size_t>(limits_.total)) {
    why = "the server holds its maximum of channels";
  }
  if (!why.empty()) {
    if (list.empty()) by_owner_.erase(owner);
    socket.close(ignored);
    return why;
  }
  auto options = session::expose_channel_options();
  options.max_streams = limits_.streams_per_channel;
  options.accept_backlog = 16;  // the peer has no business opening streams here
  auto c = std::make_shared<session::session>(std::move(socket), session::unprotected, /*initiator=*/true,
                                              std::vector<std::uint8_t>{}, options);
  list.push_back(c);
  ++count_;
  spdlog::debug("expose: {} opened a channel ({} now)", owner, list.size());
  asio::co_spawn(executor_, serve(owner, c), net::log_escaped("expose channel"));
  return {};
}

net::awaitable<void> expose_channels::serve(std::string owner, channel c) {
  // Streams are the server's to open: any the peer opens is refused.
  auto refuse_streams = [](channel c) -> net::awaitable<void> {
    while (auto s = co_await c->accept_stream()) s->reset("the server opens the streams of an expose channel");
  };
  using namespace asio::experimental::awaitable_operators;
  co_await (c->run() && refuse_streams(c));
  spdlog::debug("expose: a channel of {} ended: {}", owner, c->end_reason());
  remove(owner, c);
}

void expose_channels::remove(const std::string& owner, const channel& c) {
  auto it = by_owner_.find(owner);
  if (it == by_owner_.end()) return;
  auto& list = it->second;
  if (auto at = std::find(list.begin(), list.end(), c); at != list.end()) {
    list.erase(at);
    --count_;
  }
  if (list.empty()) by_owner_.erase(it);
}

std::shared_ptr<session::session> expose_channels::pick(const std::string& owner) const {
  auto it = by_owner_.find(owner);
  if (it == by_owner_.end()) return nullptr;
  channel best;
  for (const auto& c : it->second) {
    if (!c->is_open() || c->open_streams() >= limits_.streams_per_channel) continue;
    if (!best || c->open_streams() < best->open_streams()) best = c;
  }
  return best;
}

void expose_channels::forget(const std::string& owner) {
  auto it = by_owner_.find(owner);
  if (it == by_owner_.end()) return;
  for (const auto& c : it->second) c->close("the exposing peer went away");
}

void expose_channels::stop() {
  for (const auto& [owner, list] : by_owner_) {
    for (const auto& c : list) c->close("the server is stopping");
  }
}

}  // namespace rendezvous
