// register_bench: how many registrations a second the server takes, each a new ID (so a new key
// pin), from a client fast enough not to be the limit (C++, blocking, one thread per stream of
// registrations). Keeps every connection open until the end, then prints one JSON line; with
// --server-pid it adds the server's CPU per registration.
//
// Against a cluster (--ports, one main port per node) each registration goes to a random node, as
// peers with a --server list do; --kill-pid then kills that node (on --kill-port) once all are in,
// re-registers its peers on the other nodes as their reconnect loops would (retrying while the
// dead node's lease holds their IDs), and asks a live node's `list` how many IDs are online:
// none may be lost, none counted twice.
#include <sys/resource.h>
#include <unistd.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <random>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include <cxxopts.hpp>

#include "bench/bench_wire.hpp"
#include "common/identity.hpp"

namespace {

/// The process's user+system CPU time in seconds, from /proc/PID/stat.
double cpu_seconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {  // field 3 is the state; 14 and 15 are utime and stime
    if (i == 14) utime = std::stod(field);
    if (i == 15) {
      stime = std::stod(field);
      break;
    }
  }
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::vector<std::uint16_t> parse_ports(const std::string& list) {
  std::vector<std::uint16_t> ports;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) ports.push_back(static_cast<std::uint16_t>(std::stoi(item)));
  if (ports.empty()) throw std::runtime_error("no ports in --ports");
  return ports;
}

