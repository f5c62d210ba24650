// The server's ID -> key pins: first registration pins, another key conflicts, pins survive a
// reopen (a server restart), and release frees the ID for a new key.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "rendezvous/key_pins.hpp"

namespace {

TEST(KeyPinsTest, PinsSurviveReopenAndReleaseFreesTheId) {
  const auto dir = std::filesystem::temp_directory_path() / ("hp-pins-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const auto bob = identity::generate(), mallory = identity::generate();
  {
    rendezvous::key_pins pins(dir / "state");
    EXPECT_EQ(pins.check_or_pin("bob", bob.pub), rendezvous::pin_verdict::pinned_now);
    EXPECT_EQ(pins.check_or_pin("bob", bob.pub), rendezvous::pin_verdict::matches);
    EXPECT_EQ(pins.check_or_pin("bob", mallory.pub), rendezvous::pin_verdict::conflicts);
  }
  {
    rendezvous::key_pins pins(dir / "state");  // a restarted server
    EXPECT_EQ(pins.check_or_pin("bob", mallory.pub), rendezvous::pin_verdict::conflicts);
    ASSERT_EQ(pins.list().size(), 1u);
    EXPECT_EQ(pins.list()[0].second, identity::fingerprint(bob.pub));
    EXPECT_TRUE(pins.release("bob"));
    EXPECT_FALSE(pins.release("bob"));
    EXPECT_EQ(pins.check_or_pin("bob", mallory.pub), rendezvous::pin_verdict::pinned_now);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
