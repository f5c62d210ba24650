// `rendezvous user ...`: the operator's commands on the accounts, safe while the server runs
// (it sees a change within about a second and closes what the change revokes).
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rendezvous/account_store.hpp"

namespace rendezvous {

/// The flags the user commands take.
struct user_flags {
  std::optional<std::string> expires;       ///< DATE, DATE'T'HH:MM:SS'Z', +N{s,m,h,d}, or "never" (set)
  std::optional<std::string> max_ids;       ///< N, or "none" (set)
  std::optional<std::string> expose_ports;  ///< FIRST-LAST, or "all" (set)
  std::optional<std::string> relay_quota_gib;  ///< GiB a month, decimals allowed, or "none" (set)
  bool json = false;                        ///< list: one JSON object per line
};

/// What `rendezvous --help` says about the user commands.
extern const char* const user_commands_help;

/// Opens the store the command works on, on the command's own event loop.
using account_store_opener = std::function<std::unique_ptr<account_store>(const asio::any_io_executor&)>;

/// Runs `user ARGS...` on the store `open` opens; returns the exit code (0, 1 on a refusal, 2 on
/// bad usage).
int run_user_command(const account_store_opener& open, const std::vector<std::string>& args, const user_flags& flags);

/// The Unix time of an --expires value (relative ones from `now`); nothing if it is not one.
std::optional<long long> expiry_of(const std::string& text, long long now);

}  // namespace rendezvous
