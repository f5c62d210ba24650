// Session benchmark: one stream over an encrypted session against the raw TCP path it runs on,
// in the same run, on loopback. Each side has its own thread and io_context, as two peers would.
// Prints one line per run and a summary with the ratio.
//   session_bench [--mib N] [--rounds R]
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/read.hpp>
#include <asio/use_future.hpp>
#include <asio/write.hpp>
#include <cxxopts.hpp>

#include <algorithm>
#include <cstdio>
#include <future>
#include <thread>
#include <vector>

#include "session/session.hpp"

namespace {

constexpr std::size_t chunk = 256 * 1024;

/// An io_context on its own thread until destroyed.
struct side {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::thread thread{[this] { io.run(); }};
  ~side() {
    work.reset();
    io.stop();
    thread.join();
  }
};

/// A connected pair: `a` on `left`'s io_context, `b` on `right`'s.
std::pair<net::tcp::socket, net::tcp::socket> connect_pair(side& left, side& right) {
  net::tcp::acceptor acceptor(right.io, {asio::ip::address_v4::loopback(), 0});
  net::tcp::socket a(left.io), b(right.io);
  a.connect(acceptor.local_endpoint());
  acceptor.accept(b);
  a.set_option(net::tcp::no_delay(true));
  b.set_option(net::tcp::no_delay(true));
  return {std::move(a), std::move(b)};
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double raw_run(std::uint64_t bytes) {
  side left, right;
  auto [a, b] = connect_pair(left, right);
  std::vector<std::uint8_t> out(chunk, 0x5a), in(chunk);
  const auto start = std::chrono::steady_clock::now();
  auto sender = asio::co_spawn(left.io, [&]() -> net::awaitable<void> {
    for (std::uint64_t sent = 0; sent < bytes; sent += chunk) co_await asio::async_write(a, asio::buffer(out), asio::use_awaitable);
    a.shutdown(net::tcp::socket::shutdown_send);
  }, asio::use_future);
  auto receiver = asio::co_spawn(right.io, [&]() -> net::awaitable<std::uint64_t> {
    std::uint64_t got = 0;
    for (;;) {
      auto [ec, n] = co_await b.async_read_some(asio::buffer(in), net::use_nothrow);
      got += n;
      if (ec) co_return got;
    }
  }, asio::use_future);
  sender.get();
  if (receiver.get() != bytes) throw std::runtime_error("raw: bytes lost");
  return seconds_since(start);
}

/// `resumable`: the session keeps every record until acknowledged, to resume on a new path.
double session_run(std::uint64_t bytes, std::string& cipher, bool resumable) {
  side left, right;
  auto [a, b] = connect_pair(left, right);
  const auto alice = identity::generate(), bob = identity::generate();
  const auto deadline = net::clock::now() + std::chrono::seconds(10);
  // (GCC 12 miscompiles braced temporaries passed by value to a coroutine: named values only.)
  std::vector<std::uint8_t> none_a, none_b;
  const session::peer_expectation expect_bob{bob.pub, "", "bob"}, expect_alice{alice.pub, "", "alice"};
  auto shake_a = asio::co_spawn(left.io, session::run_handshake(a, std::move(none_a), alice, true, expect_bob, deadline),
                                asio::use_future);
  auto shake_b = asio::co_spawn(right.io, session::run_handshake(b, std::move(none_b), bob, false, expect_alice, deadline),
                                asio::use_future);
  auto ka = shake_a.get(), kb = shake_b.get();
  if (!ka.keys || !kb.keys) throw std::runtime_error("handshake failed: " + ka.failure + kb.failure);
  cipher = session::to_string(ka.keys->aead);
  session::session_options options;
  if (resumable) options.resume_wait = std::chrono::seconds(10);
  auto sa = std::make_shared<session::session>(std::move(a), *ka.keys, true, std::move(ka.leftover), options);
  auto sb = std::make_shared<session::session>(std::move(b), *kb.keys, false, std::move(kb.leftover), options);
  asio::co_spawn(left.io, sa->run(), asio::detached);
  asio::co_spawn(right.io, sb->run(), asio::detached);
  std::vector<std::uint8_t> out(chunk, 0x5a), in(chunk);
  const auto start = std::chrono::steady_clock::now();
  auto sender = asio::co_spawn(left.io, [&]() -> net::awaitable<void> {
    auto s = sa->open_stream({{"kind", "bench"}});
    for (std::uint64_t sent = 0; sent < bytes; sent += chunk) {
      const auto error = co_await s->write(out);
      if (!error.empty()) throw std::runtime_error(error);
    }
    s->shutdown_send();
  }, asio::use_future);
  auto receiver = asio::co_spawn(right.io, [&]() -> net::awaitable<std::uint64_t> {
    auto s = co_await sb->accept_stream();
    std::uint64_t got = 0;
    for (;;) {
      auto result = co_await s->read_some(in);
      got += result.size;
      if (result.eof || !result.error.empty()) co_return got;
    }
  }, asio::use_future);
  sender.get();
  if (receiver.get() != bytes) throw std::runtime_error("session: bytes lost");
  const double elapsed = seconds_since(start);
  asio::co_spawn(left.io, [sa]() -> net::awaitable<void> { sa->close(); co_await sa->wait_ended(); }, asio::use_future).get();
  return elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options options("session_bench", "One stream over an encrypted session vs the raw TCP path, on loopback.");
  options.add_options()("mib", "MiB per run", cxxopts::value<int>()->default_value("2048"))(
      "rounds", "runs of each, alternating; the best of each counts", cxxopts::value<int>()->default_value("3"))(
      "h,help", "show this help");
  auto args = options.parse(argc, argv);
  if (args.count("help")) {
    std::printf("%s\n", options.help().c_str());
    return 0;
  }
  const std::uint64_t bytes = static_cast<std::uint64_t>(args["mib"].as<int>()) * 1024 * 1024;
  const int rounds = args["rounds"].as<int>();
  double best_raw = 0, best_session = 0, best_resumable = 0;
  std::string cipher;
  for (int round = 1; round <= rounds; ++round) {
    const double raw = bytes * 8 / raw_run(bytes) / 1e9;
    const double secure = bytes * 8 / session_run(bytes, cipher, false) / 1e9;
    const double resumable = bytes * 8 / session_run(bytes, cipher, true) / 1e9;
    std::printf("round %d: raw TCP %.2f Gbit/s, session (%s) %.2f Gbit/s, resumable session %.2f Gbit/s\n", round, raw,
                cipher.c_str(), secure, resumable);
    best_raw = std::max(best_raw, raw);
    best_session = std::max(best_session, secure);
    best_resumable = std::max(best_resumable, resumable);
  }
  std::printf("session benchmark: %d MiB one stream, loopback, %u cores: raw %.2f Gbit/s, session %.2f Gbit/s "
              "(%s) = %.0f%% of raw (goal 80%%); resumable session (resend buffer and acks) %.2f Gbit/s = %.0f%% "
              "of the session\n",
              args["mib"].as<int>(), std::thread::hardware_concurrency(), best_raw, best_session, cipher.c_str(),
              100 * best_session / best_raw, best_resumable, 100 * best_resumable / best_session);
  return 0;
}
