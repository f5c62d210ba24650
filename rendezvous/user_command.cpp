#include "rendezvous/user_command.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <iostream>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/fmt/fmt.h>

#include "common/account_token.hpp"
#include "rendezvous/server_config.hpp"
#include "rendezvous/state_db.hpp"

namespace rendezvous {

const char* const user_commands_help = R"(
Accounts (each peer of an account passes --token NAME:SECRET; the server keeps only a verifier):
  user add NAME [--expires WHEN] [--max-ids N] [--expose-ports FIRST-LAST] [--relay-quota-gib G]
                    create an account and print its token once (keep it: it cannot be shown again);
                    G caps the bytes the server relays for it (and its exposed ports) each month, UTC
  user list [--json]
                    every account: state, expiry, limits
  user set NAME [--expires WHEN|never] [--max-ids N|none] [--expose-ports FIRST-LAST|all]
                [--relay-quota-gib G|none]
                    change an account's limits
  user disable NAME / user enable NAME
                    refuse (and disconnect) an account's peers, or let them in again
  user rotate NAME  give the account a new token (printed once); the old one stops working and
                    the peers using it are disconnected
  user remove NAME  delete the account and release the IDs it owns
  WHEN is a date (2027-01-31: the account stops working as that day starts, UTC), a time
  (2027-01-31T12:00:00Z), or a span from now (+30d, +12h, +15m, +90s).
  A running server applies each change within about a second. With --cluster, the commands work
  on the cluster's accounts (in its Redis), which every node applies; relay quotas need a single
  server (a cluster meters nothing yet).
)";

namespace {

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string state_of(const account& a, long long now) {
  if (a.disabled) return "disabled";
  if (a.expires && *a.expires <= now) return "expired";
  return "active";
}

/// `text` read whole as a number (nothing if any of it is not one).
template <typename T>
std::optional<T> number_of(const std::string& text) {
  T value{};
  const char* const end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || stop != end) return std::nullopt;
  return value;
}

/// Sets `limit` from `flag`, if given: `clear_word` (when setting) clears it, else `parse` must
/// read it or the flag is a usage error saying `what` it takes.
template <typename T, typename Parse>
void apply_limit(std::optional<T>& limit, const std::optional<std::string>& flag, bool setting, const char* clear_word,
                 Parse parse, const std::string& what) {
  if (!flag) return;
  if (setting && *flag == clear_word) {
    limit.reset();
    return;
  }
  const std::optional<T> value = parse(*flag);
  if (!value) throw usage_error(what + (setting ? std::string(", or ") + clear_word : std::string()));
  limit = value;
}

/// Applies the flags that change limits to `a`; `setting` allows the words that clear them.
void apply_limits(account& a, const user_flags& flags, bool setting, long long now) {
  apply_limit(a.expires, flags.expires, setting, "never", [now](const std::string& text) { return expiry_of(text, now); },
              "--expires takes a date (2027-01-31), a time (2027-01-31T12:00:00Z) or a span (+30d)");
  apply_limit(a.max_ids, flags.max_ids, setting, "none", [](const std::string& text) {
    const auto n = number_of<int>(text);
    return n && *n >= 1 ? n : std::nullopt;
  }, "--max-ids takes a number of IDs, 1 or more");
  apply_limit(a.relay_quota, flags.relay_quota_gib, setting, "none", [](const std::string& text) -> std::optional<std::uint64_t> {
    const auto gib = number_of<double>(text);
    if (!gib || !(*gib > 0)) return std::nullopt;
    const double bytes = *gib * 1024.0 * 1024.0 * 1024.0;
    if (!(bytes < 9e18)) return std::nullopt;
    return static_cast<std::uint64_t>(bytes);
  }, "--relay-quota-gib takes GiB a month, more than 0 (0.5 is 512 MiB)");
  apply_limit(a.expose_ports, flags.expose_ports, setting, "all", port_range_of, "--expose-ports takes PORT or FIRST-LAST");
}

