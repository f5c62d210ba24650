// peer: registers with a rendezvous server and connects to other peers by ID through their NATs.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string_view>
#include <iostream>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <cxxopts.hpp>
#include <spdlog/spdlog.h>

#include "common/config_layers.hpp"
#include "common/descriptor_limit.hpp"
#include "common/logging.hpp"
#include "peer/commands.hpp"
#include "peer/expose_command.hpp"
#include "peer/forward_command.hpp"
#include "peer/interruption.hpp"
#include "peer/online_command.hpp"
#include "peer/receive_command.hpp"
#include "peer/send_command.hpp"
#include "peer/exit_codes.hpp"

namespace {

constexpr const char* commands_help = R"(
Commands:
  listen          register --id, wait for one incoming connection, bridge it to stdin/stdout
  connect NAME    connect to the peer registered as NAME and bridge stdin/stdout (like nc); with
                  --target HOST:PORT, to that target through NAME's `peer online` (one of its
                  --allow targets), like ssh -W:
                    ssh -o ProxyCommand='peer connect %h --target 127.0.0.1:22' user@NAME
  list            print the IDs online now, one a line (--json: one JSON array)
  id              print this peer's identity fingerprint (creating the identity on first use);
                  others pin it with --expect-key (--json: {"event":"identity",...} on stdout)
  nat             probe this host's NAT against the server: public endpoint, mapping and
                  filtering behaviour (RFC 4787), port preservation, class (--json: one object)
  online          stay registered (--id) and serve the streams peers open: file transfers
                  into --inbox DIR from the IDs --accept-from names (or anyone: --accept-any),
                  forwards to the targets named by --allow HOST:PORT (repeatable), and the
                  public ports named by --expose LOCAL_HOST:PORT=REMOTE_PORT (repeatable): one
                  process and one ID for a whole box; runs until interrupted and reconnects if
                  the server goes away
  send NAME PATH...
                  send files and directories (recursively, with relative paths and mode bits)
                  to NAME, which runs `online --inbox` or `receive`; progress on a terminal
                  (--json: "progress" lines), a "transfer" event per file with its SHA-256
                  (as sha256sum prints it), resumes what the receiver already holds; --id names us
                  to the receiver (proved by our key; send never registers)
  receive         register --id, take one transfer into --dir DIR (default .), and exit;
                  from anyone unless --accept-from is given. Files land as .NAME.hp-partial,
                  are renamed when their hash checks, and never replace a file (unless
                  --overwrite): a taken name becomes "NAME (1).ext"
  forward NAME    listen on --listen [HOST:]PORT (a bare PORT means 127.0.0.1) and carry every
                  connection to NAME, which connects it to --target HOST:PORT if its --allow
                  lets it; all connections share one secure session; runs until interrupted
  expose          publish --local HOST:PORT on the server's public --remote-port N (reverse
                  proxy; or --expose LOCAL_HOST:PORT=REMOTE_PORT, repeatable); runs until
                  interrupted and reconnects if the server goes away. A port the server refuses
                  (held by another peer, outside its expose_ports) exits 3 at once

Exit codes: 0 done, 1 connection broke, 2 usage, 3 server unreachable or refused us,
            4 peer unknown/offline/busy, 5 no path to the peer, 6 the peer's key was refused
            (not the key the server introduced it with, or not --expect-key),
            7 the peer refused the request (files it does not accept from us, an unsafe name,
            a --target its --allow does not name).
On SIGINT, SIGTERM or SIGHUP every command closes its sessions cleanly (the other side sees a
close, not a cut) and exits: online, forward and expose with 0 (their normal end); connect and
listen with 0 if their stdin had ended and all of it was delivered (ssh ends its ProxyCommand
so), else 128 + the signal (130 for SIGINT), as do send and receive. A second signal exits at once.
Every connection is end-to-end encrypted and authenticated with both peers' identity keys;
the server and its relay see only ciphertext.
With --json, stderr carries one JSON object a line, each with an "event" field;
stdout carries only the data stream.
)";

