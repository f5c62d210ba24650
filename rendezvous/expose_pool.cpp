#include "rendezvous/expose_pool.hpp"

#include <algorithm>

#include <asio/co_spawn.hpp>

#include "common/crypto.hpp"
#include "common/spawn.hpp"

namespace rendezvous {

int expose_pool::share_used(const std::string& owner) const {
  const auto out = outstanding_.find(owner);
  const auto idle = idle_.find(owner);
  return (out == outstanding_.end() ? 0 : out->second) + (idle == idle_.end() ? 0 : static_cast<int>(idle->second.size()));
}

std::vector<std::string> expose_pool::issue(const std::string& owner, int count) {
  const int room = std::max(0, limits_.per_owner - share_used(owner));
  std::vector<std::string> issued;
  for (int i = 0; i < std::min(count, room); ++i) {
    auto token = crypto::random_hex(16);
    tokens_[token] = token_entry{owner, net::clock::now()};
    issued.push_back(std::move(token));
  }
  outstanding_[owner] += static_cast<int>(issued.size());
  return issued;
}

std::string expose_pool::add(const std::string& token, net::tcp::socket socket) {
  auto found = tokens_.find(token);
  std::error_code ignored;
  if (found == tokens_.end()) {
    socket.close(ignored);
    return "unknown or used pool token";
  }
  const auto owner = found->second.owner;
  tokens_.erase(found);
  if (--outstanding_[owner] <= 0) outstanding_.erase(owner);
  if (idle_count_ >= static_cast<std::size_t>(limits_.total)) {
    socket.close(ignored);
    return "the server holds its maximum of idle pool connections";
  }
  auto e = std::make_shared<idle_connection>(idle_connection{owner, std::move(socket), net::clock::now()});
  idle_[owner].push_back(e);
  ++idle_count_;
  asio::co_spawn(executor_, watch(e), net::log_escaped("pool watch"));
  return {};
}

net::awaitable<void> expose_pool::watch(entry e) {
  co_await e->socket.async_wait(net::tcp::socket::wait_read, net::use_nothrow);
  if (e->gone) co_return;  // taken (the wait was cancelled) or already dropped
  drop(e);                 // readable while idle: the peer closed it, or spoke out of turn
}

void expose_pool::drop(const entry& e) {
  e->gone = true;
  std::error_code ignored;
  e->socket.close(ignored);
  auto it = idle_.find(e->owner);
  if (it == idle_.end()) return;
  auto& list = it->second;
  if (auto at = std::find(list.begin(), list.end(), e); at != list.end()) {
    list.erase(at);
    --idle_count_;
  }
  if (list.empty()) idle_.erase(it);
}

std::optional<net::tcp::socket> expose_pool::take(const std::string& owner) {
  auto it = idle_.find(owner);
  if (it == idle_.end()) return std::nullopt;
  auto e = it->second.front();
  it->second.pop_front();
  --idle_count_;
  if (it->second.empty()) idle_.erase(it);
  e->gone = true;
  std::error_code ignored;
  e->socket.cancel(ignored);  // ends the watch, which now leaves it alone
  return std::move(e->socket);
}

void expose_pool::forget(const std::string& owner) {
  if (auto it = idle_.find(owner); it != idle_.end()) {
    const auto list = it->second;  // drop() edits the original
    for (const auto& e : list) drop(e);
  }
  std::erase_if(tokens_, [&](const auto& item) { return item.second.owner == owner; });
  outstanding_.erase(owner);
}

void expose_pool::expire(net::clock::time_point now) {
  std::vector<entry> stale;
  for (const auto& [owner, list] : idle_) {
    for (const auto& e : list) {
      if (now - e->since >= limits_.idle_time) stale.push_back(e);
    }
  }
  for (const auto& e : stale) drop(e);
  for (auto it = tokens_.begin(); it != tokens_.end();) {
    if (now - it->second.issued < limits_.token_time) {
      ++it;
      continue;
    }
    if (--outstanding_[it->second.owner] <= 0) outstanding_.erase(it->second.owner);
    it = tokens_.erase(it);
  }
}

}  // namespace rendezvous
