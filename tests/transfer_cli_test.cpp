// File transfer with the real binaries: `peer send` to `peer receive` and to `peer online
// --inbox`, with the events scripts rely on; refusals the sender sees (an ID not accepted, an ID
// claimed with the wrong key); no silent overwrite; resume after the sender is killed mid-file;
// a full disk that leaves nothing under the final name.
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/content_hash.hpp"
#include "tests/loopback_fixture.hpp"

namespace test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

/// The JSON event lines of a peer's stderr with event == `kind`.
std::vector<nlohmann::json> events_of(const std::string& text, const std::string& kind) {
  std::vector<nlohmann::json> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    auto line = nlohmann::json::parse(text.substr(start, end - start), nullptr, false);
    if (line.is_object() && line.value("event", "") == kind) out.push_back(line);
    start = end + 1;
  }
  return out;
}

std::string hash_of_file(const std::string& path) {
  const auto data = read_file(path);
  crypto::content_hash hash;
  hash.update(std::span(reinterpret_cast<const unsigned char*>(data.data()), data.size()));
  return hash.hex_digest();
}

class TransferCliTest : public loopback_test {
 protected:
  void SetUp() override {
    loopback_test::SetUp();
    start_server();
    fs::create_directories(path("inbox"));
  }
  /// bob online, taking files from `accept` into inbox/.
  std::unique_ptr<child_process> start_bob_online(const std::string& accept, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--id", "bob", "--json", "online", "--inbox", path("inbox"), "--accept-from", accept};
    args.insert(args.end(), extra.begin(), extra.end());
    auto bob = start_peer("bob", args);
    EXPECT_TRUE(peer_says("bob", "\"registered\"")) << err("bob");
    return bob;
  }
};

TEST_F(TransferCliTest, ATreeAndAFileReachReceiveIntactWithEvents) {
  fs::create_directories(path("src/photos/2026"));
  write_random_file(path("src/photos/2026/a.jpg"), 2 * 1024 * 1024, 1);
  write_file(path("src/photos/notes.txt"), "notes\n");
  write_random_file(path("src/single.bin"), 5 * 1024 * 1024 + 3, 2);
  auto bob = start_peer("bob", {"--id", "bob", "--json", "receive", "--dir", path("inbox")});
  ASSERT_TRUE(peer_says("bob", "\"registered\"")) << err("bob");
  EXPECT_EQ(run_peer("alice", {"--id", "alice", "--json", "--path", "punch-first", "send", "bob", path("src/photos"), path("src/single.bin")}, 30s), 0)
      << err("alice");
  EXPECT_EQ(bob->wait_for(10s), 0) << err("bob");  // receive takes one transfer and exits
  for (const char* file : {"photos/2026/a.jpg", "photos/notes.txt", "single.bin"}) {
    EXPECT_EQ(hash_of_file(path(std::string("inbox/") + file)), hash_of_file(path(std::string("src/") + file))) << file;
  }
  const auto sent = events_of(err("alice"), "transfer");
  ASSERT_EQ(sent.size(), 3u) << err("alice");
  const auto& single = sent[2];
  EXPECT_EQ(single["file"], "single.bin");
  EXPECT_EQ(single["bytes"], 5 * 1024 * 1024 + 3);
  EXPECT_EQ(single["hash"], hash_of_file(path("src/single.bin")));
  EXPECT_EQ(single["path"], "direct");
  EXPECT_TRUE(single["elapsed_ms"].is_number());
  EXPECT_TRUE(single["mbps"].is_number());
  EXPECT_FALSE(events_of(err("alice"), "progress").empty());
  EXPECT_EQ(events_of(err("bob"), "transfer").size(), 3u) << err("bob");
  const auto incoming = events_of(err("bob"), "incoming");
  ASSERT_EQ(incoming.size(), 1u);
  EXPECT_EQ(incoming[0]["peer"], "alice");  // send names its ID without registering it
}

TEST_F(TransferCliTest, OnlyAcceptedIdsMaySendAndTheOthersAreToldWhy) {
  write_file(path("note.txt"), "hello bob\n");
  auto bob = start_bob_online("alice");
  EXPECT_EQ(run_peer("carol", {"--id", "carol", "send", "bob", path("note.txt")}), 7) << err("carol");
  EXPECT_NE(err("carol").find("bob does not accept files from carol"), std::string::npos) << err("carol");
  EXPECT_TRUE(peer_says("bob", "not in --accept-from")) << err("bob");
  // carol cannot pass for alice: the server knows alice's key (pinned by her first claim).
  EXPECT_EQ(run_peer("alice", {"--id", "alice", "send", "bob", path("note.txt")}), 0) << err("alice");
  EXPECT_EQ(run_peer("mallory", {"--id", "alice", "--identity", path("mallory.key"), "send", "bob", path("note.txt")}), 3)
      << err("mallory");
  EXPECT_NE(err("mallory").find("belongs to another key"), std::string::npos) << err("mallory");
  EXPECT_EQ(read_file(path("inbox/note.txt")), "hello bob\n");
  EXPECT_FALSE(fs::exists(path("inbox/note (1).txt")));
}

TEST_F(TransferCliTest, OnlineAlongsideSendOfTheSameIdAndNoSilentOverwrite) {
  write_file(path("report.txt"), "version 1\n");
  auto bob = start_bob_online("alice");
  // alice is online herself (registered) while she sends as alice from another process.
  auto alice_online = start_peer("alice-online", {"--id", "alice", "online", "--inbox", path("alice-inbox"), "--accept-any"});
  ASSERT_TRUE(peer_says("alice-online", "registered as alice")) << err("alice-online");
  EXPECT_EQ(run_peer("alice", {"--id", "alice", "send", "bob", path("report.txt")}), 0) << err("alice");
  write_file(path("report.txt"), "version 2\n");
  EXPECT_EQ(run_peer("alice2", {"--id", "alice", "--json", "send", "bob", path("report.txt")}), 0) << err("alice2");
  EXPECT_EQ(read_file(path("inbox/report.txt")), "version 1\n");
  EXPECT_EQ(read_file(path("inbox/report (1).txt")), "version 2\n");
  const auto sent = events_of(err("alice2"), "transfer");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]["stored"], "report (1).txt");
}

