// relay_bench: throughput and round-trip latency through a path of one kind, on loopback.
//   raw    client -> sink directly (the limit)
//   socat  client -> socat (TCP-LISTEN fork) -> sink
//   relay  peer A -> rendezvous relay port -> peer B, joined by one-time tokens like a real
//          relayed connect (each stream is its own relay-path attempt between two sessions)
// Prints one JSON line; bench/relay_bench.sh runs every kind and prints the table.
// Against a cluster (--ports, one main port per node) each pair's sides register on nodes chosen
// by --placement (random: each side anywhere, as peers with a --server list; same: both on one;
// cross: on two different ones); the pair is joined on the initiator's node, and the line adds
// each pair's time from `connect` to joined (p50/p99) and how the pairs spread over the nodes.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include <cxxopts.hpp>

#include "bench/bench_wire.hpp"
#include "common/identity.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

struct stream_pair {
  int sender;
  int receiver;
};

int accept_one(int listener) {
  const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) throw std::runtime_error("accept failed");
  return fd;
}

std::vector<stream_pair> direct_pairs(int count, std::uint16_t connect_port, int sink_listener) {
  std::vector<stream_pair> pairs;
  for (int i = 0; i < count; ++i) {
    const int out = bench::connect_loopback(connect_port);
    pairs.push_back({out, accept_one(sink_listener)});
  }
  return pairs;
}

int join_relay(std::uint16_t relay_port, const std::string& token) {
  bench::frame_conn conn(bench::connect_loopback(relay_port));
  conn.send({{"type", "relay"}, {"token", token}});
  return conn.fd();
}

/// Where the pairs were joined and how long each took, for a cluster run.
struct pair_placement {
  std::vector<int> per_node;          ///< pairs coordinated by each node (its initiator's)
  std::vector<double> connect_ms;     ///< `connect` sent -> both sides joined, per pair
};

std::vector<stream_pair> relay_pairs(int count, const std::vector<std::uint16_t>& main_ports, const std::string& placement,
                                     pair_placement& placed) {
  std::vector<stream_pair> pairs;
  const auto tag = std::to_string(::getpid());
  std::mt19937 pick(static_cast<unsigned>(::getpid()));
  placed.per_node.assign(main_ports.size(), 0);
  for (int i = 0; i < count; ++i) {
    const auto a_id = "bench-a-" + tag + "-" + std::to_string(i);
    const auto b_id = "bench-b-" + tag + "-" + std::to_string(i);
    const auto a_node = pick() % main_ports.size();
    auto b_node = placement == "same" ? a_node : pick() % main_ports.size();
    if (placement == "cross" && main_ports.size() > 1) {
      while (b_node == a_node) b_node = pick() % main_ports.size();
    }
    ++placed.per_node[a_node];
    auto a = bench::open_session(main_ports[a_node], a_id);
    auto b = bench::open_session(main_ports[b_node], b_id);
    const auto asked = clock_type::now();
    a.send({{"type", "connect"}, {"target", b_id}, {"path", "relay"}, {"req", 2}});
    auto attempt_a = a.receive();
    if (attempt_a.value("type", "") != "attempt") throw std::runtime_error("connect refused: " + attempt_a.dump());
    const auto relay_port = attempt_a["relay_port"].get<std::uint16_t>();
    // The responder is told only once the initiator has joined the relay (each side has its own token).
    bench::frame_conn ra(join_relay(relay_port, attempt_a["relay_token"].get<std::string>()));
    auto attempt_b = b.receive();
    // (On another node, the responder is told the coordinator's relay port: the same host here.)
    bench::frame_conn rb(join_relay(attempt_b["relay_port"].get<std::uint16_t>(), attempt_b["relay_token"].get<std::string>()));
    if (ra.receive_exact().value("type", "") != "relay_ok" || rb.receive_exact().value("type", "") != "relay_ok") {
      throw std::runtime_error("the relay did not join the pair");
    }
    placed.connect_ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - asked).count());
    pairs.push_back({ra.fd(), rb.fd()});
    ::close(a.fd());
    ::close(b.fd());
  }
  return pairs;
}

/// Moves `per_stream` bytes through every pair at once; returns the seconds it took.
double measure_throughput(const std::vector<stream_pair>& pairs, std::uint64_t per_stream) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (const auto& pair : pairs) {
    threads.emplace_back([&, pair] {
      std::vector<char> chunk(256 * 1024, 'x');
      ++ready;
      while (!go) std::this_thread::yield();
      for (std::uint64_t left = per_stream; left > 0;) {
        const auto n = std::min<std::uint64_t>(left, chunk.size());
        bench::write_all(pair.sender, chunk.data(), n);
        left -= n;
      }
    });
    threads.emplace_back([&, pair] {
      std::vector<char> chunk(256 * 1024);
      ++ready;
      while (!go) std::this_thread::yield();
      for (std::uint64_t left = per_stream; left > 0;) {
        const ssize_t n = ::recv(pair.receiver, chunk.data(), std::min<std::uint64_t>(left, chunk.size()), 0);
        if (n <= 0) throw std::runtime_error("stream ended early");
        left -= static_cast<std::uint64_t>(n);
      }
    });
  }
  while (ready < static_cast<int>(threads.size())) std::this_thread::yield();
  const auto start = clock_type::now();
  go = true;
  for (auto& t : threads) t.join();
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

