// rendezvous: the public server peers register with, punch through, relay over, and expose services on.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <cxxopts.hpp>
#include <spdlog/spdlog.h>

#include "common/config_layers.hpp"
#include "common/logging.hpp"
#include "rendezvous/config_reload.hpp"
#include "rendezvous/descriptor_budget.hpp"
#include "cluster/redis_client.hpp"
#include "rendezvous/key_pins.hpp"
#include "rendezvous/redis_directory.hpp"
#include "rendezvous/server.hpp"
#include "rendezvous/redis_account_store.hpp"
#include "rendezvous/sqlite_account_store.hpp"
#include "rendezvous/operator_commands.hpp"
#include "rendezvous/usage_command.hpp"
#include "rendezvous/user_command.hpp"

namespace {

cxxopts::Options make_options() {
  cxxopts::Options options("rendezvous",
                           "Rendezvous server for P2P TCP hole punching: peers register by ID here, learn their\n"
                           "NAT-mapped endpoints on the hole-assist port and their NAT behaviour on the probe ports,\n"
                           "and are told when to punch; where no direct path exists the relay port joins them, and\n"
                           "peers may publish local services on public ports (--expose-ports).\n"
                           "Settings come from --config FILE, then the environment, then flags (each overrides the last).\n"
                           "SIGHUP reads the file again and applies its limits, timeouts, expose_ports, token and log_level\n"
                           "without dropping a connection (addresses, ports, state and cluster take a restart); a file that\n"
                           "does not parse is refused and logged, the running settings kept.");
  options.add_options()
      ("config", "JSON config file; keys as the long flags with _ for - (e.g. \"hole_port\")", cxxopts::value<std::string>())
      ("listen", "main port address IP:PORT (default 0.0.0.0:7000); [::]:7000 takes IPv4 and IPv6, and an IPv4 and an IPv6 address may be given together on one port: 203.0.113.10:7000,[2001:db8::10]:7000", cxxopts::value<std::string>())
      ("hole-port", "hole-assist port (default main+1)", cxxopts::value<int>())
      ("relay-port", "relay port (default main+2)", cxxopts::value<int>())
      ("token", "shared secret peers must prove they know (env RENDEZVOUS_TOKEN)", cxxopts::value<std::string>())
      ("log-level", "trace, debug, info, warn, error or off (default info)", cxxopts::value<std::string>())
      ("peer-timeout", "seconds of silence before a peer is dropped (default 30)", cxxopts::value<int>())
      ("handshake-timeout", "seconds a new connection has to authenticate (default 10)", cxxopts::value<int>())
      ("attempt-timeout", "seconds both peers have to reach the hole-assist port (default 15)", cxxopts::value<int>())
      ("max-peers", "most registered peers (default 10000; cut to what the descriptor limit allows, "
                    "which the start-up log states)", cxxopts::value<int>())
      ("max-pending-handshakes", "most connections not yet authenticated, per port (default 256); a full "
                                 "port evicts the oldest of an address holding the most", cxxopts::value<int>())
      ("max-handshakes-per-ip", "most not-yet-authenticated connections from one address, per port (default 64)", cxxopts::value<int>())
      ("expose-ports", "ports peers may expose, FIRST-LAST (default: none)", cxxopts::value<std::string>())
      ("relay-idle-timeout", "seconds a relayed pair may idle before it is closed (default 600)", cxxopts::value<int>())
      ("max-relay-pairs", "most relayed pairs at once (default 1000; 6 descriptors each: lower it to fit "
                          "more peers)", cxxopts::value<int>())
      ("max-relay-pairs-per-peer", "most relayed pairs per peer ID (default 100)", cxxopts::value<int>())
      ("max-exposed-clients", "most clients of exposed ports at once, apart from the relayed pairs (default "
                              "10000; cut to what the descriptor limit allows, at least a third of it)", cxxopts::value<int>())
      ("max-exposed-clients-per-ip", "most clients of exposed ports at once from one address (default 1024: "
                                     "an office behind one NAT is one address)", cxxopts::value<int>())
      ("probe-port", "NAT probes on this port and the next (default main+3)", cxxopts::value<int>())
      ("alt-ip", "a second address of this host, so peers can tell every NAT kind apart; one per family, comma-separated "
                 "(203.0.113.11,2001:db8::11)", cxxopts::value<std::string>())
      ("stats-interval", "seconds between stats lines; 0 for none (default 60)", cxxopts::value<int>())
      ("state", "directory for durable state: the ID -> key pins (default: rendezvous-state beside\n"
               "--config, else $XDG_STATE_HOME/holepunch/rendezvous)", cxxopts::value<std::string>())
      ("ready-file", "write {\"main\":P,\"hole\":P,\"relay\":P,\"probe\":[P,P],\"metrics\":P} here once listening", cxxopts::value<std::string>())
      ("cluster", "share registrations and ID pins with other nodes through Redis, redis://[:PASSWORD@]HOST:PORT[/DB]\n"
                  "(env RENDEZVOUS_CLUSTER; default: none, one server with its own state)", cxxopts::value<std::string>())
      ("node-name", "this node's name in the cluster (default: host name:main port)", cxxopts::value<std::string>())
      ("advertise", "this server's public addresses, one per family, comma-separated (default: the listen addresses, "
                    "or this host's public interface addresses for a wildcard): peers report over each family; in a "
                    "cluster the first is what other nodes' peers are told for this node's ports",
       cxxopts::value<std::string>())
      ("node-lease", "seconds a node that stops refreshing its lease keeps its IDs (default 10)", cxxopts::value<int>())
      ("metrics", "serve Prometheus metrics at http://IP:PORT/metrics (and nothing else on that port), e.g.\n"
                  "127.0.0.1:9100; default: none", cxxopts::value<std::string>())
      ("expires", "user add/set: when the account stops working (see below)", cxxopts::value<std::string>())
      ("max-ids", "user add/set: most IDs the account may own", cxxopts::value<std::string>())
      ("relay-quota-gib", "user add/set: GiB a month the server may relay for the account", cxxopts::value<std::string>())
      ("user", "usage: only this account's rows", cxxopts::value<std::string>())
      ("since", "usage: from this day on, YYYY-MM-DD (default: the first of this month, UTC)", cxxopts::value<std::string>())
      ("json", "user list, usage, peers: one JSON object per line")
      ("h,help", "show this help")
      ("command", "", cxxopts::value<std::string>())
      ("args", "", cxxopts::value<std::vector<std::string>>());
  options.custom_help("[options] [list-ids | release-id NAME | user COMMAND ... | usage | peers | kick ID]");
  options.positional_help("");
  options.parse_positional({"command", "args"});
  return options;
}

/// The flags the user gave, as a settings layer keyed like the config file.
nlohmann::json flag_layer(const cxxopts::ParseResult& args) {
  const char* const text_flags[] = {"listen", "token", "log-level", "ready-file", "expose-ports", "alt-ip", "state",
                                    "cluster", "node-name", "advertise", "metrics"};
  const char* const number_flags[] = {"hole-port", "relay-port", "peer-timeout", "handshake-timeout", "attempt-timeout",
                                      "max-peers", "max-pending-handshakes", "max-handshakes-per-ip",
                                      "relay-idle-timeout", "max-relay-pairs", "max-relay-pairs-per-peer",
                                      "max-exposed-clients", "max-exposed-clients-per-ip",
                                      "stats-interval", "probe-port", "node-lease"};
  const auto key_of = [](std::string flag) {
    std::replace(flag.begin(), flag.end(), '-', '_');
    return flag;
  };
  nlohmann::json layer = nlohmann::json::object();
  for (const char* flag : text_flags) {
    if (args.count(flag)) layer[key_of(flag)] = args[flag].as<std::string>();
  }
  for (const char* flag : number_flags) {
    if (args.count(flag)) layer[key_of(flag)] = args[flag].as<int>();
  }
  return layer;
}

void write_ready_file(const std::string& path, const rendezvous::server& server) {
  const auto temporary = path + ".tmp";
  {
    std::ofstream out(temporary);
    out << nlohmann::json{{"main", server.main_port()}, {"hole", server.hole_port()}, {"relay", server.relay_port()},
                          {"probe", server.context().probes.ports()}, {"metrics", server.metrics_port()}}.dump()
        << "\n";
    if (!out) throw std::runtime_error("cannot write ready file " + path);
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot write ready file " + path);
}

constexpr const char* commands_help = R"(
Without a command, runs the server. Commands on the pins: those in the state directory (--state),
or with --cluster those in the cluster's Redis:
  list-ids          print every pinned ID with its key's fingerprint
  release-id NAME   forget NAME's pinned key, so the next registration of NAME pins a new one
                    (for a peer that lost its identity file); safe while the server runs
)";

/// The same commands on the cluster's pins (Redis); returns the exit code.
int run_cluster_pin_command(const std::string& command, const std::vector<std::string>& args, const std::string& url) {
  asio::io_context io;
  cluster::redis_client client(io.get_executor(), cluster::parse_redis_url(url));
  int code = 1;
  // (The client's connection keeps the loop running: it is closed when the command is done.)
  const auto report = [&]() -> net::awaitable<void> {
    if (command == "list-ids") {
      auto pins = co_await rendezvous::list_cluster_pins(client);
      if (auto* error = std::get_if<std::string>(&pins)) {
        std::cerr << "rendezvous: cannot read the cluster's pins: " << *error << "\n";
        co_return;
      }
      for (const auto& [id, fingerprint] : std::get<0>(pins)) std::cout << id << "  " << fingerprint << "\n";
      code = 0;
      co_return;
    }
    auto released = co_await rendezvous::release_cluster_pin(client, args.front());
    if (auto* error = std::get_if<std::string>(&released)) {
      std::cerr << "rendezvous: cannot release the pin of '" << args.front() << "': " << *error << "\n";
    } else if (std::get<int>(released) == 0) {
      std::cerr << "rendezvous: no pin for '" << args.front() << "' in the cluster (" << client.address().display() << ")\n";
    } else {
      std::cout << "released " << args.front() << "\n";
      code = 0;
    }
  };
  asio::co_spawn(io, [&]() -> net::awaitable<void> {
    co_await report();
    client.close();
  }, asio::detached);
  io.run();
  return code;
}

/// Runs an offline command on the pin database; returns the exit code.
int run_state_command(const std::string& command, const std::vector<std::string>& args, const std::string& state_dir) {
  rendezvous::key_pins pins(state_dir);
  if (command == "list-ids") {
    for (const auto& [id, fingerprint] : pins.list()) std::cout << id << "  " << fingerprint << "\n";
    return 0;
  }
  if (!pins.release(args.front())) {
    std::cerr << "rendezvous: no pin for '" << args.front() << "' in " << pins.file().string() << "\n";
    return 1;
  }
  std::cout << "released " << args.front() << "\n";
  return 0;
}

/// `rendezvous user ...` on the accounts in the state directory; returns the exit code.
int run_user(const cxxopts::ParseResult& args, const std::vector<std::string>& rest, const rendezvous::server_config& config) {
  rendezvous::user_flags flags;
  if (args.count("expires")) flags.expires = args["expires"].as<std::string>();
  if (args.count("max-ids")) flags.max_ids = args["max-ids"].as<std::string>();
  if (args.count("expose-ports")) flags.expose_ports = args["expose-ports"].as<std::string>();
  if (args.count("relay-quota-gib")) flags.relay_quota_gib = args["relay-quota-gib"].as<std::string>();
  flags.json = args.count("json") > 0;
  if (!config.cluster.empty() && flags.relay_quota_gib) {
    std::cerr << "rendezvous: relay quotas are kept by a single server, which meters its relay; a cluster meters nothing yet\n";
    return 2;
  }
  try {
    const auto open = [&config](const asio::any_io_executor& ex) -> std::unique_ptr<rendezvous::account_store> {
      if (!config.cluster.empty()) return std::make_unique<rendezvous::redis_account_store>(ex, cluster::parse_redis_url(config.cluster));
      return std::make_unique<rendezvous::sqlite_account_store>(config.state_dir);
    };
    return rendezvous::run_user_command(open, rest, flags);
  } catch (const std::exception& e) {
    std::cerr << "rendezvous: " << e.what() << "\n";
    return 1;
  }
}

/// `rendezvous usage ...` on the state directory's ledger; returns the exit code.
int run_usage(const cxxopts::ParseResult& args, const std::vector<std::string>& rest, const rendezvous::server_config& config) {
  if (!rest.empty()) {
    std::cerr << "rendezvous: usage takes no arguments (--user NAME, --since DAY, --json)\n";
    return 2;
  }
  rendezvous::usage_query query;
  if (args.count("user")) query.account = args["user"].as<std::string>();
  if (args.count("since")) query.since = args["since"].as<std::string>();
  query.json = args.count("json") > 0;
  return rendezvous::run_usage_command(config.state_dir, query);
}

/// The server's settings from its layers, the state directory defaulting beside the config file
/// (at start and at each reload alike).
rendezvous::server_config settings_of(const std::string& config_file, const nlohmann::json& file, const nlohmann::json& env,
                                      const nlohmann::json& flags) {
  auto config = rendezvous::resolve_server_config(file, env, flags);
  if (config.state_dir.empty()) config.state_dir = rendezvous::default_state_dir(config_file);
  return config;
}

/// SIGHUP: reads the config file again (over the environment and flags it started with, which
/// still win) and hands the result to the server; one that does not parse changes nothing.
void reload_config(rendezvous::server& server, const std::string& config_file, nlohmann::json& file,
                   const nlohmann::json& env, const nlohmann::json& flags) {
  if (config_file.empty()) {
    spdlog::warn("SIGHUP: there is no --config file to read again (the settings came from flags and the environment): "
                 "nothing changed");
    return;
  }
  spdlog::info("SIGHUP: reading {} again", config_file);
  try {
    auto next_file = config::load_file(config_file);
    const auto next = settings_of(config_file, next_file, env, flags);
    for (const auto& key : rendezvous::overridden_changes(file, next_file, env, flags)) {
      spdlog::warn("config reload: \"{}\" changed in {}, but the environment or a flag sets it too, and wins", key, config_file);
    }
    server.reload(next);
    file = std::move(next_file);
  } catch (const std::exception& e) {
    spdlog::error("config reload refused, the running settings kept: {}", e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto options = make_options();
  rendezvous::server_config config;
  // The layers the settings came from: SIGHUP reads the file again over the same others.
  std::string config_file;
  nlohmann::json file, env, flags;
  try {
    auto args = options.parse(argc, argv);
    if (args.count("help")) {
      std::cout << options.help() << commands_help << rendezvous::user_commands_help << rendezvous::usage_command_help
                << rendezvous::operator_commands_help;
      return 0;
    }
    if (!args.unmatched().empty()) throw std::runtime_error("unexpected argument '" + args.unmatched().front() + "'");
    const auto command_given = args.count("command") ? args["command"].as<std::string>() : std::string();
    for (const auto& [flag, command] : {std::pair{"expires", "user"}, {"max-ids", "user"}, {"relay-quota-gib", "user"},
                                        {"user", "usage"}, {"since", "usage"}}) {
      if (args.count(flag) && command_given != command) {
        throw std::runtime_error(std::string("--") + flag + " goes with the " + command + " command");
      }
    }
    if (args.count("json") && command_given != "user" && command_given != "usage" && command_given != "peers") {
      throw std::runtime_error("--json goes with user list, usage or peers");
    }
    config_file = args.count("config") ? args["config"].as<std::string>() : std::string();
    file = config_file.empty() ? nlohmann::json::object() : config::load_file(config_file);
    env = config::env_layer(config::process_env, {{"RENDEZVOUS_TOKEN", "token"}, {"RENDEZVOUS_STATE", "state"}, {"RENDEZVOUS_CLUSTER", "cluster"}});
    flags = flag_layer(args);
    // (user add/set --expose-ports is the account's range, not the server's)
    if (args.count("command") && args["command"].as<std::string>() == "user") flags.erase("expose_ports");
    config = settings_of(config_file, file, env, flags);
    logging::init("rendezvous", config.log_level, false);
    if (args.count("command")) {
      const auto command = args["command"].as<std::string>();
      const auto rest = args.count("args") ? args["args"].as<std::vector<std::string>>() : std::vector<std::string>{};
      if (command == "usage" && !config.cluster.empty()) {
        std::cerr << "rendezvous: usage is kept by a single server (in --state); a cluster meters nothing yet\n";
        return 2;
      }
      if (command == "user") return run_user(args, rest, config);
      if (command == "usage") return run_usage(args, rest, config);
      if (command == "peers" || command == "kick") {
        return rendezvous::run_operator_command(config.state_dir, command, rest, args.count("json") > 0);
      }
      if (command != "list-ids" && command != "release-id") throw std::runtime_error("unknown command '" + command + "'");
      if (rest.size() != (command == "release-id" ? 1u : 0u)) {
        throw std::runtime_error(command == "release-id" ? "release-id takes one NAME" : "list-ids takes no arguments");
      }
      try {
        if (!config.cluster.empty()) return run_cluster_pin_command(command, rest, config.cluster);
        return run_state_command(command, rest, config.state_dir);
      } catch (const std::exception& e) {
        std::cerr << "rendezvous: " << e.what() << "\n";
        return 1;
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "rendezvous: " << e.what() << "\n(see rendezvous --help)\n";
    return 2;
  }

  std::signal(SIGPIPE, SIG_IGN);
  net::raise_descriptor_limit();  // the server derives its caps from what it gets
  asio::io_context io;
  rendezvous::server server(io, config);
  // Signals are caught from before the ready file is written: a SIGHUP or SIGTERM sent as soon as
  // it appears is handled, not fatal.
  asio::signal_set hangups(io, SIGHUP);
  bool stopping = false;  // (a SIGHUP already queued when SIGTERM came must not wait again)
  std::function<void()> await_hangup = [&] {
    hangups.async_wait([&](std::error_code ec, int) {
      if (ec || stopping) return;
      reload_config(server, config_file, file, env, flags);
      await_hangup();
    });
  };
  await_hangup();
  asio::signal_set signals(io, SIGINT, SIGTERM);
  std::optional<std::chrono::steady_clock::time_point> give_up_at;
  signals.async_wait([&](std::error_code ec, int signal) {
    if (ec) return;
    spdlog::info("received signal {}", signal);
    stopping = true;
    hangups.cancel();
    server.stop();
    give_up_at = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  });
  try {
    server.start();
    if (!config.ready_file.empty()) write_ready_file(config.ready_file, server);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  // Runs until no work is left: after stop() every connection is closed and the loop drains.
  while (!io.stopped()) {
    if (give_up_at && std::chrono::steady_clock::now() > *give_up_at) {
      // Coroutines still suspended would be destroyed after the server they point into.
      spdlog::warn("shutdown took over 5 s; exiting without waiting further");
      server.flush_usage();
      spdlog::shutdown();
      std::_Exit(0);
    }
    io.run_one_for(std::chrono::milliseconds(200));
  }
  spdlog::info("stopped");
  return 0;
}
