// What SIGHUP may change in a running server: the settings a reload applies (limits, timeouts,
// the expose range, the server-wide token, the log level), those it must leave until a restart
// (addresses, ports, state, cluster), and how a change reads in the log.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rendezvous/server_config.hpp"

namespace rendezvous {

/// `running` with the settings a reload applies taken from `next` (the rest as they run).
server_config with_reloadable(server_config running, const server_config& next);

/// The keys of the settings that differ between `running` and `next` but take a restart.
std::vector<std::string> restart_only_changes(const server_config& running, const server_config& next);

/// Each reloadable setting that differs, as "max_peers 10000 -> 3" (the token only as "token
/// changed": it is never logged).
std::vector<std::string> describe_changes(const server_config& before, const server_config& after);

/// Keys whose value in the config file changed from `old_file` to `new_file` while the
/// environment or a flag sets them too (and so still wins).
std::vector<std::string> overridden_changes(const nlohmann::json& old_file, const nlohmann::json& new_file,
                                            const nlohmann::json& env, const nlohmann::json& flags);

}  // namespace rendezvous