TEST_F(TransferCliTest, AFileAlreadyBeingReceivedIsBusyNotRefused) {
  write_random_file(path("big.bin"), 16 * 1024 * 1024, 3);
  auto bob = start_bob_online("alice");
  auto first = start_peer("alice", {"--id", "alice", "send", "bob", path("big.bin"), "--rate-limit", "4"});
  ASSERT_TRUE(wait_for_text(path("bob.err"), "\"progress\"", 10s)) << err("bob");
  EXPECT_EQ(run_peer("alice2", {"--id", "alice", "send", "bob", path("big.bin")}), 4) << err("alice2");
  EXPECT_NE(err("alice2").find("bob is busy: another transfer is receiving 'big.bin' right now; try again later"),
            std::string::npos)
      << err("alice2");
  EXPECT_TRUE(first->running());  // the first transfer goes on
}

TEST_F(TransferCliTest, AnIdHeldByALivePeerCannotBeClaimedWithAnotherKeyEvenAfterARelease) {
  write_file(path("note.txt"), "hi\n");
  auto bob = start_bob_online("alice");
  auto alice = start_peer("alice-online", {"--id", "alice", "online"});
  ASSERT_TRUE(peer_says("alice-online", "registered as alice")) << err("alice-online");
  // The operator releases alice's pin while she is online: her live registration still vouches.
  child_process release({binary("rendezvous"), "--state", path("server-state"), "release-id", "alice"},
                        child_io{"/dev/null", path("admin.out"), path("admin.err")});
  ASSERT_EQ(release.wait_for(10s), 0) << read_file(path("admin.err"));
  EXPECT_EQ(run_peer("mallory", {"--id", "alice", "--identity", path("mallory.key"), "send", "bob", path("note.txt")}), 3)
      << err("mallory");
  EXPECT_NE(err("mallory").find("registered by a live peer with another key"), std::string::npos) << err("mallory");
  EXPECT_FALSE(fs::exists(path("inbox/note.txt")));
}

TEST_F(TransferCliTest, ASenderKilledHalfwayResumesAndSendsLessThanTheWhole) {
  constexpr std::size_t size = 48 * 1024 * 1024;
  write_random_file(path("big.bin"), size, 9);
  auto bob = start_bob_online("alice");
  // 16 MiB/s: the file takes 3 s, so halfway is easy to catch.
  auto alice = start_peer("alice", {"--id", "alice", "send", "bob", path("big.bin"), "--rate-limit", "16"});
  const auto partial = path("inbox/.big.bin.hp-partial");
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  std::error_code ec;
  while (std::chrono::steady_clock::now() < deadline && !(fs::exists(partial) && fs::file_size(partial, ec) >= size / 2)) {
    std::this_thread::sleep_for(20ms);
  }
  alice->signal(SIGKILL);
  alice->wait_for(5s);
  const auto held = fs::file_size(partial, ec);
  ASSERT_GE(held, size / 2) << err("alice") << err("bob");
  ASSERT_LT(held, size);
  EXPECT_FALSE(fs::exists(path("inbox/big.bin")));  // nothing under the final name yet
  EXPECT_TRUE(peer_says("bob", "transfer_failed")) << err("bob");

  EXPECT_EQ(run_peer("alice2", {"--id", "alice", "--json", "send", "bob", path("big.bin")}, 60s), 0) << err("alice2");
  const auto sent = events_of(err("alice2"), "transfer");
  ASSERT_EQ(sent.size(), 1u) << err("alice2");
  EXPECT_GE(sent[0]["resumed_from"].get<std::uint64_t>(), size / 2 - 1024 * 1024);  // the receiver may trail a little
  EXPECT_LT(sent[0]["sent"].get<std::uint64_t>(), size / 2 + 1024 * 1024);
  EXPECT_EQ(sent[0]["hash"], hash_of_file(path("big.bin")));
  EXPECT_EQ(hash_of_file(path("inbox/big.bin")), hash_of_file(path("big.bin")));
  EXPECT_FALSE(fs::exists(partial));
}

TEST_F(TransferCliTest, AFullDiskIsAClearErrorAndLeavesNoFileUnderTheFinalName) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root";
  const auto small = path("small-disk");
  fs::create_directories(small);
  ASSERT_EQ(::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=1m"), 0) << std::strerror(errno);
  struct unmount {
    std::string dir;
    ~unmount() { ::umount2(dir.c_str(), MNT_DETACH); }
  } cleanup{small};
  write_random_file(path("video.bin"), 4 * 1024 * 1024, 5);
  auto bob = start_peer("bob", {"--id", "bob", "receive", "--dir", small});
  ASSERT_TRUE(peer_says("bob", "registered as bob")) << err("bob");
  EXPECT_EQ(run_peer("alice", {"--id", "alice", "send", "bob", path("video.bin")}), 1) << err("alice");
  EXPECT_NE(err("alice").find("not enough space on the receiving disk"), std::string::npos) << err("alice");
  EXPECT_EQ(bob->wait_for(10s), 1) << err("bob");
  EXPECT_FALSE(fs::exists(small + "/video.bin"));
}

}  // namespace
}  // namespace test