cxxopts::Options make_options() {
  cxxopts::Options options("peer", "Connect to other peers by ID through NATs, with TCP hole punching.\n");
  options.custom_help("[options] COMMAND [ARGS]");
  options.positional_help("");
  options.add_options()
      ("server", "rendezvous server HOST:PORT, or the nodes of a cluster as HOST:PORT,HOST:PORT,... (a random one\n"
                 "first, the others when it is down; env PEER_SERVER; default 127.0.0.1:7000)", cxxopts::value<std::string>())
      ("id", "our peer ID (env PEER_ID)", cxxopts::value<std::string>())
      ("token", "the server's shared secret, or an account's token NAME:SECRET from rendezvous user add\n"
                "(env PEER_TOKEN)", cxxopts::value<std::string>())
      ("config", "JSON config file with keys server, id, token, log_level, json, path, punch_timeout, stun, expose,\n"
                 "identity, expect_key, dead_after, allow, listen, target, inbox, accept_from, accept_any,\n"
                 "overwrite, rate_limit, expose_pool, expose_channels", cxxopts::value<std::string>())
      ("json", "JSON event lines on stderr")
      ("log-level", "trace, debug, info, warn, error or off (default warn)", cxxopts::value<std::string>())
      ("punch-timeout", "connect/send/forward: seconds both sides keep punching, beside the relay (auto) or before it "
                        "(punch-first) (0.5 to 600, default 5)", cxxopts::value<double>())
      ("path", "connect/send/forward: auto (start on the relay at once, move to a punched direct path as soon as one "
               "opens; the default), punch-first (punch, then the relay if that fails), direct (punch only) or relay "
               "(env PEER_PATH)",
       cxxopts::value<std::string>())
      ("identity", "our identity key file (default $XDG_DATA_HOME/holepunch/identity, made on first use)", cxxopts::value<std::string>())
      ("dead-after", "seconds without a sign of life before a session's path counts as dead (1 to 3600, default 30); "
       "unanswered pings with nothing heard for a sixth of it move the session to the relay instead (not with --path direct)", cxxopts::value<double>())
      ("expect-key", "accept only a peer whose key has this fingerprint (see peer id), on every session", cxxopts::value<std::string>())
      ("stun", "nat: run the mapping test against this STUN server HOST:PORT (over TCP) instead", cxxopts::value<std::string>())
      ("allow", "online: a HOST:PORT peers may forward to (repeat, or comma-separate)", cxxopts::value<std::vector<std::string>>())
      ("inbox", "online: take file transfers into this directory", cxxopts::value<std::string>())
      ("dir", "receive: store the transfer in this directory (default .)", cxxopts::value<std::string>())
      ("accept-from", "online/receive: IDs whose transfers are taken (repeat, or comma-separate)", cxxopts::value<std::vector<std::string>>())
      ("accept-any", "online: take transfers from any authenticated peer")
      ("overwrite", "online/receive: replace existing files (default: store as \"NAME (1).ext\")")
      ("rate-limit", "send: at most this many MiB/s of file data", cxxopts::value<double>())
      ("listen", "forward: local [HOST:]PORT to listen on", cxxopts::value<std::string>())
      ("target", "forward/connect: HOST:PORT the remote peer's online connects to (one of its --allow)", cxxopts::value<std::string>())
      ("expose", "online/expose: publish LOCAL_HOST:PORT on the server's public REMOTE_PORT, as\n"
                 "LOCAL_HOST:PORT=REMOTE_PORT (repeat, or comma-separate)", cxxopts::value<std::vector<std::string>>())
      ("expose-channels", "online/expose: connections to the server that carry our clients as streams, so a\n"
                          "client costs no connection set-up between the server and us (0 to 4, default 1)",
       cxxopts::value<int>())
      ("expose-pool", "online/expose: idle connections kept ready in the server's pool, each spliced to one\n"
                      "client when no channel is open (0 to 64, default 0; with --expose-channels 0, the pool\n"
                      "carries every client; with 0 of both, every client waits for a round trip to us)",
       cxxopts::value<int>())
      ("local", "expose: the local service HOST:PORT", cxxopts::value<std::string>())
      ("remote-port", "expose: the public port on the server", cxxopts::value<int>())
      ("h,help", "show this help")
      ("command", "", cxxopts::value<std::string>())
      ("args", "", cxxopts::value<std::vector<std::string>>());
  options.parse_positional({"command", "args"});
  return options;
}

