// Rendezvous nodes sharing one real redis-server (started by each test on a free loopback port,
// AOF in a temporary directory): IDs are registered once cluster-wide, `list` on any node shows
// every node's peers, key pins hold on every node and across a Redis restart, a killed node's
// IDs are free again within its lease, and while Redis is down registered peers stay while new
// registrations are refused with a reason, until Redis is back.
#include <gtest/gtest.h>

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include <asio/io_context.hpp>

#include "cluster/redis_client.hpp"
#include "tests/session_support.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/files.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/web.hpp"

namespace {

using namespace std::chrono_literals;

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::redis_server_binary().empty()) GTEST_SKIP() << "redis-server is not installed (scripts/install-deps.sh)";
    dir_ = test::make_temp_dir("hp-cluster");
    ::setenv("XDG_STATE_HOME", (std::filesystem::path(dir_) / "state").c_str(), 1);  // the peers' NAT cache
    redis_ = std::make_unique<test::redis_server>(path("redis"));
  }
  void TearDown() override {
    peers_.clear();
    nodes_.clear();
    redis_.reset();
    if (dir_.empty()) return;
    if (!HasFailure()) std::filesystem::remove_all(dir_);
    else std::cerr << "kept test files in " << dir_ << "\n";
  }
  std::string path(const std::string& file) const { return dir_ + "/" + file; }

  /// The loopback address of node `name`: each node has its own (127.0.0.1, .2, .3, in the order
  /// they first start), as nodes on three hosts would.
  std::string host(const std::string& name) {
    if (!hosts_.contains(name)) hosts_[name] = "127.0.0." + std::to_string(hosts_.size() + 1);
    return hosts_[name];
  }
  /// Starts node `name` on the cluster; waits until it listens and holds its lease.
  void start_node(const std::string& name, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{test::binary("rendezvous"), "--listen", host(name) + ":0", "--ready-file",
                                  path(name + ".ready"), "--log-level", "debug", "--state", path(name + "-state"),
                                  "--cluster", redis_->url(), "--node-name", name, "--stats-interval", "0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::filesystem::remove(path(name + ".ready"));
    nodes_[name] = std::make_unique<test::child_process>(
        argv, test::child_io{"/dev/null", path(name + ".out"), path(name + ".err")});
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!std::filesystem::exists(path(name + ".ready"))) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << name << " did not start: " << test::read_file(path(name + ".err"));
      std::this_thread::sleep_for(20ms);
    }
    ports_[name] = nlohmann::json::parse(test::read_file(path(name + ".ready")))["main"].get<int>();
    ASSERT_TRUE(test::wait_for_text(path(name + ".err"), "holds its lease", 10s)) << test::read_file(path(name + ".err"));
  }
  std::vector<std::string> peer_argv(const std::string& node, const std::string& identity, std::vector<std::string> args) {
    std::vector<std::string> argv{test::binary("peer"), "--server", host(node) + ":" + std::to_string(ports_.at(node)),
                                  "--identity", path(identity + ".key")};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  /// `peer --id ID listen` on `node` as `name` (its files) with `identity`'s key, kept running.
  test::child_process& listen(const std::string& name, const std::string& node, const std::string& id,
                              const std::string& identity) {
    auto& child = peers_[name] = std::make_unique<test::child_process>(
        peer_argv(node, identity, {"--id", id, "listen"}), test::child_io{"/dev/null", path(name + ".out"), path(name + ".err")});
    return *child;
  }
  /// Runs a peer command on `node` to its end (stdin from `input`); its exit code.
  int run(const std::string& name, const std::string& node, const std::string& identity, std::vector<std::string> args,
          const std::string& input = "/dev/null") {
    test::child_process child(peer_argv(node, identity, std::move(args)),
                              test::child_io{input, path(name + ".out"), path(name + ".err")});
    return child.wait_for(20s).value_or(-1);
  }
  /// "--server" with every node's address, in the order given.
  std::string all_servers(const std::vector<std::string>& nodes) {
    std::string list;
    for (const auto& n : nodes) list += (list.empty() ? "" : ",") + (host(n) + ":" + std::to_string(ports_.at(n)));
    return list;
  }
  /// One command to the cluster's Redis, with our own client.
  cluster::redis_reply redis(std::vector<std::string> command) {
    asio::io_context io;
    cluster::redis_client client(io.get_executor(), cluster::parse_redis_url(redis_->url()));
    cluster::redis_reply reply;
    test::run_until_done(io, [&]() -> net::awaitable<void> { reply = co_await client.command(command); }());
    return reply;
  }
  bool redis_has(const std::string& key) { return redis({"EXISTS", key}).integer == 1; }
  bool says(const std::string& name, const std::string& text, std::chrono::seconds limit = 10s) {
    return test::wait_for_text(path(name + ".err"), text, limit);
  }
  std::string err(const std::string& name) const { return test::read_file(path(name + ".err")); }
  /// The first of `nodes` whose log shows `text` within 5 s ("" if none does).
  std::string node_logging(const std::vector<std::string>& nodes, const std::string& text) const {
    for (int i = 0; i < 100; ++i) {
      for (const auto& node : nodes) {
        if (err(node).find(text) != std::string::npos) return node;
      }
      std::this_thread::sleep_for(50ms);
    }
    return {};
  }
  std::string out(const std::string& name) const { return test::read_file(path(name + ".out")); }

  std::string dir_;
  std::unique_ptr<test::redis_server> redis_;
  std::map<std::string, std::unique_ptr<test::child_process>> nodes_;
  std::map<std::string, int> ports_;
  std::map<std::string, std::string> hosts_;
  std::map<std::string, std::unique_ptr<test::child_process>> peers_;
};

