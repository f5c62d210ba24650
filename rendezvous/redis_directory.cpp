#include "rendezvous/redis_directory.hpp"

#include <algorithm>

#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "common/spawn.hpp"
#include "rendezvous/client_session.hpp"
#include "rendezvous/cluster_keys.hpp"

namespace rendezvous {
namespace {

const std::string node_prefix = "hp:node:";
const std::string reg_prefix = "hp:reg:";
const std::string& pins_key = cluster_keys::pins;
const std::string port_prefix = "hp:port:";
const std::string mail_prefix = "hp:mail:";
const std::string broadcast_channel = "hp:mail";
/// Mail is a few hundred bytes; anything far larger is not from one of our nodes.
constexpr std::size_t max_mail_bytes = 64 * 1024;

/// Takes KEYS[1] (hp:reg:ID) for node ARGV[1] unless a live node (its lease key exists) holds
/// it, with ARGV[2] as its info (empty: keep what is there); returns "" when taken, else
/// {holder's name, ms left on its lease}.
const std::string claim_script = R"lua(
local holder = redis.call('HGET', KEYS[1], 'node')
if holder and holder ~= ARGV[1] then
  local left = redis.call('PTTL', ARGV[3] .. holder)
  if left ~= -2 then return {holder, left} end
end
redis.call('HSET', KEYS[1], 'node', ARGV[1])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'info', ARGV[2]) end
return ''
)lua";

/// Deletes KEYS[1] if node ARGV[1] holds it.
const std::string release_script = R"lua(
if redis.call('HGET', KEYS[1], 'node') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua";

/// Walks every registration (ARGV[1] .. ID keys; or port claims), judging each holder by its
/// lease (ARGV[2] .. node). ARGV[3] "list": returns the IDs whose holder is live; "entries": the
/// same as {ID, node, info} triples; "sweep": deletes the others and returns how many.
const std::string scan_script = R"lua(
local out, n, alive, cursor = {}, 0, {}, '0'
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1] .. '*', 'COUNT', 1000)
  cursor = r[1]
  for _, key in ipairs(r[2]) do
    local node = redis.call('HGET', key, 'node')
    if node then
      if alive[node] == nil then alive[node] = redis.call('EXISTS', ARGV[2] .. node) == 1 end
      if alive[node] and ARGV[3] == 'list' then table.insert(out, string.sub(key, #ARGV[1] + 1)) end
      if alive[node] and ARGV[3] == 'entries' then
        table.insert(out, string.sub(key, #ARGV[1] + 1)); table.insert(out, node)
        table.insert(out, redis.call('HGET', key, 'info') or '')
      end
      if not alive[node] and ARGV[3] == 'sweep' then redis.call('DEL', key); n = n + 1 end
    end
  end
until cursor == '0'
if ARGV[3] == 'sweep' then return n end
return out
)lua";

/// Deletes the registrations node ARGV[2] holds (its previous run's); returns how many.
const std::string clear_script = R"lua(
local n, cursor = 0, '0'
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1] .. '*', 'COUNT', 1000)
  cursor = r[1]
  for _, key in ipairs(r[2]) do
    if redis.call('HGET', key, 'node') == ARGV[2] then redis.call('DEL', key); n = n + 1 end
  end
until cursor == '0'
return n
)lua";