nlohmann::json json_of(const account& a, long long now) {
  nlohmann::json out{{"name", a.name}, {"state", state_of(a, now)}, {"created", utc_text(a.created)}};
  out["expires"] = a.expires ? nlohmann::json(utc_text(*a.expires)) : nlohmann::json();
  out["max_ids"] = a.max_ids ? nlohmann::json(*a.max_ids) : nlohmann::json();
  out["expose_ports"] = a.expose_ports ? nlohmann::json(std::to_string(a.expose_ports->first) + "-" +
                                                        std::to_string(a.expose_ports->second))
                                       : nlohmann::json();
  out["relay_quota_bytes"] = a.relay_quota ? nlohmann::json(*a.relay_quota) : nlohmann::json();
  return out;
}

void print_table(const std::vector<account>& accounts, long long now) {
  int width = 24;
  for (const auto& a : accounts) width = std::max(width, static_cast<int>(a.name.size()));
  std::printf("%-*s %-9s %-21s %-8s %-13s %-14s %s\n", width, "NAME", "STATE", "EXPIRES", "MAX-IDS", "EXPOSE-PORTS",
              "QUOTA/MONTH", "CREATED");
  for (const auto& a : accounts) {
    const auto ports = a.expose_ports ? std::to_string(a.expose_ports->first) + "-" + std::to_string(a.expose_ports->second)
                                      : std::string("any");
    const auto quota = a.relay_quota ? fmt::format("{:.3f} GiB", static_cast<double>(*a.relay_quota) / (1024.0 * 1024 * 1024))
                                     : std::string("none");
    std::printf("%-*s %-9s %-21s %-8s %-13s %-14s %s\n", width, a.name.c_str(), state_of(a, now).c_str(),
                a.expires ? utc_text(*a.expires).c_str() : "never",
                a.max_ids ? std::to_string(*a.max_ids).c_str() : "any", ports.c_str(), quota.c_str(), utc_text(a.created).c_str());
  }
}

/// Prints a new token where a script reads it (stdout, alone) and the warning where a person does.
bool print_token(const account_token::token& token, const char* what, const std::string& where) {
  std::cout << account_token::to_text(token) << std::endl;
  if (!std::cout) {
    std::cerr << "rendezvous: could not print the token of account '" << token.name
              << "'; it is lost: run user rotate " << token.name << " for a new one\n";
    return false;
  }
  std::cerr << "rendezvous: " << what << " for account '" << token.name << "' in " << where
            << " (printed once: the server keeps only a verifier; give it to the peers as --token)\n";
  return true;
}

constexpr const char* verbs[] = {"add", "list", "set", "disable", "enable", "rotate", "remove"};