TEST_F(ClusterTest, AnIdIsHeldOnceClusterWideAndEveryNodeListsEveryPeer) {
  start_node("a");
  start_node("b");
  start_node("c");
  listen("alice", "a", "alice", "alice");
  listen("bob", "b", "bob", "bob");
  ASSERT_TRUE(says("alice", "registered as alice")) << err("alice");
  ASSERT_TRUE(says("bob", "registered as bob")) << err("bob");
  EXPECT_EQ(run("list", "c", "carol", {"list"}), 0) << err("list");
  EXPECT_EQ(out("list"), "alice\nbob\n");
  // Alice's own key, on another node: still a duplicate while her registration on a lives.
  EXPECT_EQ(run("again", "b", "alice", {"--id", "alice", "listen"}), 3) << err("again");
  EXPECT_NE(err("again").find("already registered by a live peer (on node a)"), std::string::npos) << err("again");
  // When she leaves, the ID is free on any node at once.
  peers_["alice"]->signal(SIGTERM);
  ASSERT_TRUE(peers_["alice"]->wait_for(5s).has_value());
  auto& moved = listen("moved", "b", "alice", "alice");
  EXPECT_TRUE(says("moved", "registered as alice")) << err("moved");
  EXPECT_TRUE(moved.running());
}

TEST_F(ClusterTest, PeersOnDifferentNodesConnectByIdPunchedOrRelayedThroughTheInitiatorsNode) {
  start_node("a");
  start_node("b");
  start_node("c");
  test::write_random_file(path("to-alice"), 1 << 20, 1);
  test::write_random_file(path("to-bob"), 1 << 20, 2);
  // Punched: bob on b, alice asks a; a coordinates, b hands bob his part.
  peers_["bob"] = std::make_unique<test::child_process>(peer_argv("b", "bob", {"--id", "bob", "listen"}),
                                                        test::child_io{path("to-alice"), path("bob.out"), path("bob.err")});
  ASSERT_TRUE(says("bob", "registered as bob")) << err("bob");
  EXPECT_EQ(run("alice", "a", "alice", {"connect", "bob", "--json", "--path", "punch-first"}, path("to-bob")), 0)
      << err("alice") << err("a");
  EXPECT_TRUE(peers_["bob"]->wait_for(20s).has_value()) << err("bob");
  EXPECT_TRUE(out("alice") == test::read_file(path("to-alice"))) << "alice got " << out("alice").size() << " bytes";
  EXPECT_TRUE(out("bob") == test::read_file(path("to-bob"))) << "bob got " << out("bob").size() << " bytes";
  EXPECT_NE(err("alice").find(R"("path":"direct")"), std::string::npos) << err("alice");
  EXPECT_NE(err("a").find("-> bob on node b started"), std::string::npos) << err("a");
  // bob reported to a's hole-assist port (at a's address, not b's).
  EXPECT_NE(err("a").find(": bob is at 127.0.0."), std::string::npos) << err("a");

  // Relayed: carol on c; the pair is joined on a, the coordinating node.
  peers_["carol"] = std::make_unique<test::child_process>(peer_argv("c", "carol", {"--id", "carol", "listen"}),
                                                          test::child_io{path("to-alice"), path("carol.out"), path("carol.err")});
  ASSERT_TRUE(says("carol", "registered as carol")) << err("carol");
  EXPECT_EQ(run("dan", "a", "dan", {"connect", "carol", "--path", "relay", "--json"}, path("to-bob")), 0)
      << err("dan") << err("a");
  EXPECT_TRUE(peers_["carol"]->wait_for(20s).has_value()) << err("carol");
  EXPECT_TRUE(out("dan") == test::read_file(path("to-alice"))) << "dan got " << out("dan").size() << " bytes";
  EXPECT_TRUE(out("carol") == test::read_file(path("to-bob"))) << "carol got " << out("carol").size() << " bytes";
  EXPECT_NE(err("dan").find(R"("path":"relay")"), std::string::npos) << err("dan");
  EXPECT_NE(err("a").find("<-> carol joined"), std::string::npos) << err("a");
  EXPECT_EQ(err("c").find("<-> carol joined"), std::string::npos) << err("c");
}