/// KEYS[1] pins, KEYS[2] pin owners, KEYS[3] accounts, KEYS[4] the account's owned IDs; ARGV[1]
/// the ID, ARGV[2] its key (hex), ARGV[3] the account registering it ("" for none), ARGV[4] the
/// owned-set prefix: pins and
/// owns it as key_pins::check_or_pin does in SQLite, in one step, and says how it went.
const std::string pin_script = R"lua(
local pinned = redis.call('HGET', KEYS[1], ARGV[1])
local owner = redis.call('HGET', KEYS[2], ARGV[1]) or ''
if not pinned and owner ~= '' then
  -- An owner left without its pin (an older node's release-id, a hand edit): it owns nothing.
  redis.call('SREM', ARGV[4] .. owner, ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  owner = ''
end
if pinned and pinned ~= ARGV[2] then return 'conflicts' end
if pinned and owner == ARGV[3] then return 'matches' end
if pinned and owner ~= '' then return 'owned_by_other' end
if ARGV[3] ~= '' then
  local record = redis.call('HGET', KEYS[3], ARGV[3])
  if not record then return 'no_account' end
  local ok, a = pcall(cjson.decode, record)
  if not ok or type(a) ~= 'table' then return redis.error_reply('the record of account ' .. ARGV[3] .. ' is unreadable') end
  local limit = a['max_ids']
  if type(limit) == 'number' and redis.call('SCARD', KEYS[4]) >= limit then return 'over_id_limit' end
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
  redis.call('SADD', KEYS[4], ARGV[1])
end
if pinned then return 'matches' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 'pinned_now'
)lua";

/// KEYS[1] pins, KEYS[2] pin owners; ARGV[1] the ID, ARGV[2] the owned-set prefix: forgets the
/// ID's pin and its owner (1 if it had a pin).
const std::string release_pin_script = R"lua(
local owner = redis.call('HGET', KEYS[2], ARGV[1])
if owner then
  redis.call('SREM', ARGV[2] .. owner, ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return redis.call('HDEL', KEYS[1], ARGV[1])
)lua";

/// Sweep once per this many lease refreshes (about once a lease).
constexpr int refreshes_per_sweep = 3;

std::string unavailable(const cluster::redis_reply& reply) {
  return reply.is_error() ? reply.text : "an unexpected reply from Redis";
}

}  // namespace

redis_directory::redis_directory(const asio::any_io_executor& ex, cluster::redis_address address, std::string node,
                                 nlohmann::json node_info, std::chrono::milliseconds lease,
                                 const std::map<std::string, std::shared_ptr<client_session>>& registry)
    : executor_(ex), client_(std::make_shared<cluster::redis_client>(ex, std::move(address))), node_(std::move(node)), node_info_(std::move(node_info)),
      lease_(lease), registry_(registry) {}

redis_directory::~redis_directory() { *running_ = false; }

void redis_directory::start() {
  *running_ = true;
  tick_ = std::make_shared<asio::steady_timer>(executor_);
  asio::co_spawn(executor_, keep_lease(), net::log_escaped("cluster lease"));
  mailbox_ = std::make_unique<cluster::redis_subscriber>(
      executor_, client_->address(), std::vector<std::string>{mail_prefix + node_, broadcast_channel},
      [this](const std::string&, const std::string& payload) { receive_mail(payload); },
      [node = node_](bool subscribed) {
        if (subscribed) spdlog::info("cluster: node {} hears its mail", node);
        else spdlog::warn("cluster: node {} lost its mail subscription; reconnecting", node);
      });
  mailbox_->start();
}

void redis_directory::receive_mail(const std::string& payload) {
  // Only our nodes publish here, but nothing from Redis is trusted unchecked.
  std::string why;
  if (payload.size() > max_mail_bytes) why = std::to_string(payload.size()) + " bytes";
  auto parsed = why.empty() ? nlohmann::json::parse(payload, nullptr, false) : nlohmann::json();
  if (why.empty() && (!parsed.is_object() || !parsed["from"].is_string() || !parsed["mail"].is_object() ||
                      !parsed["mail"]["kind"].is_string())) {
    why = "not {from, mail: {kind}}";
  }
  if (!why.empty()) {
    const auto now = net::clock::now();
    if (now - last_bad_mail_log_ > std::chrono::seconds(10)) {
      last_bad_mail_log_ = now;
      spdlog::warn("cluster: ignoring malformed mail to node {} ({})", node_, why);
    }
    return;
  }
  const auto from = parsed["from"].get<std::string>();
  if (from == node_) return;  // our own broadcast
  if (on_mail_) on_mail_(from, parsed["mail"]);
}

void redis_directory::broadcast(const nlohmann::json& mail) {
  const nlohmann::json letter{{"from", node_}, {"mail", mail}};
  fire_and_forget({"PUBLISH", broadcast_channel, letter.dump()}, "send mail to every node");
}

void redis_directory::post(const std::string& to, const nlohmann::json& mail) {
  const nlohmann::json letter{{"from", node_}, {"mail", mail}};
  fire_and_forget({"PUBLISH", mail_prefix + to, letter.dump()}, "send mail to node " + to);
}

