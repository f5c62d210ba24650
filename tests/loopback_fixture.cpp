#include "tests/loopback_fixture.hpp"

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

namespace test {

void loopback_test::SetUp() {
  dir_ = make_temp_dir("hp-loopback");
  // The peers' NAT cache lives in the test's directory, not the user's home.
  ::setenv("XDG_STATE_HOME", (std::filesystem::path(dir_) / "state").c_str(), 1);
}

void loopback_test::TearDown() {
  server_.reset();
  if (!HasFailure()) std::filesystem::remove_all(dir_);
  else std::cerr << "kept test files in " << dir_ << "\n";
}

void loopback_test::start_server(const std::vector<std::string>& extra) {
  std::vector<std::string> argv{binary("rendezvous"), "--listen", listen_.empty() ? host_text() + ":0" : listen_, "--ready-file", path("ready.json"),
                                "--log-level", "debug", "--state", path("server-state")};
  argv.insert(argv.end(), extra.begin(), extra.end());
  server_ = std::make_unique<child_process>(argv, child_io{"/dev/null", path("server.out"), path("server.err")});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!std::filesystem::exists(path("ready.json"))) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "server did not start: " << read_file(path("server.err"));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto ready = nlohmann::json::parse(read_file(path("ready.json")));
  port_ = ready["main"].get<std::uint16_t>();
  hole_port_ = ready["hole"].get<std::uint16_t>();
  relay_port_ = ready["relay"].get<std::uint16_t>();
  probe_port_ = ready["probe"][0].get<std::uint16_t>();
}

std::unique_ptr<child_process> loopback_test::start_peer(const std::string& name, std::vector<std::string> args,
                                                         const std::string& stdin_file) {
  std::vector<std::string> argv{binary("peer"), "--server", host_text() + ":" + std::to_string(port_)};
  // One identity per peer ID (so a restarted "bob" is still bob), else per process name.
  auto id = std::find(args.begin(), args.end(), "--id");
  const bool has_identity = std::find(args.begin(), args.end(), "--identity") != args.end();
  if (!has_identity) {
    argv.push_back("--identity");
    argv.push_back(path((id != args.end() && id + 1 != args.end() ? "id-" + *(id + 1) : name) + ".key"));
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return std::make_unique<child_process>(argv, child_io{stdin_file, path(name + ".out"), path(name + ".err")});
}

int loopback_test::run_peer(const std::string& name, std::vector<std::string> args, std::chrono::seconds limit) {
  auto child = start_peer(name, std::move(args), "/dev/null");
  auto code = child->wait_for(limit);
  EXPECT_TRUE(code.has_value()) << name << " did not finish within " << limit.count() << " s";
  return code.value_or(-1);
}

bool loopback_test::peer_says(const std::string& name, const std::string& needle, std::chrono::seconds limit) {
  return wait_for_text(path(name + ".err"), needle, limit);
}

void loopback_test::expect_half_close_keeps_other_direction(const std::vector<std::string>& connect_args) {
  using namespace std::chrono_literals;
  auto bob = start_peer("bob", {"--id", "bob", "listen"});
  ASSERT_TRUE(peer_says("bob", "registered as bob"));
  write_random_file(path("question"), 1000, 3);
  auto alice = start_peer("alice", connect_args, path("question"));
  // Alice's stdin ends at once, so her sending direction is closed; she must still wait for Bob.
  ASSERT_TRUE(wait_for_text(path("bob.out"), read_file(path("question")), 10s)) << err("alice") << err("bob");
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(alice->running()) << "alice exited before bob answered: " << err("alice");
  bob->write_stdin("the answer\n");
  bob->close_stdin();
  EXPECT_EQ(alice->wait_for(10s), 0) << err("alice");
  EXPECT_EQ(bob->wait_for(10s), 0) << err("bob");
  EXPECT_EQ(out("alice"), "the answer\n");
}

}  // namespace test
