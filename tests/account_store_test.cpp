// Accounts below the server: tokens and their proofs, the SQLite store (and the pins it shares
// a file with: an ID's owner), the book the server asks, and --expires values.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

#include "common/account_token.hpp"
#include "rendezvous/account_book.hpp"
#include "rendezvous/key_pins.hpp"
#include "rendezvous/sqlite_account_store.hpp"
#include "rendezvous/user_command.hpp"

namespace {

using rendezvous::pin_verdict;

/// Runs a store call to completion (the SQLite store never waits).
template <typename T>
T run(net::awaitable<T> task) {
  asio::io_context io;
  auto done = asio::co_spawn(io, std::move(task), asio::use_future);
  io.run();
  return done.get();
}

std::filesystem::path fresh_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("hp-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir;
}

rendezvous::account account_for(const account_token::token& token) {
  rendezvous::account a;
  a.name = token.name;
  a.verifier = account_token::verifier_of(token);
  a.created = rendezvous::unix_now();
  return a;
}

TEST(AccountTokenTest, ATokenProvesItselfForItsNameAndChallengeOnly) {
  const auto token = account_token::generate("alice");
  const auto text = account_token::to_text(token);
  const auto parsed = account_token::parse(text);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->name, "alice");
  EXPECT_EQ(parsed->secret, token.secret);
  const auto verifier = account_token::verifier_of(token);
  const auto proof = account_token::prove(*parsed, "challenge-1");
  EXPECT_TRUE(account_token::verify(verifier, "alice", "challenge-1", proof));
  EXPECT_FALSE(account_token::verify(verifier, "alice", "challenge-2", proof));  // a replay
  EXPECT_FALSE(account_token::verify(verifier, "bob", "challenge-1", proof));    // another name
  // The same secret under another name is another account's key entirely.
  auto renamed = token;
  renamed.name = "bob";
  EXPECT_NE(account_token::verifier_of(renamed), verifier);
  // The verifier is not the secret, and two tokens differ.
  EXPECT_NE(account_token::to_text(account_token::generate("alice")), text);
}

TEST(AccountTokenTest, OnlyNameColonSecretParsesAsAnAccountToken) {
  EXPECT_FALSE(account_token::parse("s3cret"));                      // a server-wide token
  EXPECT_FALSE(account_token::parse("alice:short"));                 // not 32 bytes
  EXPECT_FALSE(account_token::parse("bad name:" + std::string(43, 'A')));
  EXPECT_FALSE(account_token::parse(":" + std::string(43, 'A')));
  EXPECT_FALSE(account_token::parse("alice:" + std::string(43, 'A') + "="));
  EXPECT_TRUE(account_token::parse("alice:" + std::string(43, 'A')));
}

TEST(AccountStoreTest, AccountsSurviveReopenAndRemovingOneReleasesItsIds) {
  const auto dir = fresh_dir("accounts");
  const auto alice = account_token::generate("alice");
  const auto key = identity::generate();
  long long version = 0;
  {
    rendezvous::sqlite_account_store store(dir);
    version = run(store.version());
    auto a = account_for(alice);
    a.max_ids = 3;
    a.expose_ports = std::pair<std::uint16_t, std::uint16_t>{20000, 20010};
    EXPECT_TRUE(run(store.add(a)));
    EXPECT_FALSE(run(store.add(a)));  // the name is taken
    EXPECT_NE(run(store.version()), version);
    version = run(store.version());
    rendezvous::key_pins pins(dir);
    EXPECT_EQ(pins.check_or_pin("alice-box", key.pub, {"alice"}), pin_verdict::pinned_now);
  }
  rendezvous::sqlite_account_store store(dir);  // a restart
  const auto found = run(store.find("alice"));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->verifier, account_token::verifier_of(alice));
  EXPECT_EQ(found->max_ids, 3);
  EXPECT_EQ(found->expose_ports->second, 20010);
  EXPECT_FALSE(found->expires);
  auto changed = *found;
  changed.disabled = true;
  EXPECT_TRUE(run(store.replace(changed)));
  EXPECT_TRUE(run(store.find("alice"))->disabled);
  EXPECT_NE(run(store.version()), version);
  EXPECT_EQ(run(store.remove("alice")), 1);  // one ID released
  EXPECT_EQ(run(store.remove("alice")), std::nullopt);
  EXPECT_FALSE(run(store.replace(changed)));
  rendezvous::key_pins pins(dir);
  EXPECT_FALSE(pins.pinned("alice-box"));
  std::filesystem::remove_all(dir);
}