void redis_directory::stop() {
  if (!*running_) return;
  *running_ = false;
  if (tick_) tick_->cancel();
  if (mailbox_) mailbox_->close();
  // Best effort: dropping our lease frees our IDs for the other nodes now rather than when it
  // expires (if the process lives long enough for Redis to hear it).
  auto drop_lease = [](std::shared_ptr<cluster::redis_client> client, std::string key) -> net::awaitable<void> {
    const std::vector<std::string> drop{"DEL", key};
    co_await client->command(drop);
    client->close();
  };
  asio::co_spawn(executor_, drop_lease(client_, node_prefix + node_), net::log_escaped("cluster leave"));
}

net::awaitable<void> redis_directory::keep_lease() {
  auto running = running_;
  auto tick = tick_;
  bool held = false;   // our lease was refreshed last time
  bool cleared = false;
  int until_sweep = refreshes_per_sweep;
  while (*running) {
    if (!cleared) {
      cleared = true;
      for (const auto* prefix : {&reg_prefix, &port_prefix}) {
        const std::vector<std::string> clear{"EVAL", clear_script, "0", *prefix, node_};
        const auto reply = co_await client_->command(clear);
        if (!*running) co_return;
        cleared = cleared && reply.type == cluster::redis_reply::kind::integer;
        if (reply.type == cluster::redis_reply::kind::integer && reply.integer > 0) {
          spdlog::info("cluster: cleared {} {} a previous run of {} left", reply.integer,
                       prefix == &reg_prefix ? "registration(s)" : "port claim(s)", node_);
        }
      }
    }
    // GET: the lease as it was, so a lease that lapsed while we could still reach Redis (we
    // stalled, or Redis lost it) is noticed too.
    const std::vector<std::string> refresh{"SET", node_prefix + node_, node_info_.dump(), "PX",
                                           std::to_string(lease_.count()), "GET"};
    const auto reply = co_await client_->command(refresh);
    if (!*running) co_return;
    if (reply.is_error()) {
      if (held) spdlog::warn("cluster: cannot refresh the lease of node {}: {}", node_, reply.text);
      held = false;
    } else {
      if (!held) {
        spdlog::info("cluster: node {} holds its lease in {} ({} ms)", node_, client_->address().display(), lease_.count());
        co_await reassert();
      } else if (reply.is_nil()) {
        spdlog::warn("cluster: the lease of node {} had lapsed; claiming its IDs again", node_);
        co_await reassert();
      }
      held = true;
      if (--until_sweep == 0) {
        until_sweep = refreshes_per_sweep;
        for (const auto* prefix : {&reg_prefix, &port_prefix}) {
          const std::vector<std::string> sweep{"EVAL", scan_script, "0", *prefix, node_prefix, "sweep"};
          const auto swept = co_await client_->command(sweep);
          if (!*running) co_return;
          if (swept.type == cluster::redis_reply::kind::integer && swept.integer > 0) {
            spdlog::info("cluster: swept {} {} of nodes whose lease lapsed", swept.integer,
                         prefix == &reg_prefix ? "registration(s)" : "port claim(s)");
          }
        }
      }
    }
    tick->expires_after(held ? lease_ / 3 : std::chrono::milliseconds(500));
    co_await tick->async_wait(net::use_nothrow);
  }
}

net::awaitable<void> redis_directory::reassert() {
  std::vector<std::string> ids;
  for (const auto& [id, session] : registry_) ids.push_back(id);
  for (const auto& id : ids) {
    const nlohmann::json keep_info;  // null: the registration keeps the info it has
    const auto outcome = co_await claim(id, keep_info);
    if (outcome.taken || !outcome.unavailable.empty()) continue;
    // Another node took it while our lease had lapsed: its registration is the one that stands.
    spdlog::warn("cluster: {} is held by node {} now; closing our duplicate registration of it", id, outcome.holder);
    if (auto live = registry_.find(id); live != registry_.end()) {
      live->second->close_with_error("duplicate_id", "ID '" + id + "' was taken over by node " + outcome.holder +
                                                         " while this node had lost its cluster lease");
    }
  }
  const auto ports = held_ports_;
  for (const auto& [port, owner] : ports) {
    const auto outcome = co_await claim_port(port, owner);
    if (outcome.taken || !outcome.unavailable.empty()) continue;
    spdlog::warn("cluster: port {} is exposed through node {} now; closing ours", port, outcome.holder);
    held_ports_.erase(port);
    if (on_mail_) on_mail_(node_, {{"kind", "port_lost"}, {"port", port}, {"holder", outcome.holder}});
  }
}