/// Round trips of a 64-byte request echoed back; returns the sorted RTTs in microseconds.
std::vector<double> measure_latency(const stream_pair& pair, int rounds) {
  std::thread echo([&] {
    char message[64];
    for (int i = 0; i < rounds; ++i) {
      bench::read_exact(pair.receiver, message, sizeof message);
      bench::write_all(pair.receiver, message, sizeof message);
    }
  });
  std::vector<double> rtts;
  char message[64] = {};
  for (int i = 0; i < rounds; ++i) {
    const auto start = clock_type::now();
    bench::write_all(pair.sender, message, sizeof message);
    bench::read_exact(pair.sender, message, sizeof message);
    rtts.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - start).count());
  }
  echo.join();
  std::sort(rtts.begin(), rtts.end());
  return rtts;
}

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options options("relay_bench", "Throughput and latency through raw TCP, socat, or our relay (loopback).");
  options.add_options()
      ("mode", "raw, socat or relay", cxxopts::value<std::string>())
      ("port", "socat's listen port (socat) or the rendezvous main port (relay)", cxxopts::value<int>()->default_value("0"))
      ("ports", "relay: a cluster's main ports, comma-separated", cxxopts::value<std::string>())
      ("placement", "relay on a cluster: random, same or cross (nodes of the two sides)", cxxopts::value<std::string>()->default_value("random"))
      ("sink-port", "port of our sink (socat forwards to it)", cxxopts::value<int>()->default_value("0"))
      ("streams", "concurrent streams", cxxopts::value<int>()->default_value("1"))
      ("total-mib", "MiB to move in total, split over the streams (0: none)", cxxopts::value<int>()->default_value("1024"))
      ("latency-rounds", "64-byte round trips on the first stream (0: none)", cxxopts::value<int>()->default_value("0"))
      ("h,help", "show this help");
  try {
    auto args = options.parse(argc, argv);
    if (args.count("help") || !args.count("mode")) {
      std::cout << options.help() << "\n";
      return args.count("help") ? 0 : 2;
    }
    const auto mode = args["mode"].as<std::string>();
    const int streams = args["streams"].as<int>();
    std::uint16_t sink_port = static_cast<std::uint16_t>(args["sink-port"].as<int>());
    const int sink = bench::listen_loopback(sink_port);
    std::vector<stream_pair> pairs;
    std::vector<std::uint16_t> main_ports{static_cast<std::uint16_t>(args["port"].as<int>())};
    if (args.count("ports")) {
      main_ports.clear();
      std::stringstream list(args["ports"].as<std::string>());
      for (std::string item; std::getline(list, item, ',');) main_ports.push_back(static_cast<std::uint16_t>(std::stoi(item)));
    }
    pair_placement placed;
    if (mode == "raw") pairs = direct_pairs(streams, sink_port, sink);
    else if (mode == "socat") pairs = direct_pairs(streams, static_cast<std::uint16_t>(args["port"].as<int>()), sink);
    else if (mode == "relay") pairs = relay_pairs(streams, main_ports, args["placement"].as<std::string>(), placed);
    else throw std::runtime_error("unknown mode " + mode);

    nlohmann::json result{{"mode", mode}, {"streams", streams}};
    if (!placed.connect_ms.empty()) {
      auto sorted = placed.connect_ms;
      std::sort(sorted.begin(), sorted.end());
      result["connect_ms_p50"] = sorted[sorted.size() / 2];
      result["connect_ms_p99"] = sorted[std::min(sorted.size() - 1, sorted.size() * 99 / 100)];
      result["nodes"] = main_ports.size();
      result["placement"] = args["placement"].as<std::string>();
      result["pairs_per_node"] = placed.per_node;
      const double even = static_cast<double>(streams) / static_cast<double>(main_ports.size());
      double worst = 0;
      for (const int n : placed.per_node) worst = std::max(worst, std::abs(n - even) / even);
      result["max_deviation_from_even"] = worst;
    }
    const std::uint64_t total = std::uint64_t(args["total-mib"].as<int>()) << 20;
    if (total > 0) {
      const double seconds = measure_throughput(pairs, total / static_cast<std::uint64_t>(streams));
      result["mib"] = total >> 20;
      result["seconds"] = seconds;
      result["gbit_per_s"] = static_cast<double>(total) * 8 / seconds / 1e9;
    }
    if (const int rounds = args["latency-rounds"].as<int>(); rounds > 0) {
      const auto rtts = measure_latency(pairs.front(), rounds);
      result["rtt_us_p50"] = rtts[rtts.size() / 2];
      result["rtt_us_p99"] = rtts[rtts.size() * 99 / 100];
    }
    std::cout << result.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "relay_bench: " << e.what() << "\n";
    return 1;
  }
}
