// The peer's cache of NAT verdicts per network: what it keeps, for which network, for how long,
// and that a damaged file costs only the cache.
#include <gtest/gtest.h>

#include <fstream>

#include "common/net.hpp"
#include "peer/nat_cache.hpp"
#include "tests/support/files.hpp"

namespace {

const nlohmann::json symmetric_report{{"type", "nat_report"}, {"mapping", "address-and-port-dependent"},
                                      {"filtering", "address-and-port-dependent"}, {"class", "symmetric"}};

class NatCacheTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::make_temp_dir("hp-natcache"); }
  std::filesystem::path file() const { return std::filesystem::path(dir_) / "holepunch" / "nat-cache.json"; }
  std::string dir_;
};

TEST_F(NatCacheTest, AStoredVerdictComesBackForItsNetworkOnly) {
  const peer::nat_cache cache(file());
  const auto home = peer::nat_cache::network_key("198.51.100.10:7000", "203.0.113.7:40001", "10.0.0.2 ");
  cache.store(home, symmetric_report);
  EXPECT_EQ(peer::nat_cache(file()).load(home), symmetric_report);
  // The same network seen through another connection (another source port): the same key.
  EXPECT_EQ(peer::nat_cache::network_key("198.51.100.10:7000", "203.0.113.7:51999", "10.0.0.2 "), home);
  // Another public address, another server or other addresses of our own: another network.
  for (const auto& other : {peer::nat_cache::network_key("198.51.100.10:7000", "203.0.113.99:40001", "10.0.0.2 "),
                            peer::nat_cache::network_key("198.51.100.11:7000", "203.0.113.7:40001", "10.0.0.2 "),
                            peer::nat_cache::network_key("198.51.100.10:7000", "203.0.113.7:40001", "192.168.1.5 ")}) {
    EXPECT_NE(other, home);
    EXPECT_FALSE(cache.load(other));
  }
}

TEST_F(NatCacheTest, ADamagedFileIsIgnoredAndReplaced) {
  std::filesystem::create_directories(file().parent_path());
  for (const char* junk : {"not json", "[1,2,3]", R"({"networks": 7})", R"({"networks": {"k": {"report": 5}}})"}) {
    std::ofstream(file()) << junk;
    const peer::nat_cache cache(file());
    EXPECT_FALSE(cache.load("k")) << junk;
    cache.store("k", symmetric_report);
    EXPECT_EQ(cache.load("k"), symmetric_report) << junk;
  }
}

TEST_F(NatCacheTest, OldVerdictsAreForgottenAndTheFileStaysSmall) {
  std::filesystem::create_directories(file().parent_path());
  const auto week_ago = net::now_ms() - 8LL * 24 * 3600 * 1000;
  std::ofstream(file()) << nlohmann::json{{"networks", {{"old", {{"report", symmetric_report}, {"seen_ms", week_ago}}}}}}.dump();
  const peer::nat_cache cache(file());
  EXPECT_FALSE(cache.load("old"));
  for (int i = 0; i < 40; ++i) cache.store("network-" + std::to_string(i), symmetric_report);
  std::ifstream in(file());
  const auto kept = nlohmann::json::parse(in)["networks"];
  EXPECT_EQ(kept.size(), 32u);
  EXPECT_TRUE(cache.load("network-39"));
}

TEST_F(NatCacheTest, WithoutAHomeThereIsNoCacheAndNoError) {
  const peer::nat_cache nowhere{std::filesystem::path()};
  nowhere.store("k", symmetric_report);
  EXPECT_FALSE(nowhere.load("k"));
}

}  // namespace