TEST_F(ClusterTest, ByDefaultAPairAcrossNodesStartsOnTheCoordinatorsRelayAndMovesToTheDirectPath) {
  start_node("a");
  start_node("b");
  const std::string to_alice(4 << 20, 'b'), to_bob(4 << 20, 'a');
  peers_["bob"] = std::make_unique<test::child_process>(peer_argv("b", "bob", {"--id", "bob", "--json", "listen"}),
                                                        test::child_io{"", path("bob.out"), path("bob.err")});
  ASSERT_TRUE(says("bob", "\"registered\"")) << err("bob");
  peers_["alice"] = std::make_unique<test::child_process>(peer_argv("a", "alice", {"--json", "connect", "bob"}),
                                                          test::child_io{"", path("alice.out"), path("alice.err")});
  ASSERT_TRUE(says("alice", "\"connected\"")) << err("alice") << err("a");
  EXPECT_NE(err("alice").find(R"("path":"relay")"), std::string::npos) << err("alice");
  peers_["alice"]->write_stdin(to_bob.substr(0, to_bob.size() / 2));
  peers_["bob"]->write_stdin(to_alice.substr(0, to_alice.size() / 2));
  // Bob punched through a's hole-assist port (a coordinates) and both moved off a's relay.
  ASSERT_TRUE(says("alice", "\"path_changed\"")) << err("alice") << err("bob");
  ASSERT_TRUE(says("bob", "\"path_changed\"")) << err("bob");
  EXPECT_TRUE(says("a", "upgraded to direct")) << err("a");
  peers_["alice"]->write_stdin(to_bob.substr(to_bob.size() / 2));
  peers_["alice"]->close_stdin();
  peers_["bob"]->write_stdin(to_alice.substr(to_alice.size() / 2));
  peers_["bob"]->close_stdin();
  EXPECT_EQ(peers_["alice"]->wait_for(20s), 0) << err("alice");
  EXPECT_EQ(peers_["bob"]->wait_for(20s), 0) << err("bob");
  EXPECT_TRUE(out("alice") == to_alice) << "alice got " << out("alice").size() << " bytes";
  EXPECT_TRUE(out("bob") == to_bob) << "bob got " << out("bob").size() << " bytes";
}

TEST_F(ClusterTest, AConnectToAPeerWhoseNodeNoLongerHasItFailsAtOnce) {
  start_node("a");
  start_node("b");
  // A registration b does not hold a connection for (as if its peer had just left).
  EXPECT_FALSE(redis({"HSET", "hp:reg:ghost", "node", "b", "info",
                      R"({"public_key":"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"})"})
                   .is_error());
  const auto started = std::chrono::steady_clock::now();
  EXPECT_NE(run("caller", "a", "caller", {"connect", "ghost"}), 0) << err("caller");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);  // not the attempt's 15 s deadline
  EXPECT_NE(err("caller").find("ghost is no longer online on node b"), std::string::npos) << err("caller") << err("a");
}

