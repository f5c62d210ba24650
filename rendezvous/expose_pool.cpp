#include "rendezvous/expose_pool.hpp"

#include <algorithm>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>

#include "common/crypto.hpp"
#include "common/frame_reader.hpp"
#include "common/spawn.hpp"

namespace rendezvous {

std::string expose_pool::open(const std::string& owner) {
  auto& secret = secrets_[owner];
  if (secret.empty()) secret = crypto::random_hex(32);
  return secret;
}

net::awaitable<expose_pool::proof_outcome> expose_pool::prove(nlohmann::json hello, net::tcp::socket& socket,
                                                              net::clock::time_point deadline) {
  std::error_code ignored;
  const auto owner = hello.contains("owner") && hello["owner"].is_string() ? hello["owner"].get<std::string>() : "";
  const auto refuse = [&](std::string why) {
    socket.close(ignored);
    return proof_outcome{{}, std::move(why)};
  };
  const auto secret = secrets_.find(owner);
  if (secret == secrets_.end()) co_return refuse("no pool is open for '" + owner.substr(0, 64) + "'");
  const auto nonce = crypto::random_hex(16);
  const nlohmann::json challenge{{"type", "pool_challenge"}, {"nonce", nonce}};
  if (auto ec = co_await wire::write_frame(socket, challenge)) co_return refuse("challenge failed: " + ec.message());
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(executor_, deadline);
  auto answer = co_await (wire::read_exact_frame(socket) || timer.async_wait(net::use_nothrow));
  if (answer.index() == 1) co_return refuse("no proof in time");
  const auto& read = std::get<0>(answer);
  std::string proof;
  if (read.message && read.message->value("type", nlohmann::json()) == "pool_proof" && (*read.message)["proof"].is_string()) {
    proof = (*read.message)["proof"].get<std::string>();
  }
  // The owner may have gone while we waited: look the secret up again.
  const auto now_secret = secrets_.find(owner);
  if (now_secret == secrets_.end() || !crypto::proofs_equal(proof, crypto::hmac_hex(now_secret->second, "pool " + nonce))) {
    co_return refuse("wrong pool proof for '" + owner.substr(0, 64) + "'");
  }
  co_return proof_outcome{owner, {}};
}

std::string expose_pool::keep(const std::string& owner, net::tcp::socket socket) {
  std::error_code ignored;
  auto& list = idle_[owner];
  if (static_cast<int>(list.size()) >= limits_.per_owner) {
    socket.close(ignored);
    return owner + " holds its maximum of " + std::to_string(limits_.per_owner) + " idle pool connections";
  }
  if (idle_count_ >= static_cast<std::size_t>(limits_.total)) {
    socket.close(ignored);
    return "the server holds its maximum of idle pool connections";
  }
  socket.set_option(net::tcp::no_delay(true), ignored);
  auto e = std::make_shared<idle_connection>(idle_connection{owner, std::move(socket), net::clock::now()});
  list.push_back(e);
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
  secrets_.erase(owner);
}

void expose_pool::expire(net::clock::time_point now) {
  std::vector<entry> stale;
  for (const auto& [owner, list] : idle_) {
    for (const auto& e : list) {
      if (now - e->since >= limits_.idle_time) stale.push_back(e);
    }
  }
  for (const auto& e : stale) drop(e);
}

}  // namespace rendezvous