nlohmann::json flag_layer(const cxxopts::ParseResult& args) {
  nlohmann::json layer = nlohmann::json::object();
  for (const char* flag : {"server", "id", "token", "path", "stun", "identity"}) {
    if (args.count(flag)) layer[flag] = args[flag].as<std::string>();
  }
  if (args.count("expect-key")) layer["expect_key"] = args["expect-key"].as<std::string>();
  if (args.count("allow")) layer["allow"] = args["allow"].as<std::vector<std::string>>();
  for (const char* flag : {"listen", "target", "inbox"}) {
    if (args.count(flag)) layer[flag] = args[flag].as<std::string>();
  }
  if (args.count("dir")) layer["inbox"] = args["dir"].as<std::string>();
  if (args.count("accept-from")) layer["accept_from"] = args["accept-from"].as<std::vector<std::string>>();
  if (args.count("accept-any")) layer["accept_any"] = true;
  if (args.count("overwrite")) layer["overwrite"] = true;
  if (args.count("rate-limit")) layer["rate_limit"] = args["rate-limit"].as<double>();
  if (args.count("expose-pool")) layer["expose_pool"] = args["expose-pool"].as<int>();
  if (args.count("expose-channels")) layer["expose_channels"] = args["expose-channels"].as<int>();
  if (args.count("log-level")) layer["log_level"] = args["log-level"].as<std::string>();
  if (args.count("json")) layer["json"] = true;
  if (args.count("punch-timeout")) layer["punch_timeout"] = args["punch-timeout"].as<double>();
  if (args.count("dead-after")) layer["dead_after"] = args["dead-after"].as<double>();
  if (args.count("expose")) {
    for (const auto& route : args["expose"].as<std::vector<std::string>>()) layer["expose"].push_back(route);
  }
  if (args.count("local") || args.count("remote-port")) {
    if (!args.count("local") || !args.count("remote-port")) throw std::runtime_error("--local and --remote-port go together");
    layer["expose"].push_back({{"local", args["local"].as<std::string>()}, {"remote_port", args["remote-port"].as<int>()}});
  }
  return layer;
}

}  // namespace

