#include "rendezvous/operator_commands.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <iostream>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/peer_id.hpp"
#include "rendezvous/client_session.hpp"
#include "rendezvous/control_socket.hpp"
#include "rendezvous/server_context.hpp"

namespace rendezvous {

const char* const operator_commands_help = R"(
A running server's view (over STATE/control.sock, mode 0600: run as the server's user, with its
--state):
  peers [--json]    the peers online on this server: ID, account, node, NAT class, since, bytes
                    relayed for it, address
  kick ID           close ID's connection; its `peer online` stops (to keep it out, disable its
                    account: rendezvous user disable NAME)
)";

nlohmann::json answer_operator(server_context& context, const nlohmann::json& request) {
  const auto command = request.value("command", "");
  if (command == "peers") {
    nlohmann::json peers = nlohmann::json::array();
    for (const auto& [id, session] : context.registry) {
      auto view = session->operator_view();
      const auto traffic = context.relay.traffic_of(id);
      view["relayed_bytes"] = traffic.sent + traffic.received;
      view["node"] = context.directory ? context.directory->node() : "";
      peers.push_back(std::move(view));
    }
    return {{"peers", std::move(peers)}};
  }
  if (command == "kick") {
    const auto id = request.value("id", "");
    const auto it = context.registry.find(id);
    if (it == context.registry.end()) return {{"error", "no peer '" + id.substr(0, 64) + "' is online on this server"}};
    spdlog::warn("{}: closed by the operator (rendezvous kick)", id);
    it->second->close_telling("kicked", "the server's operator closed this connection (rendezvous kick)");
    return {{"kicked", id}};
  }
  return {{"error", "unknown request '" + command.substr(0, 32) + "' (peers, kick)"}};
}

int run_operator_command(const std::string& state_dir, const std::string& command, const std::vector<std::string>& args,
                         bool json) {
  nlohmann::json request{{"command", command}};
  if (command == "kick") {
    if (args.size() != 1 || !wire::is_valid_peer_id(args[0])) {
      std::cerr << "rendezvous: kick takes one peer ID\n(see rendezvous --help)\n";
      return 2;
    }
    request["id"] = args[0];
  } else if (!args.empty()) {
    std::cerr << "rendezvous: peers takes no arguments\n(see rendezvous --help)\n";
    return 2;
  }
  nlohmann::json reply;
  try {
    reply = ask_server(control_socket_path(state_dir), request);
  } catch (const std::exception& e) {
    std::cerr << "rendezvous: " << e.what() << "\n";
    return 1;
  }
  if (reply.contains("error")) {
    std::cerr << "rendezvous: " << reply.value("error", "?") << "\n";
    return 1;
  }
  if (command == "kick") {
    std::cout << "kicked " << args[0] << "\n";
    return 0;
  }
  const auto& peers = reply["peers"];
  if (json) {
    for (const auto& peer : peers) std::cout << peer.dump() << "\n";
    return 0;
  }
  // Columns as wide as their longest entry, so a long NAT description does not push the rest.
  std::vector<std::array<std::string, 7>> rows{{"ID", "ACCOUNT", "NODE", "NAT", "SINCE", "RELAYED", "ADDRESS"}};
  for (const auto& peer : peers) {
    const auto account = peer.value("account", "");
    const auto node = peer.value("node", "");
    rows.push_back({peer.value("id", ""), account.empty() ? "-" : account, node.empty() ? "-" : node, peer.value("nat", ""),
                    peer.value("since", ""), std::to_string(peer.value("relayed_bytes", 0ULL)), peer.value("observed", "")});
  }
  std::array<std::size_t, 7> width{};
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      const auto pad = std::string(width[i] - row[i].size(), ' ');
      if (i == row.size() - 1) line += row[i];
      else line += (i == 5 ? pad + row[i] : row[i] + pad) + "  ";  // (bytes right-aligned)
    }
    std::printf("%s\n", line.c_str());
  }
  return 0;
}

}  // namespace rendezvous