TEST_F(ClusterTest, KeyPinsHoldOnEveryNodeAndAcrossARedisRestart) {
  start_node("a");
  start_node("b");
  listen("first", "a", "dave", "dave-key");
  ASSERT_TRUE(says("first", "registered as dave")) << err("first");
  peers_["first"]->signal(SIGTERM);
  ASSERT_TRUE(peers_["first"]->wait_for(5s).has_value());
  // Another key may not take dave, on the other node either.
  EXPECT_EQ(run("thief", "b", "not-dave", {"--id", "dave", "listen"}), 3) << err("thief");
  EXPECT_NE(err("thief").find("belongs to another key"), std::string::npos) << err("thief");
  redis_->stop();
  redis_->start();
  EXPECT_EQ(run("thief2", "b", "not-dave", {"--id", "dave", "listen"}), 3) << err("thief2");
  EXPECT_NE(err("thief2").find("belongs to another key"), std::string::npos) << err("thief2");
  listen("owner", "b", "dave", "dave-key");
  EXPECT_TRUE(says("owner", "registered as dave")) << err("owner");
}

TEST_F(ClusterTest, TheOperatorListsAndReleasesTheClustersPins) {
  start_node("a");
  listen("first", "a", "lena", "lena-key");
  ASSERT_TRUE(says("first", "registered as lena")) << err("first");
  peers_["first"]->signal(SIGTERM);
  ASSERT_TRUE(peers_["first"]->wait_for(5s).has_value());
  const auto rendezvous_command = [&](const std::string& name, std::vector<std::string> args) {
    std::vector<std::string> argv{test::binary("rendezvous"), "--cluster", redis_->url()};
    argv.insert(argv.end(), args.begin(), args.end());
    test::child_process child(argv, test::child_io{"/dev/null", path(name + ".out"), path(name + ".err")});
    return child.wait_for(10s).value_or(-1);
  };
  EXPECT_EQ(rendezvous_command("list-ids", {"list-ids"}), 0) << err("list-ids");
  EXPECT_EQ(out("list-ids").rfind("lena  ", 0), 0u) << out("list-ids");
  // A new key may not take lena until the operator releases her pin; then it may.
  EXPECT_EQ(run("new-key", "a", "lena-new-key", {"--id", "lena", "listen"}), 3) << err("new-key");
  EXPECT_EQ(rendezvous_command("release", {"release-id", "lena"}), 0) << err("release");
  EXPECT_EQ(out("release"), "released lena\n");
  EXPECT_EQ(rendezvous_command("release-again", {"release-id", "lena"}), 1);
  EXPECT_NE(err("release-again").find("no pin for 'lena' in the cluster"), std::string::npos) << err("release-again");
  listen("second", "a", "lena", "lena-new-key");
  EXPECT_TRUE(says("second", "registered as lena")) << err("second");
}

TEST_F(ClusterTest, AKilledNodesIdsAreFreeWithinItsLease) {
  start_node("a", {"--node-lease", "2"});
  start_node("b", {"--node-lease", "2"});
  listen("erin", "a", "erin", "erin");
  listen("ghost", "a", "ghost", "ghost");
  ASSERT_TRUE(says("erin", "registered as erin")) << err("erin");
  ASSERT_TRUE(says("ghost", "registered as ghost")) << err("ghost");
  EXPECT_TRUE(redis_has("hp:reg:ghost"));
  nodes_["a"]->signal(SIGKILL);
  nodes_["a"]->wait_for(5s);
  const auto killed = std::chrono::steady_clock::now();
  // Erin's own reconnect goes to a (gone); a new erin on b must get the ID once a's lease lapses.
  int code = -1;
  for (int i = 0; i < 20 && code != 0; ++i) {
    auto& again = listen("erin-b", "b", "erin", "erin");
    if (says("erin-b", "registered as erin", 1s)) {
      code = 0;
      break;
    }
    again.signal(SIGTERM);
    again.wait_for(5s);
    std::this_thread::sleep_for(300ms);
  }
  EXPECT_EQ(code, 0) << err("erin-b") << err("b");
  EXPECT_LT(std::chrono::steady_clock::now() - killed, 6s);
  EXPECT_EQ(run("list", "b", "frank", {"list"}), 0) << err("list");
  EXPECT_EQ(out("list"), "erin\n");  // not ghost, whose node is gone
  // The live node sweeps the dead one's leftovers about once a lease.
  bool swept = false;
  for (int i = 0; i < 50 && !(swept = !redis_has("hp:reg:ghost")); ++i) std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(swept) << err("b");
  EXPECT_TRUE(redis_has("hp:reg:erin"));  // held by b now
}

