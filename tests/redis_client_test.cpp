// The cluster's Redis client against a real redis-server (Debian's), started by each test on a
// free loopback port with AOF in a temporary directory: pipelined commands answered in order,
// binary-safe values, passwords and databases, failing fast while Redis is down and recovering
// when it is back, pub/sub that resubscribes, and a reply over the size limit refused.
#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "cluster/redis_client.hpp"
#include "tests/session_support.hpp"
#include "tests/support/files.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/web.hpp"

namespace {

using namespace std::chrono_literals;
using cluster::redis_reply;
/// A command as a named local: GCC 12 mishandles braced temporaries passed to a coroutine inside co_await.
using command = std::vector<std::string>;

net::awaitable<void> sleep_for(std::chrono::milliseconds how_long) {
  asio::steady_timer timer(co_await asio::this_coro::executor, how_long);
  co_await timer.async_wait(net::use_nothrow);
}

/// Sets k<i> to 7i and increments it: counts the replies that are exactly 7i + 1. (A free
/// function: a spawned lambda's captures would die before its coroutine.)
net::awaitable<void> set_and_increment(cluster::redis_client& client, int i, int& right, int& finished) {
  const auto key = "k" + std::to_string(i);
  const command set{"SET", key, std::to_string(i * 7)};
  co_await client.command(set);
  const command increment{"INCRBY", key, "1"};
  const auto value = co_await client.command(increment);
  right += value.type == redis_reply::kind::integer && value.integer == i * 7 + 1;
  ++finished;
}

class RedisClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::redis_server_binary().empty()) GTEST_SKIP() << "redis-server is not installed (scripts/install-deps.sh)";
    dir_ = test::make_temp_dir("hp-redis");
  }
  void TearDown() override {
    redis_.reset();
    if (!dir_.empty() && !HasFailure()) std::filesystem::remove_all(dir_);
  }
  void start_redis(const std::string& password = "") {
    redis_ = std::make_unique<test::redis_server>(dir_ / "redis", password);
  }
  cluster::redis_address address() const { return cluster::parse_redis_url(redis_->url()); }

  asio::io_context io_;
  std::filesystem::path dir_;
  std::unique_ptr<test::redis_server> redis_;
};

TEST(RedisUrl, ReadsHostPortPasswordAndDatabase) {
  auto a = cluster::parse_redis_url("redis://10.0.0.5:6380");
  EXPECT_EQ(a.host, "10.0.0.5");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.password, "");
  EXPECT_EQ(a.db, 0);
  a = cluster::parse_redis_url("redis://:s3cret@redis.example.net:6379/2");
  EXPECT_EQ(a.host, "redis.example.net");
  EXPECT_EQ(a.password, "s3cret");
  EXPECT_EQ(a.db, 2);
  EXPECT_EQ(a.display(), "redis://redis.example.net:6379/2");  // never the password
  EXPECT_EQ(cluster::parse_redis_url("redis://localhost").port, 6379);
  EXPECT_EQ(cluster::parse_redis_url("redis://[::1]:7000").host, "::1");
  for (const char* bad : {"http://x:1", "redis://", "redis://host:99999", "redis://host:1/x", "redis://host:1/-1"}) {
    EXPECT_THROW(cluster::parse_redis_url(bad), std::invalid_argument) << bad;
  }
}

TEST_F(RedisClientTest, PipelinedCommandsAreAnsweredInOrderAndValuesAreBinarySafe) {
  start_redis();
  cluster::redis_client client(io_.get_executor(), address());
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    const std::string binary("a\0b\r\nc", 6);
    const command c1{"SET", "bin", binary};
    auto set = co_await client.command(c1);
    EXPECT_EQ(set.text, "OK");
    const command c2{"GET", "bin"};
    auto got = co_await client.command(c2);
    EXPECT_EQ(got.type, redis_reply::kind::string);
    EXPECT_EQ(got.text, binary);
    const command c3{"GET", "missing"};
    const auto r3 = co_await client.command(c3);
    EXPECT_TRUE(r3.is_nil());
    const command c4{"NO_SUCH_COMMAND"};
    const auto r4 = co_await client.command(c4);
    EXPECT_TRUE(r4.is_error());
    // 500 commands in flight at once from separate coroutines: each gets its own reply.
    auto ex = co_await asio::this_coro::executor;
    int right = 0, finished = 0;
    for (int i = 0; i < 500; ++i) asio::co_spawn(ex, set_and_increment(client, i, right, finished), asio::detached);
    while (finished < 500) co_await sleep_for(5ms);
    EXPECT_EQ(right, 500);
    const command c7{"MGET", "k1", "missing", "k2"};
    auto list = co_await client.command(c7);
    EXPECT_EQ(list.elements.size(), 3u);
    if (list.elements.size() != 3u) co_return;
    EXPECT_EQ(list.elements[0].text, "8");
    EXPECT_TRUE(list.elements[1].is_nil());
    EXPECT_EQ(list.elements[2].text, "15");
    EXPECT_TRUE(client.connected());
  }());
}

