#include "rendezvous/redis_account_store.hpp"

#include <algorithm>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "rendezvous/cluster_keys.hpp"

namespace rendezvous {
namespace {

/// KEYS[1] accounts, KEYS[2] version; ARGV[1] name, ARGV[2] the account: adds it unless the
/// name is taken (1 added, 0 taken).
const std::string add_script = R"lua(
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('INCR', KEYS[2])
return 1
)lua";

/// The same keys: replaces an existing account (1 replaced, 0 none).
const std::string replace_script = R"lua(
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCR', KEYS[2])
return 1
)lua";

/// KEYS[1] accounts, KEYS[2] version, KEYS[3] pins, KEYS[4] pin owners, KEYS[5] the account's
/// owned IDs; ARGV[1] name: removes it and the pins of its IDs (how many; -1: no such account).
const std::string remove_script = R"lua(
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return -1 end
local released = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[5])) do
  -- (Only what is still its own: a stale entry must not take another account's pin.)
  if redis.call('HGET', KEYS[4], id) == ARGV[1] then
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    released = released + 1
  end
end
redis.call('DEL', KEYS[5])
redis.call('INCR', KEYS[2])
return released
)lua";

nlohmann::json optional_json(const auto& value) { return value ? nlohmann::json(*value) : nlohmann::json(); }

}  // namespace

std::string account_text(const account& a) {
  nlohmann::json out{{"verifier", identity::to_hex(a.verifier)},
                     {"created", a.created},
                     {"expires", optional_json(a.expires)},
                     {"disabled", a.disabled},
                     {"max_ids", optional_json(a.max_ids)},
                     {"relay_quota", optional_json(a.relay_quota)}};
  out["expose_ports"] = a.expose_ports ? nlohmann::json::array({a.expose_ports->first, a.expose_ports->second}) : nlohmann::json();
  return out.dump();
}

std::optional<account> account_from_text(const std::string& name, const std::string& text) {
  const auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return std::nullopt;
  try {
    account a;
    a.name = name;
    const auto verifier = identity::public_key_from_hex(parsed.at("verifier").get<std::string>());
    if (!verifier) return std::nullopt;
    a.verifier = *verifier;
    a.created = parsed.at("created").get<long long>();
    if (!parsed.at("expires").is_null()) a.expires = parsed["expires"].get<long long>();
    a.disabled = parsed.at("disabled").get<bool>();
    if (!parsed.at("max_ids").is_null()) a.max_ids = parsed["max_ids"].get<int>();
    if (!parsed.at("relay_quota").is_null()) a.relay_quota = parsed["relay_quota"].get<std::uint64_t>();
    if (const auto& ports = parsed.at("expose_ports"); !ports.is_null()) {
      a.expose_ports = {ports.at(0).get<std::uint16_t>(), ports.at(1).get<std::uint16_t>()};
    }
    return a;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

redis_account_store::redis_account_store(const asio::any_io_executor& ex, const cluster::redis_address& address)
    : client_(ex, address) {}

net::awaitable<cluster::redis_reply> redis_account_store::ask(std::vector<std::string> command) {
  auto reply = co_await client_.command(std::move(command));
  if (reply.is_error()) throw std::runtime_error("the cluster's Redis (" + client_.address().display() + "): " + reply.text);
  co_return reply;
}

net::awaitable<std::vector<account>> redis_account_store::all() {
  std::vector<std::string> command{"HGETALL", cluster_keys::accounts};
  const auto reply = co_await ask(std::move(command));
  std::vector<account> out;
  for (std::size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    // (An entry that does not read is skipped: nobody can use it, as with an unknown name.)
    if (auto a = account_from_text(reply.elements[i].text, reply.elements[i + 1].text)) {
      out.push_back(std::move(*a));
    } else {
      spdlog::warn("accounts: the record of account '{}' in {} is unreadable: skipped", reply.elements[i].text, where());
    }
  }
  std::sort(out.begin(), out.end(), [](const account& x, const account& y) { return x.name < y.name; });
  co_return out;
}

net::awaitable<std::optional<account>> redis_account_store::find(std::string name) {
  std::vector<std::string> command{"HGET", cluster_keys::accounts, name};
  const auto reply = co_await ask(std::move(command));
  if (reply.type != cluster::redis_reply::kind::string) co_return std::nullopt;
  co_return account_from_text(name, reply.text);
}

net::awaitable<bool> redis_account_store::add(account a) {
  std::vector<std::string> command{"EVAL", add_script, "2", cluster_keys::accounts, cluster_keys::accounts_version, a.name,
                                   account_text(a)};
  const auto reply = co_await ask(std::move(command));
  co_return reply.integer == 1;
}

net::awaitable<bool> redis_account_store::replace(account a) {
  std::vector<std::string> command{"EVAL", replace_script, "2", cluster_keys::accounts, cluster_keys::accounts_version,
                                   a.name, account_text(a)};
  const auto reply = co_await ask(std::move(command));
  co_return reply.integer == 1;
}

net::awaitable<std::optional<int>> redis_account_store::remove(std::string name) {
  std::vector<std::string> command{"EVAL", remove_script, "5", cluster_keys::accounts, cluster_keys::accounts_version,
                                   cluster_keys::pins, cluster_keys::pin_owners, cluster_keys::owned_prefix + name, name};
  const auto reply = co_await ask(std::move(command));
  if (reply.integer < 0) co_return std::nullopt;
  co_return static_cast<int>(reply.integer);
}

net::awaitable<long long> redis_account_store::version() {
  std::vector<std::string> command{"GET", cluster_keys::accounts_version};
  const auto reply = co_await ask(std::move(command));
  if (reply.type != cluster::redis_reply::kind::string) co_return 0;
  try {
    co_return std::stoll(reply.text);
  } catch (const std::exception&) {
    co_return 0;
  }
}

}  // namespace rendezvous
