// The directory of a single server: its own registry is the whole truth, and the pins are in
// SQLite under --state. Every answer is immediate.
#pragma once
#include <map>
#include <memory>

#include "rendezvous/key_pins.hpp"
#include "rendezvous/peer_directory.hpp"

namespace rendezvous {

class client_session;

class local_directory : public peer_directory {
 public:
  /// `registry` is the server's ID -> live main connection map, read for listing.
  local_directory(std::unique_ptr<key_pins> pins, const std::map<std::string, std::shared_ptr<client_session>>& registry)
      : pins_(std::move(pins)), registry_(registry) {}

  net::awaitable<pin_outcome> check_or_pin(std::string id, identity::public_key key, pin_owner owner) override;
  net::awaitable<claim_outcome> claim(std::string id, nlohmann::json info) override;
  void release(const std::string&) override {}
  net::awaitable<location> locate(std::string id) override;
  net::awaitable<listing> list(std::size_t max) override;
  const std::string& node() const override { return node_; }

 private:
  std::unique_ptr<key_pins> pins_;
  const std::map<std::string, std::shared_ptr<client_session>>& registry_;
  std::string node_;
};

}  // namespace rendezvous
