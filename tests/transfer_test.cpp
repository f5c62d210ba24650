// File transfer over a real session on loopback: a directory tree arrives intact with its
// modes; resume keeps what the receiver holds (and starts over when that is not the file's
// start); hostile names, links in the inbox and oversized messages are refused; nothing is
// ever written outside the inbox or over an existing file.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <asio/experimental/awaitable_operators.hpp>

#include "common/content_hash.hpp"
#include "tests/session_support.hpp"
#include "tests/support/files.hpp"
#include "transfer/disk_writer.hpp"
#include "transfer/inbox.hpp"
#include "transfer/receiver.hpp"
#include "transfer/sender.hpp"

namespace {

namespace fs = std::filesystem;
using namespace asio::experimental::awaitable_operators;

/// Counts what a transfer reports.
struct recorder : transfer::observer {
  void file_started(const std::string&, std::uint64_t, std::uint64_t) override {}
  void bytes_moved(std::uint64_t n) override { moved += n; }
  void file_done(const transfer::file_report& report) override { files.push_back(report); }
  std::uint64_t moved = 0;
  std::vector<transfer::file_report> files;
};

struct outcome {
  std::string send_error;
  bool send_refused = false;
  std::string receive_error;
};

net::awaitable<void> send_side(std::shared_ptr<session::stream> stream, const transfer::source_list* sources, recorder* seen,
                               outcome* result) {
  // (A named value: GCC 12 miscompiles braced temporaries passed by value to a coroutine.)
  const transfer::send_options unlimited;
  try {
    co_await transfer::send_sources(stream, *sources, *seen, unlimited);
  } catch (const transfer::transfer_error& e) {
    result->send_error = e.what();
    result->send_refused = e.refused();
  }
}

net::awaitable<void> receive_side(std::shared_ptr<session::session> responder, transfer::inbox* box, recorder* seen,
                                  outcome* result) {
  auto stream = co_await responder->accept_stream();
  try {
    co_await transfer::receive_transfer(stream, *box, *seen);
  } catch (const transfer::transfer_error& e) {
    result->receive_error = e.what();
  }
}

class TransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("hp-transfer");
    fs::create_directories(dir_ + "/src");
    fs::create_directories(dir_ + "/inbox");
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// Sends `paths` (under src/) into inbox/ over a fresh session pair.
  outcome transfer(const std::vector<std::string>& paths, bool overwrite = false) {
    std::vector<std::string> full;
    for (const auto& p : paths) full.push_back(dir_ + "/src/" + p);
    const auto sources = transfer::scan_sources(full);
    asio::io_context io;
    auto pair = test::make_session_pair(io);
    auto stream = pair.initiator->open_stream(transfer::transfer_meta(sources));
    transfer::inbox box(dir_ + "/inbox", overwrite);
    outcome result;
    test::run_until_done(io, send_side(stream, &sources, &sent_, &result) && receive_side(pair.responder, &box, &received_, &result));
    return result;
  }

  std::string dir_;
  recorder sent_;
  recorder received_;
};

std::string hash_of(const std::string& text) {
  crypto::content_hash hash;
  hash.update(std::span(reinterpret_cast<const unsigned char*>(text.data()), text.size()));
  return hash.hex_digest();
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 0777;
}

