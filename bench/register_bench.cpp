// register_bench: how many registrations a second the server takes, each a new ID (so a new key
// pin), from a client fast enough not to be the limit (C++, blocking, one thread per stream of
// registrations). Keeps every connection open until the end, then prints one JSON line; with
// --server-pid it adds the server's CPU per registration.
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include <cxxopts.hpp>

#include "bench/bench_wire.hpp"

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

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options options("register_bench", "Registrations per second against a rendezvous server on loopback.");
  options.add_options()
      ("port", "the server's main port", cxxopts::value<int>())
      ("peers", "registrations in all", cxxopts::value<int>()->default_value("5000"))
      ("threads", "client threads, each registering one peer after another", cxxopts::value<int>()->default_value("16"))
      ("prefix", "peer ID prefix (IDs must be new to measure new pins)", cxxopts::value<std::string>()->default_value("reg"))
      ("server-pid", "the server's pid, for its CPU per registration", cxxopts::value<int>()->default_value("0"))
      ("h,help", "show this help");
  try {
    const auto args = options.parse(argc, argv);
    if (args.count("help") || !args.count("port")) {
      std::cout << options.help() << "\n";
      return args.count("help") ? 0 : 2;
    }
    rlimit files{};  // every registration's connection stays open until the end
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
      files.rlim_cur = files.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &files);
    }
    const auto port = static_cast<std::uint16_t>(args["port"].as<int>());
    const int peers = args["peers"].as<int>();
    const int threads = std::max(1, args["threads"].as<int>());
    const auto prefix = args["prefix"].as<std::string>() + "-" + std::to_string(::getpid());
    const int server_pid = args["server-pid"].as<int>();

    std::atomic<int> next{0};
    std::atomic<int> failures{0};
    std::mutex held_lock;
    std::vector<int> held;  // open connections, closed at the end
    std::string first_failure;
    const double cpu_before = server_pid ? cpu_seconds(server_pid) : 0;
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        for (int i = next++; i < peers; i = next++) {
          try {
            auto conn = bench::open_session(port, prefix + "-" + std::to_string(i));
            std::lock_guard lock(held_lock);
            held.push_back(conn.fd());
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
    for (const int fd : held) ::close(fd);
    const int registered = static_cast<int>(held.size());
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
    std::cout << result.dump() << "\n";
    return failures == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "register_bench: " << e.what() << "\n";
    return 2;
  }
}