TEST_F(ClusterTest, ADrainedNodesIdsAreFreeAtOnceNotAfterItsLease) {
  start_node("a");  // the default lease: 10 s
  start_node("b");
  listen("jill", "a", "jill", "jill");
  ASSERT_TRUE(says("jill", "registered as jill")) << err("jill");
  nodes_["a"]->signal(SIGTERM);
  EXPECT_TRUE(nodes_["a"]->wait_for(10s).has_value()) << test::read_file(path("a.err"));
  const auto drained = std::chrono::steady_clock::now();
  listen("jill-b", "b", "jill", "jill");
  EXPECT_TRUE(says("jill-b", "registered as jill", 5s)) << err("jill-b") << err("b");
  EXPECT_LT(std::chrono::steady_clock::now() - drained, 5s);  // not the 10 s lease
}

TEST_F(ClusterTest, ANodeWhoseLeaseLapsedClosesItsRegistrationOfAnIdAnotherNodeTookMeanwhile) {
  start_node("a", {"--node-lease", "2"});
  listen("kim", "a", "kim", "kim");
  ASSERT_TRUE(says("kim", "registered as kim")) << err("kim");
  // As if a's lease had lapsed (a stall) and a live node z had taken kim meanwhile.
  EXPECT_FALSE(redis({"SET", "hp:node:z", "{}", "PX", "30000"}).is_error());
  EXPECT_FALSE(redis({"HSET", "hp:reg:kim", "node", "z", "info", "{}"}).is_error());
  EXPECT_EQ(redis({"DEL", "hp:node:a"}).integer, 1);
  // a notices at its next refresh (a third of its lease), and z's registration stands.
  EXPECT_TRUE(peers_["kim"]->wait_for(5s).has_value()) << err("kim");
  EXPECT_TRUE(test::wait_for_text(path("a.err"), "kim is held by node z now", 2s)) << test::read_file(path("a.err"));
  EXPECT_EQ(redis({"HGET", "hp:reg:kim", "node"}).text, "z");
  EXPECT_TRUE(redis_has("hp:node:a"));  // a holds its lease again
}

