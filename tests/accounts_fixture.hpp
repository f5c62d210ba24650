// A loopback server with accounts: `rendezvous user ...` run against the server's state while
// it runs, and peers started with the tokens it prints. With use_cluster(), the server is a node
// of a cluster on a real redis-server the test starts, and the user commands go to that cluster:
// the same tests then hold for both account stores.
#pragma once
#include <csignal>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/loopback_fixture.hpp"
#include "tests/support/files.hpp"
#include "tests/support/redis_server.hpp"

namespace test {

using namespace std::chrono_literals;

class AccountsFixture : public loopback_test {
 protected:
  void TearDown() override {
    server_.reset();  // (before its Redis)
    loopback_test::TearDown();
    redis_.reset();
  }
  /// From now on the server is a cluster node and the accounts live in the cluster's Redis.
  void use_cluster() {
    redis_ = std::make_unique<redis_server>(path("redis"));
    cluster_args_ = {"--cluster", redis_->url(), "--node-name", "accounts-node"};
  }
  bool clustered() const { return redis_ != nullptr; }
  /// The server (a cluster node holding its lease, with use_cluster()).
  void start_server(std::vector<std::string> extra = {}) {
    extra.insert(extra.end(), cluster_args_.begin(), cluster_args_.end());
    loopback_test::start_server(extra);
    if (clustered()) {
      ASSERT_TRUE(wait_for_text(path("server.err"), "holds its lease", 10s)) << read_file(path("server.err"));
    }
  }
  /// Runs `rendezvous --state (the server's) user ARGS...` (on the cluster with use_cluster());
  /// returns its exit code (stdout in user.out).
  int user(std::vector<std::string> args) {
    std::vector<std::string> argv{binary("rendezvous"), "--state", path("server-state")};
    argv.insert(argv.end(), cluster_args_.begin(), cluster_args_.end());
    argv.push_back("user");
    argv.insert(argv.end(), args.begin(), args.end());
    child_process child(argv, child_io{"/dev/null", path("user.out"), path("user.err")});
    return child.wait_for(20s).value_or(-1);
  }
  /// Adds account `name` (with extra flags); returns its token.
  std::string add_account(const std::string& name, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"add", name};
    args.insert(args.end(), extra.begin(), extra.end());
    EXPECT_EQ(user(args), 0) << read_file(path("user.err"));
    auto token = read_file(path("user.out"));
    while (!token.empty() && token.back() == '\n') token.pop_back();
    return token;
  }
  std::string rotate(const std::string& name) {
    EXPECT_EQ(user({"rotate", name}), 0) << read_file(path("user.err"));
    auto token = read_file(path("user.out"));
    while (!token.empty() && token.back() == '\n') token.pop_back();
    return token;
  }
  /// An `online` peer registered as `id` with `token`.
  std::unique_ptr<child_process> online(const std::string& name, const std::string& id, const std::string& token) {
    auto peer = start_peer(name, {"--id", id, "--token", token, "online"});
    EXPECT_TRUE(peer_says(name, "registered as " + id)) << err(name) << read_file(path("server.err"));
    return peer;
  }
  /// Stops the server as an operator would (SIGTERM) and waits for it to exit.
  void stop_server() {
    server_->signal(SIGTERM);
    EXPECT_EQ(server_->wait_for(10s), 0) << read_file(path("server.err"));
    server_.reset();
    std::filesystem::remove(path("ready.json"));
  }
  /// `rendezvous usage --json` for `account`: its rows.
  std::vector<nlohmann::json> usage_of(const std::string& account) {
    std::vector<std::string> argv{binary("rendezvous"), "--state", path("server-state"), "usage", "--json", "--user", account};
    child_process child(argv, child_io{"/dev/null", path("usage.out"), path("usage.err")});
    EXPECT_EQ(child.wait_for(20s), 0) << read_file(path("usage.err"));
    std::vector<nlohmann::json> rows;
    std::istringstream lines(read_file(path("usage.out")));
    for (std::string line; std::getline(lines, line);) rows.push_back(nlohmann::json::parse(line));
    return rows;
  }
  /// Waits for a peer that must stop by itself (its account was refused) and returns its code.
  static int ends(child_process& peer) { return peer.wait_for(10s).value_or(-1); }

  std::unique_ptr<redis_server> redis_;
  std::vector<std::string> cluster_args_;
};

}  // namespace test