int main(int argc, char** argv) {
  auto options = make_options();
  peer::peer_config config;
  std::string command;
  std::vector<std::string> command_args;
  try {
    auto args = options.parse(argc, argv);
    if (args.count("help") || !args.count("command")) {
      std::cout << options.help() << commands_help;
      return args.count("help") ? peer::exit_ok : peer::exit_usage;
    }
    command = args["command"].as<std::string>();
    if (args.count("args")) command_args = args["args"].as<std::vector<std::string>>();
    const auto file = args.count("config") ? config::load_file(args["config"].as<std::string>()) : nlohmann::json::object();
    const auto env = config::env_layer(config::process_env, {{"PEER_SERVER", "server"}, {"PEER_ID", "id"}, {"PEER_TOKEN", "token"}, {"PEER_PATH", "path"}});
    config = peer::resolve_peer_config(file, env, flag_layer(args));
    logging::init("peer", config.log_level, config.json);
    const std::size_t wanted = command == "connect" || command == "forward" ? 1 : 0;
    if (command != "connect" && command != "listen" && command != "list" && command != "expose" && command != "nat" &&
        command != "id" && command != "online" && command != "forward" && command != "send" && command != "receive") {
      throw std::runtime_error("unknown command '" + command + "'");
    }
    if (command == "send") {
      if (command_args.size() < 2) throw std::runtime_error("send takes a NAME and at least one PATH");
    } else if (command_args.size() != wanted) {
      throw std::runtime_error(command + (wanted ? " takes one NAME" : " takes no arguments"));
    }
  } catch (const std::exception& e) {
    // Scripts that asked for --json get a JSON line even when the command line itself is wrong.
    const bool json = std::any_of(argv + 1, argv + argc, [](const char* arg) { return std::string_view(arg) == "--json"; });
    if (json) {
      peer::event_sink(true).emit({{"event", "error"}, {"code", peer::exit_usage}, {"message", e.what()}});
    } else {
      std::cerr << "peer: " << e.what() << "\n(see peer --help)\n";
    }
    return peer::exit_usage;
  }

  std::signal(SIGPIPE, SIG_IGN);
  net::raise_descriptor_limit();  // an exposed port or a forward at a thousand connections needs more than 1,024
  const peer::event_sink events(config.json);
  asio::io_context io;
  int code = peer::exit_failure;
  auto task = [&]() -> net::awaitable<int> {
    if (command == "list") co_return co_await peer::run_list(config, events);
    if (command == "listen") co_return co_await peer::run_listen(config, events);
    if (command == "expose") co_return co_await peer::run_expose(config, events);
    if (command == "nat") co_return co_await peer::run_nat(config, events);
    if (command == "id") co_return co_await peer::run_id(config, events);
    if (command == "online") co_return co_await peer::run_online(config, events);
    if (command == "forward") co_return co_await peer::run_forward(config, events, command_args.front());
    if (command == "receive") co_return co_await peer::run_receive(config, events);
    if (command == "send") {
      const std::vector<std::string> paths(command_args.begin() + 1, command_args.end());
      co_return co_await peer::run_send(config, events, command_args.front(), paths);
    }
    co_return co_await peer::run_connect(config, events, command_args.front());
  };
  // SIGINT, SIGTERM and SIGHUP end every command cleanly: a running stdio bridge (connect, listen) hangs up
  // itself; otherwise every secure session is closed with a close record, then the process exits. That is the
  // normal end of the services (online, forward, expose: exit 0); other work cut short exits 128 + the signal.
  // A second signal exits at once.
  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  const bool service = command == "expose" || command == "online" || command == "forward";
  const auto signalled_exit = [service] { return service ? peer::exit_ok : peer::interruption::process().exit_code(); };
  std::function<void()> await_signal = [&] {
    signals.async_wait([&](std::error_code ec, int signal) {
      if (ec) return;
      auto& interrupt = peer::interruption::process();
      if (interrupt.raised() && interrupt.has_decided()) {  // the outcome is in: no signal changes it now
        await_signal();
        return;
      }
      if (interrupt.raised()) {  // the second: at once (threads blocked on a terminal are not waited for)
        std::fflush(nullptr);
        std::_Exit(signalled_exit());
      }
      interrupt.raise(signal);
      await_signal();
      if (interrupt.claimed()) return;  // the bridge ends the command
      asio::co_spawn(io, [&]() -> net::awaitable<void> {
        co_await interrupt.close_sessions();
        code = signalled_exit();
        io.stop();
      }, asio::detached);
    });
  };
  await_signal();
  asio::co_spawn(io, task(), [&](std::exception_ptr error, int result) {
    signals.cancel();
    // The command is over: tasks it spawned (forwarded connections, sessions) must not run on
    // after the objects they use.
    io.stop();
    code = result;
    if (!error) return;
    // Work a signal cut short fails as it ends: the signal is the news, and decides the exit code.
    const auto& interrupt = peer::interruption::process();
    std::string message;
    try {
      std::rethrow_exception(error);
    } catch (const peer::command_error& e) {
      code = e.code();
      message = e.what();
    } catch (const std::exception& e) {
      code = peer::exit_failure;
      message = e.what();
    }
    if (interrupt.raised()) {
      code = signalled_exit();
      message = interrupt.reason() + ": " + message;
    }
    events.emit({{"event", "error"}, {"code", code}, {"message", message}});
  });
  io.run();
  return code;
}