net::awaitable<pin_outcome> redis_directory::check_or_pin(std::string id, identity::public_key key, pin_owner owner) {
  const std::vector<std::string> pin{"EVAL", pin_script, "4", pins_key, cluster_keys::pin_owners, cluster_keys::accounts,
                                     cluster_keys::owned_prefix + owner.account, id, identity::to_hex(key), owner.account,
                                     cluster_keys::owned_prefix};
  const auto reply = co_await client_->command(pin);
  if (reply.type != cluster::redis_reply::kind::string) co_return pin_outcome{pin_verdict::unavailable, unavailable(reply)};
  for (const auto& [text, verdict] : {std::pair{"pinned_now", pin_verdict::pinned_now}, {"matches", pin_verdict::matches},
                                      {"conflicts", pin_verdict::conflicts}, {"owned_by_other", pin_verdict::owned_by_other},
                                      {"over_id_limit", pin_verdict::over_id_limit}, {"no_account", pin_verdict::no_account}}) {
    if (reply.text == text) co_return pin_outcome{verdict, {}};
  }
  co_return pin_outcome{pin_verdict::unavailable, "an unexpected reply from Redis: " + reply.text};
}

net::awaitable<claim_outcome> redis_directory::claim(std::string id, nlohmann::json info) {
  co_return co_await claim_key(reg_prefix + id, std::move(info));
}

net::awaitable<claim_outcome> redis_directory::claim_port(std::uint16_t port, std::string owner) {
  const nlohmann::json info{{"owner", owner}};
  auto outcome = co_await claim_key(port_prefix + std::to_string(port), info);
  if (outcome.taken) held_ports_[port] = owner;
  co_return outcome;
}

void redis_directory::release_port(std::uint16_t port) {
  if (held_ports_.erase(port) == 0) return;
  fire_and_forget({"EVAL", release_script, "1", port_prefix + std::to_string(port), node_}, "release port " + std::to_string(port));
}

net::awaitable<port_claims> redis_directory::list_port_claims() {
  const std::vector<std::string> scan{"EVAL", scan_script, "0", port_prefix, node_prefix, "entries"};
  const auto reply = co_await client_->command(scan);
  port_claims out;
  if (reply.type != cluster::redis_reply::kind::array || reply.elements.size() % 3 != 0) {
    out.unavailable = unavailable(reply);
    co_return out;
  }
  for (std::size_t i = 0; i < reply.elements.size(); i += 3) {
    port_claim claim;
    const auto& port = reply.elements[i].text;
    const auto info = nlohmann::json::parse(reply.elements[i + 2].text, nullptr, false);
    const bool numeric = !port.empty() && port.size() <= 5 && std::all_of(port.begin(), port.end(), ::isdigit);
    if (!numeric || std::stoi(port) < 1 || std::stoi(port) > 65535 || !info.is_object() || !info["owner"].is_string()) continue;
    claim.port = static_cast<std::uint16_t>(std::stoi(port));
    claim.node = reply.elements[i + 1].text;
    claim.owner = info["owner"].get<std::string>();
    out.claims.push_back(std::move(claim));
  }
  co_return out;
}

net::awaitable<claim_outcome> redis_directory::claim_key(std::string key, nlohmann::json info) {
  const std::vector<std::string> take{"EVAL", claim_script, "1", key, node_, info.is_null() ? "" : info.dump(),
                                      node_prefix};
  const auto reply = co_await client_->command(take);
  if (reply.type == cluster::redis_reply::kind::string && reply.text.empty()) co_return claim_outcome{true, {}, {}};
  if (reply.type != cluster::redis_reply::kind::array || reply.elements.size() != 2 ||
      reply.elements[0].type != cluster::redis_reply::kind::string ||
      reply.elements[1].type != cluster::redis_reply::kind::integer) {
    co_return claim_outcome{false, {}, unavailable(reply)};
  }
  claim_outcome held{false, reply.elements[0].text, {}};
  // (-1: a lease without expiry, which our nodes never set; then no hint.)
  if (reply.elements[1].integer >= 0) held.lease_left = std::chrono::milliseconds(reply.elements[1].integer);
  co_return held;
}