net::awaitable<int> run(account_store& store, const std::vector<std::string>& args, const user_flags& flags) {
  const auto& verb = args.at(0);
  const auto now = unix_now();
  if (std::find(std::begin(verbs), std::end(verbs), verb) == std::end(verbs)) {
    throw usage_error("unknown user command '" + verb + "' (add, list, set, disable, enable, rotate, remove)");
  }
  if (flags.json && verb != "list") throw usage_error("--json goes with user list");
  const bool takes_name = verb != "list";
  if (takes_name ? args.size() != 2 : args.size() != 1) {
    throw usage_error(takes_name ? "user " + verb + " takes one NAME" : "user list takes no NAME");
  }
  const bool limits_given = flags.expires || flags.max_ids || flags.expose_ports || flags.relay_quota_gib;
  if (limits_given && verb != "add" && verb != "set") {
    throw usage_error("--expires, --max-ids, --expose-ports and --relay-quota-gib go with user add or user set");
  }
  if (!limits_given && verb == "set") throw usage_error("user set changes nothing without --expires, --max-ids, --expose-ports or --relay-quota-gib");
  if (verb == "list") {
    const auto accounts = co_await store.all();
    if (flags.json) {
      for (const auto& a : accounts) std::cout << json_of(a, now).dump() << "\n";
    } else {
      print_table(accounts, now);
    }
    co_return 0;
  }
  const auto name = args[1];
  if (!account_token::is_valid_name(name)) throw usage_error("an account name is 1 to 64 of A-Z a-z 0-9 . _ -");
  if (verb == "add") {
    account a;
    a.name = name;
    a.created = now;
    apply_limits(a, flags, false, now);
    const auto token = account_token::generate(name);
    a.verifier = account_token::verifier_of(token);
    if (!co_await store.add(a)) {
      std::cerr << "rendezvous: account '" << name << "' already exists (user rotate gives it a new token)\n";
      co_return 1;
    }
    if (a.expires && *a.expires <= now) {
      std::cerr << "rendezvous: warning: account '" << name << "' expires at " << utc_text(*a.expires)
                << ", which has passed: it cannot connect until user set " << name << " --expires moves it\n";
    }
    co_return print_token(token, "created", store.where()) ? 0 : 1;
  }
  if (verb == "remove") {
    const auto released = co_await store.remove(name);
    if (!released) {
      std::cerr << "rendezvous: no account '" << name << "' in " << store.where() << "\n";
      co_return 1;
    }
    std::cout << "removed " << name << " (released " << *released << " ID" << (*released == 1 ? "" : "s") << ")\n";
    co_return 0;
  }
  auto found = co_await store.find(name);
  if (!found) {
    std::cerr << "rendezvous: no account '" << name << "' in " << store.where() << "\n";
    co_return 1;
  }
  auto a = std::move(*found);
  std::optional<account_token::token> token;
  if (verb == "set") apply_limits(a, flags, true, now);
  if (verb == "disable" || verb == "enable") a.disabled = verb == "disable";
  if (verb == "rotate") {
    token = account_token::generate(name);
    a.verifier = account_token::verifier_of(*token);
  }
  if (!co_await store.replace(a)) {
    std::cerr << "rendezvous: account '" << name << "' was removed meanwhile\n";
    co_return 1;
  }
  if (token) {
    co_return print_token(*token, "new token", store.where()) ? 0 : 1;
  } else {
    std::cout << verb << (verb == "set" ? " " : "d ") << name << ": " << json_of(a, now).dump() << "\n";
  }
  co_return 0;
}

}  // namespace

namespace {

/// Runs the command, then lets go of the store (a Redis connection would keep the loop running).
net::awaitable<int> run_then_close(account_store& store, const std::vector<std::string>& args, const user_flags& flags) {
  int code = 1;
  try {
    code = co_await run(store, args, flags);
  } catch (...) {
    store.close();
    throw;
  }
  store.close();
  co_return code;
}

}  // namespace

std::optional<long long> expiry_of(const std::string& text, long long now) {
  if (text.size() >= 3 && text[0] == '+') {
    const auto digits = text.substr(1, text.size() - 2);
    if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    const long long n = std::stoll(digits);  // (at most 999999999: no unit below overflows)
    switch (text.back()) {
      case 's': return now + n;
      case 'm': return now + n * 60;
      case 'h': return now + n * 3600;
      case 'd': return now + n * 86400;
      default: return std::nullopt;
    }
  }
  return unix_time_of(text);
}

int run_user_command(const account_store_opener& open, const std::vector<std::string>& args, const user_flags& flags) {
  if (args.empty()) {
    std::cerr << "rendezvous: user needs a command: add, list, set, disable, enable, rotate or remove\n";
    return 2;
  }
  try {
    asio::io_context io;
    const auto store = open(io.get_executor());
    auto done = asio::co_spawn(io, run_then_close(*store, args, flags), asio::use_future);
    io.run();
    return done.get();
  } catch (const usage_error& e) {
    std::cerr << "rendezvous: " << e.what() << "\n(see rendezvous --help)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "rendezvous: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace rendezvous