TEST_F(ClusterTest, WhileRedisIsDownRegisteredPeersStayAndNewOnesAreToldWhy) {
  start_node("a");
  start_node("b");
  listen("gina", "a", "gina", "gina");
  ASSERT_TRUE(says("gina", "registered as gina")) << err("gina");
  redis_->stop();
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(run("hank", "b", "hank", {"--id", "hank", "listen"}), 3) << err("hank");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);  // an answer, not a hang
  EXPECT_NE(err("hank").find("cannot reach its cluster store"), std::string::npos) << err("hank");
  EXPECT_TRUE(peers_["gina"]->running()) << err("gina");
  // list on a still answers, with its own peers.
  EXPECT_EQ(run("list-down", "a", "ivan", {"list"}), 0) << err("list-down");
  EXPECT_EQ(out("list-down"), "gina\n");
  // A connect that needs the cluster (gina is on a, the caller asks b) fails at once and says why.
  const auto asked = std::chrono::steady_clock::now();
  EXPECT_EQ(run("cross-down", "b", "ivan", {"connect", "gina"}), 3) << err("cross-down");
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 5s);
  EXPECT_NE(err("cross-down").find("cannot reach its cluster store to find 'gina'"), std::string::npos) << err("cross-down");
  redis_->start();
  // No node restarts: registrations work again once the nodes reconnect.
  bool registered = false;
  for (int i = 0; i < 20 && !registered; ++i) {
    auto& hank = listen("hank2", "b", "hank", "hank");
    registered = says("hank2", "registered as hank", 1s);
    if (!registered) {
      hank.signal(SIGTERM);
      hank.wait_for(5s);
      std::this_thread::sleep_for(300ms);
    }
  }
  EXPECT_TRUE(registered) << err("hank2") << err("b");
  EXPECT_EQ(run("list-up", "a", "ivan", {"list"}), 0) << err("list-up");
  EXPECT_EQ(out("list-up"), "gina\nhank\n");
  // Connects across nodes work again too: both nodes hear their mail once more.
  const auto resubscribed = [&](const std::string& node) {
    for (int i = 0; i < 50; ++i) {
      const auto log = err(node);
      if (log.find("hears its mail") != log.rfind("hears its mail")) return true;  // a second time
      std::this_thread::sleep_for(100ms);
    }
    return false;
  };
  EXPECT_TRUE(resubscribed("a")) << err("a");
  EXPECT_TRUE(resubscribed("b")) << err("b");
  std::ofstream(path("hello")) << "hello gina\n";
  EXPECT_EQ(run("cross-up", "b", "ivan", {"connect", "gina"}, path("hello")), 0) << err("cross-up") << err("b");
  EXPECT_EQ(out("gina"), "hello gina\n");
}

TEST_F(ClusterTest, AnOnlinePeerWhoseNodeDiesComesBackOnAnotherAndIsReachableThere) {
  start_node("a", {"--node-lease", "2"});
  start_node("b", {"--node-lease", "2"});
  std::uint16_t web_port = 0;
  auto web = test::start_web(path("www"), {{"index.txt", "still served\n"}}, web_port);
  const auto target = "127.0.0.1:" + std::to_string(web_port);
  // The box knows both nodes and starts at a random one.
  peers_["box"] = std::make_unique<test::child_process>(
      std::vector<std::string>{test::binary("peer"), "--server", all_servers({"a", "b"}), "--identity", path("box.key"),
                               "--id", "box", "online", "--allow", target},
      test::child_io{"/dev/null", path("box.out"), path("box.err")});
  ASSERT_TRUE(says("box", "registered as box")) << err("box");
  const auto dead = node_logging({"a", "b"}, "box registered from");
  ASSERT_FALSE(dead.empty()) << err("a") << err("b");
  const std::string alive = dead == "a" ? "b" : "a";
  nodes_[dead]->signal(SIGKILL);
  nodes_[dead]->wait_for(5s);
  // It reconnects (to the live node, after trying the dead one perhaps) and, once the dead node's
  // lease lapses, registers there: within 10 s.
  EXPECT_TRUE(test::wait_for_text(path(alive + ".err"), "box registered from", 10s)) << err("box") << err(alive);
  std::ofstream(path("request")) << "GET /index.txt HTTP/1.0\r\nHost: box\r\n\r\n";
  EXPECT_EQ(run("fetch", alive, "fetcher", {"connect", "box", "--target", target}, path("request")), 0) << err("fetch");
  EXPECT_NE(out("fetch").find("still served"), std::string::npos) << out("fetch") << err("fetch");
}

