// `rendezvous peers` and `rendezvous kick ID`: what the operator asks a running server over its
// control socket, and how the server answers.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rendezvous {

struct server_context;

extern const char* const operator_commands_help;

/// The server's answer to one operator request ({"command": "peers"} or {"command": "kick", "id"}).
nlohmann::json answer_operator(server_context& context, const nlohmann::json& request);

/// Runs `peers` or `kick ID` against the server using `state_dir`; returns the exit code (0, 1
/// when the server cannot be asked or refuses, 2 on bad usage).
int run_operator_command(const std::string& state_dir, const std::string& command, const std::vector<std::string>& args,
                         bool json);

}  // namespace rendezvous
