// NAT behaviour probes (RFC 4787 / 5780 style, over TCP): the server listens on two probe ports
// of its primary address and, with --alt-ip, on the first of them on its alternate address. Each
// probe learns the endpoint the server saw; a probe may ask to be called back, and the server
// then connects to that endpoint from its primary address (another port) and from the alternate
// address, which tells the peer how its NAT filters. Unauthenticated, like STUN: a call-back only
// ever goes to the requester's own observed endpoint.
//
//   peer -> {"type":"probe"} or {"type":"probe","callback":NONCE}
//   server -> {"type":"probe_result","observed":"IP:PORT"}
//   server (call-back connections) -> {"type":"probe_callback","nonce":NONCE,"from":"other_port"|"alternate_ip"}
#pragma once
#include <optional>
#include <array>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/socket_registry.hpp"
#include "rendezvous/listener.hpp"
#include "rendezvous/server_config.hpp"

namespace rendezvous {

class probe_service {
 public:
  probe_service(const asio::any_io_executor& ex, const server_config& config, accept_context accepting,
                net::socket_registry& short_lived)
      : executor_(ex), config_(config), accepting_(accepting), short_lived_(short_lived) {}

  /// Binds the probe listeners; throws std::runtime_error naming the address that failed.
  void start();
  void stop();
  /// What peers need to probe: {"ports":[P1,P2],"alt_ip":IP or null,"alt_ips":[one per family]}.
  nlohmann::json info() const;
  std::array<std::uint16_t, 2> ports() const { return ports_; }

 private:
  net::awaitable<void> serve(net::tcp::socket socket, admission_ticket ticket);
  net::awaitable<void> call_back(net::tcp::endpoint target, asio::ip::address from, std::string nonce, const char* label);

  asio::any_io_executor executor_;
  const server_config& config_;
  accept_context accepting_;
  net::socket_registry& short_lived_;
  /// The --alt-ip address of `client`'s family, for the call-back from another address.
  std::optional<asio::ip::address> alternate_for(const asio::ip::address& client) const;
  std::vector<std::unique_ptr<net::tcp::acceptor>> acceptors_;
  std::vector<asio::ip::address> alternates_;  ///< --alt-ip, one per family
  std::array<std::uint16_t, 2> ports_{0, 0};
};

}  // namespace rendezvous