TEST_F(RedisClientTest, APasswordAndADatabaseAreUsedAndAWrongPasswordIsReported) {
  start_redis("pw-1");
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    auto wrong = address();
    wrong.password = "not-it";
    cluster::redis_client refused(io_.get_executor(), wrong);
    const command c8{"PING"};
    auto reply = co_await refused.command(c8);
    EXPECT_TRUE(reply.is_error());
    EXPECT_NE(reply.text.find("Redis refused our password"), std::string::npos) << reply.text;
    auto in_three = address();
    in_three.db = 3;
    cluster::redis_client zero(io_.get_executor(), address()), three(io_.get_executor(), in_three);
    const command c9{"SET", "where", "three"};
    co_await three.command(c9);
    const command c10{"GET", "where"};
    const auto r10 = co_await zero.command(c10);
    EXPECT_TRUE(r10.is_nil());
    const command c11{"GET", "where"};
    const auto r11 = co_await three.command(c11);
    EXPECT_EQ(r11.text, "three");
  }());
}

TEST_F(RedisClientTest, WhileRedisIsDownCommandsFailAtOnceAndWorkAgainWhenItIsBack) {
  start_redis();
  cluster::redis_client client(io_.get_executor(), address());
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    const command c12{"SET", "kept", "yes"};
    const auto r12 = co_await client.command(c12);
    EXPECT_EQ(r12.text, "OK");
    redis_->stop();
    auto started = net::clock::now();
    const command c13{"GET", "kept"};
    auto down = co_await client.command(c13);
    EXPECT_TRUE(down.is_error());
    EXPECT_EQ(down.text.rfind(cluster::unavailable_prefix, 0), 0u) << down.text;
    // Fails fast: no waiting for a timeout while nothing listens.
    const command ping{"PING"};
    for (int i = 0; i < 20; ++i) {
      const auto pong = co_await client.command(ping);
      EXPECT_TRUE(pong.is_error());
    }
    EXPECT_LT(net::clock::now() - started, 1s);
    EXPECT_FALSE(client.connected());
    redis_->start();
    const command get_kept{"GET", "kept"};
    redis_reply back;
    for (int i = 0; i < 100; ++i) {
      back = co_await client.command(get_kept);
      if (!back.is_error()) break;
      co_await sleep_for(50ms);
    }
    EXPECT_EQ(back.text, "yes");  // and AOF kept the value over the restart
    EXPECT_TRUE(client.connected());
  }());
}

TEST_F(RedisClientTest, ASubscriberHearsMessagesAndResubscribesAfterRedisRestarts) {
  start_redis();
  std::vector<std::string> heard;
  int ups = 0, downs = 0;
  cluster::redis_subscriber subscriber(
      io_.get_executor(), address(), {"hp:test:a", "hp:test:b"},
      [&](const std::string& channel, const std::string& payload) { heard.push_back(channel + "=" + payload); },
      [&](bool up) { (up ? ups : downs)++; });
  subscriber.start();
  cluster::redis_client client(io_.get_executor(), address());
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    for (int i = 0; i < 200 && ups == 0; ++i) co_await sleep_for(10ms);
    EXPECT_EQ(ups, 1);
    if (ups != 1) co_return;
    const command c14{"PUBLISH", "hp:test:a", "one"};
    auto delivered = co_await client.command(c14);
    EXPECT_EQ(delivered.integer, 1);
    const command c15{"PUBLISH", "hp:test:c", "not ours"};
    co_await client.command(c15);
    const command c16{"PUBLISH", "hp:test:b", std::string("two\0", 4)};
    co_await client.command(c16);
    for (int i = 0; i < 100 && heard.size() < 2; ++i) co_await sleep_for(10ms);
    EXPECT_EQ(heard.size(), 2u);
    if (heard.size() != 2u) co_return;
    EXPECT_EQ(heard[0], "hp:test:a=one");
    EXPECT_EQ(heard[1], std::string("hp:test:b=two\0", 14));
    redis_->kill();
    for (int i = 0; i < 200 && downs == 0; ++i) co_await sleep_for(10ms);
    EXPECT_EQ(downs, 1);
    redis_->start();
    for (int i = 0; i < 600 && ups < 2; ++i) co_await sleep_for(10ms);
    EXPECT_EQ(ups, 2);
    const command publish_three{"PUBLISH", "hp:test:a", "three"};
    for (int i = 0; i < 100; ++i) {
      const auto again = co_await client.command(publish_three);
      if (!again.is_error()) break;
      co_await sleep_for(50ms);
    }
    for (int i = 0; i < 100 && heard.size() < 3; ++i) co_await sleep_for(10ms);
    EXPECT_EQ(heard.size(), 3u);
    if (heard.size() != 3u) co_return;
    EXPECT_EQ(heard[2], "hp:test:a=three");
  }());
  subscriber.close();
}

TEST_F(RedisClientTest, AReplyOverTheLimitFailsTheConnectionNotTheProcess) {
  start_redis();
  cluster::redis_options small;
  small.max_reply_bytes = 1024 * 1024;
  cluster::redis_client client(io_.get_executor(), address(), small);
  test::run_until_done(io_, [&]() -> net::awaitable<void> {
    const command c17{"SET", "big", std::string(2 * 1024 * 1024, 'x')};
    const auto r17 = co_await client.command(c17);
    EXPECT_EQ(r17.text, "OK");
    const command c18{"GET", "big"};
    auto big = co_await client.command(c18);
    EXPECT_TRUE(big.is_error());
    EXPECT_NE(big.text.find("over 1 MiB"), std::string::npos) << big.text;
    // The next command reconnects and works.
    const command c19{"STRLEN", "big"};
    const auto r19 = co_await client.command(c19);
    EXPECT_EQ(r19.integer, 2 * 1024 * 1024);
  }());
}

}  // namespace