TEST(AccountStoreTest, AnIdIsItsFirstAccountsAndAnAccountOwnsAtMostItsLimit) {
  const auto dir = fresh_dir("owners");
  rendezvous::key_pins pins(dir);
  rendezvous::sqlite_account_store store(dir);
  for (const char* name : {"alice", "mallory", "bob"}) {
    auto a = account_for(account_token::generate(name));
    if (a.name == "alice") a.max_ids = 2;
    ASSERT_TRUE(run(store.add(a)));
  }
  const auto k1 = identity::generate(), k2 = identity::generate();
  EXPECT_EQ(pins.check_or_pin("box", k1.pub, {"alice"}), pin_verdict::pinned_now);
  EXPECT_EQ(pins.check_or_pin("box", k1.pub, {"alice"}), pin_verdict::matches);
  EXPECT_EQ(pins.check_or_pin("box", k1.pub, {"mallory"}), pin_verdict::owned_by_other);
  EXPECT_EQ(pins.check_or_pin("box", k1.pub, {}), pin_verdict::owned_by_other);  // the server-wide token
  EXPECT_EQ(pins.check_or_pin("box", k2.pub, {"alice"}), pin_verdict::conflicts);
  EXPECT_EQ(pins.check_or_pin("box-2", k2.pub, {"alice"}), pin_verdict::pinned_now);
  EXPECT_EQ(pins.check_or_pin("box-3", k2.pub, {"alice"}), pin_verdict::over_id_limit);
  EXPECT_FALSE(pins.pinned("box-3"));
  // An ID pinned before accounts is adopted by the first account proving its key (within its limit).
  EXPECT_EQ(pins.check_or_pin("old", k1.pub, {}), pin_verdict::pinned_now);
  EXPECT_EQ(pins.check_or_pin("old", k1.pub, {"alice"}), pin_verdict::over_id_limit);
  EXPECT_EQ(pins.check_or_pin("old", k1.pub, {"bob"}), pin_verdict::matches);
  EXPECT_EQ(pins.owner("old"), "bob");
  EXPECT_EQ(pins.check_or_pin("old", k1.pub, {}), pin_verdict::owned_by_other);
  // A limit lowered, or an account removed, holds at once (the pins read the account itself).
  auto bob = *run(store.find("bob"));
  bob.max_ids = 1;
  ASSERT_TRUE(run(store.replace(bob)));
  EXPECT_EQ(pins.check_or_pin("bob-2", k2.pub, {"bob"}), pin_verdict::over_id_limit);
  ASSERT_TRUE(run(store.remove("mallory")));
  EXPECT_EQ(pins.check_or_pin("mallory-box", k2.pub, {"mallory"}), pin_verdict::no_account);
  std::filesystem::remove_all(dir);
}

TEST(AccountBookTest, TheBookRefusesWithReasonsAndSeesChangesAndExpiries) {
  const auto dir = fresh_dir("book");
  const auto alice = account_token::generate("alice");
  auto store = std::make_unique<rendezvous::sqlite_account_store>(dir);
  auto* writer = store.get();
  rendezvous::account_book book(std::move(store));
  run(book.load());
  EXPECT_TRUE(book.empty());
  EXPECT_FALSE(run(book.refresh()));
  const auto now = rendezvous::unix_now();
  auto a = account_for(alice);
  a.expires = now + 100;
  ASSERT_TRUE(run(writer->add(a)));
  EXPECT_TRUE(run(book.refresh()));
  EXPECT_FALSE(run(book.refresh()));
  EXPECT_FALSE(book.check("alice", "c", account_token::prove(alice, "c"), now));
  EXPECT_EQ(book.check("alice", "c", account_token::prove(alice, "other"), now)->code, "auth_failed");
  EXPECT_EQ(book.check("nobody", "c", account_token::prove(alice, "c"), now)->code, "auth_failed");
  EXPECT_EQ(book.check("alice", "c", account_token::prove(alice, "c"), now + 100)->code, "account_expired");
  EXPECT_FALSE(book.expiry_passed(now + 99));
  EXPECT_TRUE(book.expiry_passed(now + 100));
  EXPECT_FALSE(book.expiry_passed(now + 101));  // once per expiry
  EXPECT_EQ(book.revoked("alice", a.verifier, now + 100)->code, "account_expired");
  EXPECT_EQ(book.revoked("alice", identity::public_key{}, now)->code, "token_rotated");
  a.disabled = true;
  ASSERT_TRUE(run(writer->replace(a)));
  EXPECT_TRUE(run(book.refresh()));
  EXPECT_EQ(book.revoked("alice", a.verifier, now)->code, "account_disabled");
  ASSERT_TRUE(run(writer->remove("alice")));
  EXPECT_TRUE(run(book.refresh()));
  EXPECT_EQ(book.revoked("alice", a.verifier, now)->code, "account_removed");
  std::filesystem::remove_all(dir);
}

TEST(AccountBookTest, AStoreWhoseCounterWentBackKeepsTheAccountsLastRead) {
  // (A cluster's Redis restarted empty: the nodes must not drop every account and open up.)
  const auto dir = fresh_dir("book-back");
  auto store = std::make_unique<rendezvous::sqlite_account_store>(dir);
  auto* writer = store.get();
  rendezvous::account_book book(std::move(store));
  run(book.load());
  ASSERT_TRUE(run(writer->add(account_for(account_token::generate("alice")))));
  ASSERT_TRUE(run(writer->add(account_for(account_token::generate("bob")))));
  ASSERT_TRUE(run(book.refresh()));
  {
    rendezvous::state_db emptied(dir);
    emptied.execute("DELETE FROM accounts");
    emptied.execute("UPDATE counters SET value = 1 WHERE name = 'accounts'");
  }
  EXPECT_FALSE(run(book.refresh()));
  EXPECT_EQ(book.size(), 2u);
  EXPECT_TRUE(book.in_use());
  EXPECT_NE(book.find("alice"), nullptr);
  std::filesystem::remove_all(dir);
}

TEST(UserCommandTest, ExpiresTakesDatesTimesAndSpans) {
  EXPECT_EQ(rendezvous::expiry_of("2027-01-31", 0), 1801353600);
  EXPECT_EQ(rendezvous::expiry_of("2027-01-31T12:00:00Z", 0), 1801353600 + 12 * 3600);
  EXPECT_EQ(rendezvous::expiry_of("+30d", 1000), 1000 + 30 * 86400);
  EXPECT_EQ(rendezvous::expiry_of("+90s", 1000), 1090);
  EXPECT_EQ(rendezvous::expiry_of("+2h", 0), 7200);
  EXPECT_EQ(rendezvous::expiry_of("+15m", 0), 900);
  for (const char* bad : {"tomorrow", "+5", "+5y", "+-5d", "2027-13-01", "2027-01-31T12:00:00", "31.01.2027", "+d"}) {
    EXPECT_FALSE(rendezvous::expiry_of(bad, 0)) << bad;
  }
}

}  // namespace