TEST_F(ClusterTest, APortExposedThroughOneNodeAnswersOnEveryNodeAndAgainAfterThatNodeIsKilled) {
  const auto port = test::free_port();
  const std::vector<std::string> options{"--expose-ports", std::to_string(port) + "-" + std::to_string(port),
                                         "--node-lease", "2"};
  start_node("a", options);
  start_node("b", options);
  start_node("c", options);
  std::uint16_t web_port = 0;
  auto web = test::start_web(path("www"), {{"index.txt", "served through the cluster\n"}}, web_port);
  peers_["box"] = std::make_unique<test::child_process>(
      std::vector<std::string>{test::binary("peer"), "--server", all_servers({"a", "b"}), "--identity", path("box.key"),
                               "--id", "box", "online", "--expose",
                               "127.0.0.1:" + std::to_string(web_port) + "=" + std::to_string(port)},
      test::child_io{"/dev/null", path("box.out"), path("box.err")});
  const auto forwarding = "expose: port " + std::to_string(port) + " now forwards to box";
  ASSERT_TRUE(says("box", "registered as box")) << err("box");
  const auto home = node_logging({"a", "b"}, forwarding);
  ASSERT_FALSE(home.empty()) << err("a") << err("b") << err("box");
  const std::string other = home == "a" ? "b" : "a";
  // Any node answers: its own listener, or one forwarding its clients to the box's node.
  const auto answers = [&](const std::string& node, std::chrono::seconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    do {
      if (test::http_get(port, "/index.txt", host(node)).find("served through the cluster") != std::string::npos) return true;
      std::this_thread::sleep_for(200ms);
    } while (std::chrono::steady_clock::now() < until);
    return false;
  };
  for (const auto& node : {"a", "b", "c"}) EXPECT_TRUE(answers(node, 5s)) << node << ": " << err(node) << err(home);
  EXPECT_NE(err(other).find("expose: port " + std::to_string(port) + " forwards to box on node " + home), std::string::npos)
      << err(other);
  // Ten clients in a row through a node that forwards them: none lost.
  int served = 0;
  for (int i = 0; i < 10; ++i) served += answers("c", 1s) ? 1 : 0;
  EXPECT_EQ(served, 10) << err("c") << err(home);

  nodes_[home]->signal(SIGKILL);
  nodes_[home]->wait_for(5s);
  const auto killed = std::chrono::steady_clock::now();
  // The box registers and exposes again on the live node once the dead one's lease lapses (the
  // refusal before that says when: it retries then, not at its next doubled backoff); the port
  // answers there and on c (whose forwarding follows the claim).
  EXPECT_TRUE(answers(other, 10s)) << err(other) << err("box");
  EXPECT_LT(std::chrono::steady_clock::now() - killed, 6s) << err("box");
  EXPECT_TRUE(answers("c", 5s)) << err("c");
}

TEST_F(ClusterTest, NodesSharingAnAddressShareTheExposedPort) {
  // Two nodes on one host and address (one per core), different main ports.
  hosts_["a"] = hosts_["b"] = "127.0.0.1";
  const auto port = test::free_port();
  const std::vector<std::string> options{"--expose-ports", std::to_string(port) + "-" + std::to_string(port)};
  start_node("a", options);
  start_node("b", options);
  std::uint16_t web_port = 0;
  auto web = test::start_web(path("www"), {{"index.txt", "one port, two nodes\n"}}, web_port);
  peers_["box"] = std::make_unique<test::child_process>(
      peer_argv("a", "box", {"--id", "box", "online", "--expose", "127.0.0.1:" + std::to_string(web_port) + "=" + std::to_string(port)}),
      test::child_io{"/dev/null", path("box.out"), path("box.err")});
  ASSERT_TRUE(says("box", "registered as box")) << err("box");
  ASSERT_TRUE(test::wait_for_text(path("b.err"), "forwards to box on node a", 5s)) << err("b") << err("a");
  // The kernel spreads the port's clients over both listeners: every one is served.
  int served = 0;
  for (int i = 0; i < 30; ++i) {
    served += test::http_get(port, "/index.txt").find("one port, two nodes") != std::string::npos ? 1 : 0;
  }
  EXPECT_EQ(served, 30) << err("a") << err("b");
  EXPECT_NE(err("b").find("forwarded to node a"), std::string::npos) << "no client went through b: " << err("b");
}