/// How many IDs a node's `list` says are online.
long long listed_total(std::uint16_t port) {
  bench::frame_conn conn(bench::connect_loopback(port));
  const auto hello = conn.receive();
  static const auto keys = identity::generate();
  conn.send(identity::server_auth_message(keys, hello.value("challenge", ""), ""));
  conn.receive();
  conn.send({{"type", "list"}, {"req", 1}});
  const auto reply = conn.receive();
  ::close(conn.fd());
  return reply.value("total", -1LL);
}

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options options("register_bench", "Registrations per second against a rendezvous server on loopback.");
  options.add_options()
      ("port", "the server's main port", cxxopts::value<int>())
      ("ports", "a cluster's main ports, comma-separated: each registration goes to a random one", cxxopts::value<std::string>())
      ("kill-pid", "once all are registered, kill -9 this node and re-home its peers", cxxopts::value<int>()->default_value("0"))
      ("kill-port", "the main port of the node --kill-pid names", cxxopts::value<int>()->default_value("0"))
      ("rehome-timeout", "seconds a killed node's peer keeps retrying", cxxopts::value<int>()->default_value("60"))
      ("peers", "registrations in all", cxxopts::value<int>()->default_value("5000"))
      ("threads", "client threads, each registering one peer after another", cxxopts::value<int>()->default_value("16"))
      ("prefix", "peer ID prefix (IDs must be new to measure new pins)", cxxopts::value<std::string>()->default_value("reg"))
      ("server-pid", "the server's pid, for its CPU per registration", cxxopts::value<int>()->default_value("0"))
      ("h,help", "show this help");
  try {
    const auto args = options.parse(argc, argv);
    if (args.count("help") || (!args.count("port") && !args.count("ports"))) {
      std::cout << options.help() << "\n";
      return args.count("help") ? 0 : 2;
    }
    rlimit files{};  // every registration's connection stays open until the end
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
      files.rlim_cur = files.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &files);
    }
    const auto ports = args.count("ports") ? parse_ports(args["ports"].as<std::string>())
                                           : std::vector<std::uint16_t>{static_cast<std::uint16_t>(args["port"].as<int>())};
    const int peers = args["peers"].as<int>();
    const int threads = std::max(1, args["threads"].as<int>());
    const auto prefix = args["prefix"].as<std::string>() + "-" + std::to_string(::getpid());
    const int server_pid = args["server-pid"].as<int>();

    std::atomic<int> next{0};
    std::atomic<int> failures{0};
    std::mutex held_lock;
    struct held_peer {
      int fd;
      std::uint16_t port;
      std::string id;
    };
    std::vector<held_peer> held;  // open connections, closed at the end
    std::string first_failure;
    const double cpu_before = server_pid ? cpu_seconds(server_pid) : 0;
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        std::mt19937 pick(static_cast<unsigned>(t) * 7919u + static_cast<unsigned>(::getpid()));
        for (int i = next++; i < peers; i = next++) {
          try {
            const auto port = ports[pick() % ports.size()];
            const auto id = prefix + "-" + std::to_string(i);
            auto conn = bench::open_session(port, id);
            std::lock_guard lock(held_lock);
            held.push_back({conn.fd(), port, id});
          } catch (const std::exception& e) {
            std::lock_guard lock(held_lock);
            if (failures++ == 0) first_failure = e.what();
          }
        }
      });
    }
    for (auto& worker : workers) worker.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const double server_cpu = server_pid ? cpu_seconds(server_pid) - cpu_before : 0;
    const int registered = static_cast<int>(held.size());
    nlohmann::json node_kill;
    if (const int victim = args["kill-pid"].as<int>(); victim > 0) {
      const auto dead_port = static_cast<std::uint16_t>(args["kill-port"].as<int>());
      std::vector<std::uint16_t> alive;
      for (const auto p : ports) {
        if (p != dead_port) alive.push_back(p);
      }
      if (alive.empty()) throw std::runtime_error("--kill-port must be one of --ports, and not the only one");
      ::kill(victim, SIGKILL);
      const auto killed = std::chrono::steady_clock::now();
      std::vector<held_peer*> orphans;
      for (auto& peer : held) {
        if (peer.port == dead_port) orphans.push_back(&peer);
      }
      std::atomic<int> rehomed{0}, lost{0}, retries{0};
      std::atomic<std::size_t> next_orphan{0};
      const auto give_up = killed + std::chrono::seconds(args["rehome-timeout"].as<int>());
      std::vector<std::thread> movers;
      for (int t = 0; t < threads; ++t) {
        movers.emplace_back([&, t] {
          std::mt19937 pick(static_cast<unsigned>(t) * 104729u + static_cast<unsigned>(::getpid()));
          for (auto i = next_orphan++; i < orphans.size(); i = next_orphan++) {
            auto& peer = *orphans[i];
            ::close(peer.fd);
            for (int attempt = 0;; ++attempt) {
              const auto port = alive[pick() % alive.size()];
              try {
                peer.fd = bench::open_session(port, peer.id).fd();
                peer.port = port;
                ++rehomed;
                break;
              } catch (const std::exception&) {
                // The dead node's lease still holds the ID (duplicate_id): back off with jitter.
                ++retries;
                if (std::chrono::steady_clock::now() > give_up) {
                  peer.fd = -1;
                  ++lost;
                  break;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(100 + pick() % (100 << std::min(attempt, 3))));
              }
            }
          }
        });
      }
      for (auto& mover : movers) mover.join();
      const double rehome_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
      const auto listed = listed_total(alive.front());
      node_kill = {{"orphans", orphans.size()},   {"rehomed", rehomed.load()},        {"lost", lost.load()},
                   {"retries", retries.load()},   {"rehome_seconds", rehome_s},       {"listed_total", listed},
                   {"listed_matches", listed == registered}};
    }
    for (const auto& peer : held) {
      if (peer.fd >= 0) ::close(peer.fd);
    }
    nlohmann::json result{{"mode", "register"},
                          {"peers", peers},
                          {"threads", threads},
                          {"registered", registered},
                          {"failures", failures.load()},
                          {"seconds", seconds},
                          {"registrations_per_s", registered / seconds}};
    if (server_pid && registered > 0) {
      result["server_cpu_s"] = server_cpu;
      result["server_us_per_registration"] = server_cpu * 1e6 / registered;
    }
    if (!first_failure.empty()) result["first_failure"] = first_failure;
    if (!node_kill.is_null()) result["node_kill"] = node_kill;
    if (ports.size() > 1) result["nodes"] = ports.size();
    std::cout << result.dump() << "\n";
    const bool lost_any = !node_kill.is_null() && (node_kill["lost"] != 0 || !node_kill["listed_matches"].get<bool>());
    return failures == 0 && !lost_any ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "register_bench: " << e.what() << "\n";
    return 2;
  }
}