TEST(ContentHash, IsSha256AsSha256sumPrintsIt) {
  // FIPS 180-2's example: SHA-256 of "abc".
  EXPECT_EQ(hash_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(InboxPaths, UnsafeNamesAreRefusedWithAReason) {
  for (const char* bad : {"", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a/", "x\nfake-log-line", ".f.hp-partial"}) {
    EXPECT_FALSE(transfer::unsafe_path_reason(bad).empty()) << bad;
  }
  for (const char* good : {"a", "dir/sub/file.txt", ".hidden", "name with spaces", "..x", "x.."}) {
    EXPECT_EQ(transfer::unsafe_path_reason(good), "") << good;
  }
}

TEST_F(TransferTest, DirectoryTreeArrivesIntactWithModes) {
  fs::create_directories(dir_ + "/src/tree/sub/deeper");
  fs::create_directories(dir_ + "/src/tree/empty");
  test::write_random_file(dir_ + "/src/tree/big.bin", 3 * 1024 * 1024 + 17, 1);
  test::write_file(dir_ + "/src/tree/sub/script.sh", "#!/bin/sh\necho hi\n");
  fs::permissions(dir_ + "/src/tree/sub/script.sh", fs::perms(0750));
  test::write_file(dir_ + "/src/tree/sub/deeper/empty.txt", "");
  fs::permissions(dir_ + "/src/tree/sub", fs::perms(0711));
  fs::create_symlink("/etc/passwd", dir_ + "/src/tree/link-not-sent");

  const auto result = transfer({"tree"});
  ASSERT_EQ(result.send_error, "");
  ASSERT_EQ(result.receive_error, "");
  for (const char* file : {"tree/big.bin", "tree/sub/script.sh", "tree/sub/deeper/empty.txt"}) {
    EXPECT_EQ(test::read_file(dir_ + "/inbox/" + file), test::read_file(dir_ + "/src/" + file)) << file;
  }
  EXPECT_EQ(mode_of(dir_ + "/inbox/tree/sub/script.sh"), 0750u);
  EXPECT_EQ(mode_of(dir_ + "/inbox/tree/sub"), 0711u);
  EXPECT_TRUE(fs::is_directory(dir_ + "/inbox/tree/empty"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir_ + "/inbox/tree/link-not-sent")));
  ASSERT_EQ(received_.files.size(), 3u);
  ASSERT_EQ(sent_.files.size(), 3u);
  EXPECT_EQ(sent_.files[0].hash, hash_of(test::read_file(dir_ + "/src/tree/big.bin")));
  EXPECT_EQ(received_.files[0].hash, sent_.files[0].hash);
}

TEST_F(TransferTest, ATreeOfManySmallFilesArrivesWithoutWaitingPerFile) {
  // More small files and directories than answers the sender may leave unread (256).
  for (int d = 0; d < 30; ++d) {
    const auto dir = dir_ + "/src/many/d" + std::to_string(d);
    fs::create_directories(dir);
    for (int f = 0; f < 20; ++f) test::write_file(dir + "/f" + std::to_string(f), "file " + std::to_string(d * 100 + f));
  }
  const auto result = transfer({"many"});
  ASSERT_EQ(result.send_error, "");
  ASSERT_EQ(result.receive_error, "");
  EXPECT_EQ(sent_.files.size(), 600u);
  EXPECT_EQ(received_.files.size(), 600u);
  for (int d = 0; d < 30; ++d) {
    for (int f = 0; f < 20; ++f) {
      const auto rel = "many/d" + std::to_string(d) + "/f" + std::to_string(f);
      ASSERT_EQ(test::read_file(dir_ + "/inbox/" + rel), "file " + std::to_string(d * 100 + f)) << rel;
    }
  }
}

TEST_F(TransferTest, ARefusalDeepInAPipelinedTreeReachesTheSender) {
  fs::create_directories(dir_ + "/src/many");
  for (int f = 0; f < 400; ++f) test::write_file(dir_ + "/src/many/f" + std::to_string(1000 + f), "x");
  fs::create_directories(dir_ + "/inbox/many");
  fs::create_symlink(dir_ + "/outside.txt", dir_ + "/inbox/many/.f1300.hp-partial");
  const auto result = transfer({"many"});
  EXPECT_TRUE(result.send_refused) << result.send_error;
  EXPECT_NE(result.send_error.find("f1300"), std::string::npos) << result.send_error;
  EXPECT_FALSE(fs::exists(dir_ + "/outside.txt"));
  EXPECT_EQ(test::read_file(dir_ + "/inbox/many/f1299"), "x");  // what came before is stored
}

TEST_F(TransferTest, AnExistingFileIsNeverReplacedUnlessAskedTo) {
  test::write_file(dir_ + "/src/report.txt", "new");
  test::write_file(dir_ + "/inbox/report.txt", "old");
  ASSERT_EQ(transfer({"report.txt"}).receive_error, "");
  EXPECT_EQ(test::read_file(dir_ + "/inbox/report.txt"), "old");
  EXPECT_EQ(test::read_file(dir_ + "/inbox/report (1).txt"), "new");
  EXPECT_EQ(received_.files.at(0).stored, "report (1).txt");
  EXPECT_EQ(sent_.files.at(0).stored, "report (1).txt");  // the sender learns where it went

  ASSERT_EQ(transfer({"report.txt"}, /*overwrite=*/true).receive_error, "");
  EXPECT_EQ(test::read_file(dir_ + "/inbox/report.txt"), "new");
}

TEST_F(TransferTest, ResumeKeepsWhatTheReceiverHoldsAndVerifiesTheWhole) {
  test::write_random_file(dir_ + "/src/movie.bin", 2 * 1024 * 1024, 7);
  const auto whole = test::read_file(dir_ + "/src/movie.bin");
  test::write_file(dir_ + "/inbox/.movie.bin.hp-partial", whole.substr(0, 1500000));  // an interrupted transfer
  ASSERT_EQ(transfer({"movie.bin"}).receive_error, "");
  EXPECT_EQ(test::read_file(dir_ + "/inbox/movie.bin"), whole);
  EXPECT_FALSE(fs::exists(dir_ + "/inbox/.movie.bin.hp-partial"));
  ASSERT_EQ(sent_.files.size(), 1u);
  EXPECT_EQ(sent_.files[0].resumed_from, 1500000u);
  EXPECT_EQ(sent_.files[0].sent, whole.size() - 1500000);
  EXPECT_EQ(sent_.moved, whole.size() - 1500000);
}

TEST_F(TransferTest, AHeldPartThatIsNotTheFilesStartIsSentAgainWhole) {
  test::write_random_file(dir_ + "/src/movie.bin", 1024 * 1024, 7);
  const auto whole = test::read_file(dir_ + "/src/movie.bin");
  test::write_file(dir_ + "/inbox/.movie.bin.hp-partial", std::string(300000, 'x'));  // another file's start
  ASSERT_EQ(transfer({"movie.bin"}).receive_error, "");
  EXPECT_EQ(test::read_file(dir_ + "/inbox/movie.bin"), whole);
  ASSERT_EQ(sent_.files.size(), 1u);
  EXPECT_EQ(sent_.files[0].resumed_from, 0u);
  EXPECT_EQ(sent_.files[0].sent, whole.size() - 300000 + whole.size());
}

TEST_F(TransferTest, ALinkInTheInboxIsNeverFollowed) {
  const auto outside = dir_ + "/outside";
  fs::create_directories(outside);
  fs::create_directory_symlink(outside, dir_ + "/inbox/docs");
  fs::create_directories(dir_ + "/src/docs");
  test::write_file(dir_ + "/src/docs/planted.txt", "gotcha");
  const auto result = transfer({"docs"});
  EXPECT_TRUE(result.send_refused) << result.send_error;
  EXPECT_NE(result.send_error.find("is a link in the inbox"), std::string::npos) << result.send_error;
  EXPECT_TRUE(fs::is_empty(outside));
}

TEST_F(TransferTest, APartialFileThatIsALinkIsRefused) {
  const auto outside = dir_ + "/outside.txt";
  test::write_file(outside, "precious");
  fs::create_symlink(outside, dir_ + "/inbox/.x.hp-partial");
  test::write_file(dir_ + "/src/x", "overwrite me");
  const auto result = transfer({"x"});
  EXPECT_TRUE(result.send_refused) << result.send_error;
  EXPECT_EQ(test::read_file(outside), "precious");
}

/// A hand-made sender: writes `bytes` as they are, then reads what the receiver does; `error`
/// gets why the stream failed (empty if it simply ended).
net::awaitable<void> raw_sender(std::shared_ptr<session::stream> stream, std::vector<std::uint8_t> bytes, std::string* error) {
  const auto written = co_await stream->write(bytes);
  if (!written.empty()) {
    *error = written;
    co_return;
  }
  std::vector<std::uint8_t> buffer(1024);
  for (;;) {
    auto got = co_await stream->read_some(buffer);
    if (!got.error.empty() || got.eof) {
      *error = got.error;
      co_return;
    }
  }
}

/// `messages` as the transfer wire frames them: a u32 big-endian length, then the JSON.
std::vector<std::uint8_t> framed(const std::vector<nlohmann::json>& messages) {
  std::vector<std::uint8_t> out;
  for (const auto& message : messages) {
    const auto text = message.dump();
    const auto size = static_cast<std::uint32_t>(text.size());
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(size >> shift));
    out.insert(out.end(), text.begin(), text.end());
  }
  return out;
}

struct hostile_outcome {
  std::string sender_saw;     ///< the reason the receiver's reset carried
  std::string receive_error;  ///< what the receiver threw
};

/// Runs a real receiver against a hand-made sender writing `bytes`; the receiver must fail.
hostile_outcome receive_from_hostile(const std::string& inbox_dir, std::vector<std::uint8_t> bytes) {
  asio::io_context io;
  auto pair = test::make_session_pair(io);
  const nlohmann::json meta{{"kind", "transfer"}};
  auto stream = pair.initiator->open_stream(meta);
  transfer::inbox box(inbox_dir, false);
  recorder seen;
  outcome result;
  hostile_outcome out;
  test::run_until_done(io, raw_sender(stream, std::move(bytes), &out.sender_saw) &&
                               receive_side(pair.responder, &box, &seen, &result));
  EXPECT_FALSE(result.receive_error.empty());
  out.receive_error = result.receive_error;
  return out;
}

TEST_F(TransferTest, TraversalAndAbsoluteNamesAreRefusedAndTheSenderIsToldWhy) {
  for (const char* name : {"../escaped.txt", "/tmp/hp-absolute-escape.txt", "sub/../../escaped.txt"}) {
    const nlohmann::json file{{"type", "file"}, {"path", name}, {"size", 5}, {"mode", 420}};
    const auto saw = receive_from_hostile(dir_ + "/inbox", framed({file})).sender_saw;
    EXPECT_NE(saw.find(transfer::refusal_prefix), std::string::npos) << saw;
    EXPECT_NE(saw.find("unsafe name"), std::string::npos) << saw;
  }
  EXPECT_FALSE(fs::exists(dir_ + "/escaped.txt"));
  EXPECT_FALSE(fs::exists("/tmp/hp-absolute-escape.txt"));
  EXPECT_TRUE(fs::is_empty(dir_ + "/inbox"));
}

TEST_F(TransferTest, MalformedMessagesEndTheTransferWithAReason) {
  const nlohmann::json no_size{{"type", "file"}, {"path", "a"}};
  EXPECT_NE(receive_from_hostile(dir_ + "/inbox", framed({no_size})).sender_saw.find("size"), std::string::npos);
  const nlohmann::json unknown{{"type", "format-disk"}};
  EXPECT_NE(receive_from_hostile(dir_ + "/inbox", framed({unknown})).sender_saw.find("unexpected"), std::string::npos);
}

TEST_F(TransferTest, OversizedAndEmptyMessageLengthsAreRefusedByTheReceiver) {
  for (const auto& header : {std::vector<std::uint8_t>{0x00, 0x01, 0x11, 0x70},  // 70,000 bytes
                             std::vector<std::uint8_t>{0xff, 0xff, 0xff, 0xff}, std::vector<std::uint8_t>{0, 0, 0, 0}}) {
    const auto result = receive_from_hostile(dir_ + "/inbox", header);
    EXPECT_NE(result.receive_error.find("malformed transfer message: length"), std::string::npos) << result.receive_error;
    EXPECT_NE(result.sender_saw.find("malformed transfer message"), std::string::npos) << result.sender_saw;
  }
}

TEST_F(TransferTest, ADirectoryThatWasThereKeepsItsMode) {
  fs::create_directories(dir_ + "/inbox/shared");
  fs::permissions(dir_ + "/inbox/shared", fs::perms(0750));
  fs::create_directories(dir_ + "/src/shared");
  fs::permissions(dir_ + "/src/shared", fs::perms(0777));
  test::write_file(dir_ + "/src/shared/f", "x");
  ASSERT_EQ(transfer({"shared"}).receive_error, "");
  EXPECT_EQ(mode_of(dir_ + "/inbox/shared"), 0750u);
  EXPECT_EQ(test::read_file(dir_ + "/inbox/shared/f"), "x");
}

TEST_F(TransferTest, APartialFileWithAnotherHardLinkIsRefused) {
  const auto elsewhere = dir_ + "/elsewhere.txt";
  test::write_file(elsewhere, "precious");
  fs::create_hard_link(elsewhere, dir_ + "/inbox/.x.hp-partial");
  test::write_file(dir_ + "/src/x", "overwrite me, please");
  const auto result = transfer({"x"});
  EXPECT_TRUE(result.send_refused) << result.send_error;
  EXPECT_EQ(test::read_file(elsewhere), "precious");
}

TEST_F(TransferTest, ANameThatIsNotUtf8IsRefusedBeforeSending) {
  fs::create_directories(dir_ + "/src/d");
  test::write_file(dir_ + "/src/d/caf\xe9.txt", "latin-1 name");
  EXPECT_THROW(transfer::scan_sources({dir_ + "/src/d"}), std::runtime_error);
}

net::awaitable<void> write_to_full_disk(std::string* error) {
  transfer::unique_fd full(::open("/dev/full", O_WRONLY | O_CLOEXEC));
  transfer::disk_writer writer(co_await asio::this_coro::executor, full.get(), "movie.bin", 1 << 20, 0);
  const std::vector<std::uint8_t> chunk(64 * 1024, 7);
  try {
    for (int i = 0; i < 16; ++i) co_await writer.write(chunk);
    co_await writer.finish();
  } catch (const transfer::transfer_error& e) {
    *error = e.what();
  }
}

TEST(DiskWriter, AFullDiskMidFileIsAClearError) {
  asio::io_context io;
  std::string error;
  test::run_until_done(io, write_to_full_disk(&error));
  EXPECT_NE(error.find("cannot write 'movie.bin': the receiving disk is full after 0 of 1048576 bytes"), std::string::npos)
      << error;
}

}  // namespace