void redis_directory::release(const std::string& id) {
  // Fire and forget: if Redis is unreachable, the ID stays ours until our lease lapses or we
  // claim it again (the same node may).
  fire_and_forget({"EVAL", release_script, "1", reg_prefix + id, node_}, "release " + id);
}

void redis_directory::fire_and_forget(std::vector<std::string> command, std::string what) {
  if (!*running_) return;
  auto task = [](std::shared_ptr<cluster::redis_client> client, std::vector<std::string> command, std::string what,
                 std::shared_ptr<bool> running) -> net::awaitable<void> {
    const auto reply = co_await client->command(command);
    if (reply.is_error() && *running) spdlog::warn("cluster: cannot {}: {}", what, reply.text);
  };
  asio::co_spawn(executor_, task(client_, std::move(command), std::move(what), running_), net::log_escaped("cluster command"));
}

/// Sets KEYS[1]'s info to ARGV[2] if node ARGV[1] holds it.
const std::string describe_script = R"lua(
if redis.call('HGET', KEYS[1], 'node') == ARGV[1] then return redis.call('HSET', KEYS[1], 'info', ARGV[2]) end
return 0
)lua";

void redis_directory::describe(const std::string& id, const nlohmann::json& info) {
  fire_and_forget({"EVAL", describe_script, "1", reg_prefix + id, node_, info.dump()}, "describe " + id);
}

/// {holder, info} of KEYS[1] if its holder's lease (ARGV[1] .. node) is live, else nil.
const std::string locate_script = R"lua(
local node = redis.call('HGET', KEYS[1], 'node')
if node and redis.call('EXISTS', ARGV[1] .. node) == 1 then return {node, redis.call('HGET', KEYS[1], 'info') or ''} end
return false
)lua";

net::awaitable<location> redis_directory::locate(std::string id) {
  const std::vector<std::string> find{"EVAL", locate_script, "1", reg_prefix + id, node_prefix};
  const auto reply = co_await client_->command(find);
  location where;
  if (reply.is_nil()) co_return where;
  if (reply.type != cluster::redis_reply::kind::array || reply.elements.size() != 2 ||
      reply.elements[0].type != cluster::redis_reply::kind::string) {
    where.unavailable = unavailable(reply);
    co_return where;
  }
  where.found = true;
  where.node = reply.elements[0].text;
  where.info = nlohmann::json::parse(reply.elements[1].text, nullptr, false);
  if (!where.info.is_object()) where.info = nlohmann::json::object();  // checked field by field by its reader
  co_return where;
}

net::awaitable<listing> redis_directory::list(std::size_t max) {
  const std::vector<std::string> scan{"EVAL", scan_script, "0", reg_prefix, node_prefix, "list"};
  const auto reply = co_await client_->command(scan);
  listing out;
  if (reply.type != cluster::redis_reply::kind::array) {
    out.unavailable = unavailable(reply);
    co_return out;
  }
  for (const auto& element : reply.elements) out.ids.push_back(element.text);
  std::sort(out.ids.begin(), out.ids.end());
  out.total = out.ids.size();
  if (out.ids.size() > max) out.ids.resize(max);
  co_return out;
}

net::awaitable<std::variant<std::vector<std::pair<std::string, std::string>>, std::string>> list_cluster_pins(
    cluster::redis_client& client) {
  const std::vector<std::string> all{"HGETALL", pins_key};
  const auto reply = co_await client.command(all);
  if (reply.type != cluster::redis_reply::kind::array) co_return unavailable(reply);
  std::vector<std::pair<std::string, std::string>> pins;
  for (std::size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    const auto key = identity::public_key_from_hex(reply.elements[i + 1].text);
    pins.emplace_back(reply.elements[i].text, key ? identity::fingerprint(*key) : "(unreadable key)");
  }
  std::sort(pins.begin(), pins.end());
  co_return pins;
}

net::awaitable<std::variant<int, std::string>> release_cluster_pin(cluster::redis_client& client, std::string id) {
  const std::vector<std::string> forget{"EVAL", release_pin_script, "2", pins_key, cluster_keys::pin_owners, id,
                                        cluster_keys::owned_prefix};
  const auto reply = co_await client.command(forget);
  if (reply.type != cluster::redis_reply::kind::integer) co_return unavailable(reply);
  co_return static_cast<int>(reply.integer);
}

}  // namespace rendezvous