TEST_F(ClusterTest, AccountsAreTheClustersAndHoldOnEveryNode) {
  // `rendezvous --cluster URL user ...`: before the nodes start, and while they run.
  const auto user = [this](std::vector<std::string> args) {
    std::vector<std::string> argv{test::binary("rendezvous"), "--cluster", redis_->url(), "user"};
    argv.insert(argv.end(), args.begin(), args.end());
    test::child_process child(argv, test::child_io{"/dev/null", path("user.out"), path("user.err")});
    return child.wait_for(20s).value_or(-1);
  };
  const auto printed_token = [this] {
    auto token = out("user");
    while (!token.empty() && token.back() == '\n') token.pop_back();
    return token;
  };
  ASSERT_EQ(user({"add", "alice"}), 0) << err("user");
  const auto alice = printed_token();
  start_node("a");
  start_node("b");
  ASSERT_EQ(user({"add", "mallory"}), 0) << err("user");
  const auto mallory = printed_token();
  std::this_thread::sleep_for(1500ms);  // (the nodes read a change within about a second)

  auto& box = *(peers_["box"] = std::make_unique<test::child_process>(
                    peer_argv("a", "box", {"--token", alice, "--id", "printer", "online"}),
                    test::child_io{"/dev/null", path("box.out"), path("box.err")}));
  ASSERT_TRUE(says("box", "registered as printer")) << err("box") << err("a");
  EXPECT_EQ(run("tokenless", "b", "tokenless", {"list"}), 3);
  EXPECT_NE(err("tokenless").find("requires a token"), std::string::npos) << err("tokenless");
  // Another account on the other node, even with a copy of alice's key: the ID is alice's.
  EXPECT_EQ(run("copy", "b", "box", {"--token", mallory, "--id", "printer", "listen"}), 3);
  EXPECT_NE(err("copy").find("belongs to another account"), std::string::npos) << err("copy") << err("b");
  EXPECT_EQ(run("mallory", "b", "mallory", {"--token", mallory, "list"}), 0) << err("mallory");

  // Disabled on the cluster: her live peer on node a closes and stops, node b refuses her.
  ASSERT_EQ(user({"disable", "alice"}), 0) << err("user");
  EXPECT_EQ(box.wait_for(10s).value_or(-1), 3) << err("box");
  EXPECT_NE(err("box").find("account 'alice' is disabled"), std::string::npos) << err("box");
  std::this_thread::sleep_for(1500ms);  // (node b polls on its own second)
  EXPECT_EQ(run("again", "b", "box", {"--token", alice, "list"}), 3);
  EXPECT_NE(err("again").find("is disabled"), std::string::npos) << err("again");

  // A cluster meters nothing yet, so it takes no quota; the rest of the commands work on it.
  EXPECT_EQ(user({"set", "alice", "--relay-quota-gib", "1"}), 2);
  EXPECT_NE(err("user").find("a cluster meters nothing yet"), std::string::npos) << err("user");
  ASSERT_EQ(user({"list", "--json"}), 0) << err("user");
  std::map<std::string, std::string> states;
  std::istringstream lines(out("user"));
  for (std::string line; std::getline(lines, line);) {
    const auto listed = nlohmann::json::parse(line);
    states[listed["name"].get<std::string>()] = listed["state"].get<std::string>();
  }
  EXPECT_EQ(states, (std::map<std::string, std::string>{{"alice", "disabled"}, {"mallory", "active"}})) << out("user");
  // An owner left without its pin (an older node's release-id) owns nothing: the ID goes to the
  // account that pins it now, and removing the old owner does not take it.
  redis({"HSET", "hp:pin_owner", "ghost", "alice"});
  redis({"SADD", "hp:owned:alice", "ghost"});
  peers_["ghost"] = std::make_unique<test::child_process>(peer_argv("b", "ghost", {"--token", mallory, "--id", "ghost", "online"}),
                                                          test::child_io{"/dev/null", path("ghost.out"), path("ghost.err")});
  ASSERT_TRUE(says("ghost", "registered as ghost")) << err("ghost") << err("b");
  EXPECT_EQ(redis({"HGET", "hp:pin_owner", "ghost"}).text, "mallory");
  EXPECT_EQ(redis({"SISMEMBER", "hp:owned:alice", "ghost"}).integer, 0);
  // Removing the account releases its ID cluster-wide.
  ASSERT_EQ(user({"remove", "alice"}), 0) << err("user");
  EXPECT_NE(out("user").find("released 1 ID"), std::string::npos) << out("user");
  EXPECT_EQ(redis({"HEXISTS", "hp:pins", "printer"}).integer, 0);
  EXPECT_EQ(redis({"HEXISTS", "hp:pin_owner", "printer"}).integer, 0);
  EXPECT_EQ(redis({"HEXISTS", "hp:pins", "ghost"}).integer, 1);
  EXPECT_EQ(redis({"EXISTS", "hp:owned:alice"}).integer, 0);
}

}  // namespace
