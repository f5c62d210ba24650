#include <gtest/gtest.h>

#include "common/config_layers.hpp"
#include "peer/peer_config.hpp"
#include "rendezvous/server_config.hpp"

namespace {

using nlohmann::json;

TEST(ServerConfig, DefaultsMatchTheDocumentedPorts) {
  const auto config = rendezvous::resolve_server_config(json::object(), json::object(), json::object());
  EXPECT_EQ(config.listen_host, "0.0.0.0");
  EXPECT_EQ(config.main_port, 7000);
  EXPECT_EQ(config.hole_port, 7001);
  EXPECT_EQ(config.relay_port, 7002);
  EXPECT_EQ(config.peer_timeout_s, 30);
  EXPECT_EQ(config.handshake_timeout_s, 10);
}

TEST(ServerConfig, FileThenEnvThenFlagEachOverrides) {
  const json file{{"token", "from-file"}, {"listen", "127.0.0.1:8000"}, {"max_peers", 5}};
  const json env{{"token", "from-env"}};
  const json flags{{"listen", "127.0.0.1:9000"}};
  auto config = rendezvous::resolve_server_config(file, env, flags);
  EXPECT_EQ(config.token, "from-env");        // env beats file
  EXPECT_EQ(config.main_port, 9000);          // flag beats file
  EXPECT_EQ(config.hole_port, 9001);          // derived from the winning main port
  EXPECT_EQ(config.max_peers, 5);             // file beats default
  config = rendezvous::resolve_server_config(file, env, json{{"token", "from-flag"}});
  EXPECT_EQ(config.token, "from-flag");       // flag beats env
}

TEST(ServerConfig, ExplicitHolePortBeatsDerivedOne) {
  const auto config = rendezvous::resolve_server_config(json{{"listen", "0.0.0.0:7100"}, {"hole_port", 7200}},
                                                        json::object(), json::object());
  EXPECT_EQ(config.hole_port, 7200);
  EXPECT_EQ(config.relay_port, 7102);
}

TEST(ServerConfig, ListenTakesAnIpv4AndAnIpv6AddressOnOnePortAndAlternatesPerFamily) {
  const auto config = rendezvous::resolve_server_config(
      json{{"listen", "203.0.113.10:7000,[2001:db8::10]:7000"}, {"alt_ip", "203.0.113.11,2001:db8::11"}}, json::object(),
      json::object());
  EXPECT_EQ(config.listen_hosts, (std::vector<std::string>{"203.0.113.10", "2001:db8::10"}));
  EXPECT_EQ(config.listen_host, "203.0.113.10");
  EXPECT_EQ(config.main_port, 7000);
  EXPECT_EQ(config.hole_port, 7001);
  const auto refused = [](const json& file) {
    try {
      rendezvous::resolve_server_config(file, json::object(), json::object());
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(refused(json{{"listen", "203.0.113.10:7000,[2001:db8::10]:7100"}}).find("same port"), std::string::npos);
  EXPECT_NE(refused(json{{"listen", "example.org:7000"}}).find("IP:PORT"), std::string::npos);
  // [::] is dual-stack: 0.0.0.0 beside it is the same listener; one IPv4 address beside it cannot be had.
  const auto both = rendezvous::resolve_server_config(json{{"listen", "0.0.0.0:7000,[::]:7000"}}, json::object(), json::object());
  EXPECT_EQ(both.listen_hosts, (std::vector<std::string>{"::"}));
  EXPECT_NE(refused(json{{"listen", "203.0.113.10:7000,[::]:7000"}}).find("[::] alone"), std::string::npos);
  EXPECT_NE(refused(json{{"alt_ip", "203.0.113.11,203.0.113.12"}}).find("one address per family"), std::string::npos);
  EXPECT_NE(refused(json{{"alt_ip", "203.0.113.11,nonsense"}}).find("IP address"), std::string::npos);
}

TEST(ServerConfig, BadKeysAndValuesAreNamed) {
  try {
    rendezvous::resolve_server_config(json{{"tokn", "x"}}, json::object(), json::object());
    FAIL() << "typo accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("tokn"), std::string::npos);
  }
  EXPECT_THROW(rendezvous::resolve_server_config(json{{"listen", "nonsense"}}, json::object(), json::object()),
               std::runtime_error);
  EXPECT_THROW(rendezvous::resolve_server_config(json{{"max_peers", -1}}, json::object(), json::object()),
               std::runtime_error);
  EXPECT_THROW(rendezvous::resolve_server_config(json{{"hole_port", 70000}}, json::object(), json::object()),
               std::runtime_error);
}

TEST(ServerConfig, MetricsTakesAnIpAndPortAndNothingElse) {
  EXPECT_EQ(rendezvous::resolve_server_config(json::object(), json::object(), json::object()).metrics, "");
  const auto v4 = rendezvous::resolve_server_config(json{{"metrics", "127.0.0.1:9100"}}, json::object(), json::object());
  ASSERT_TRUE(rendezvous::metrics_endpoint_of(v4.metrics));
  EXPECT_EQ(rendezvous::metrics_endpoint_of(v4.metrics)->port(), 9100);
  EXPECT_TRUE(rendezvous::metrics_endpoint_of("[::1]:0"));
  for (const char* bad : {"localhost:9100", "9100", "127.0.0.1", "127.0.0.1:99999"}) {
    try {
      rendezvous::resolve_server_config(json{{"metrics", bad}}, json::object(), json::object());
      ADD_FAILURE() << bad << " accepted";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("\"metrics\" must be IP:PORT"), std::string::npos) << e.what();
    }
  }
}

TEST(PeerConfig, FileThenEnvThenFlagEachOverrides) {
  const json file{{"server", "10.0.0.1:7000"}, {"id", "file-id"}, {"token", "t1"}, {"punch_timeout", 2}};
  const json env{{"server", "10.0.0.2:7000"}, {"id", "env-id"}};
  const json flags{{"id", "flag-id"}};
  const auto config = peer::resolve_peer_config(file, env, flags);
  EXPECT_EQ(config.servers.at(0).host, "10.0.0.2");
  EXPECT_EQ(config.id, "flag-id");
  EXPECT_EQ(config.token, "t1");
  EXPECT_EQ(config.punch_timeout, std::chrono::milliseconds(2000));
}

TEST(PeerConfig, ServerTakesOneAddressOrTheNodesOfACluster) {
  const auto one = peer::resolve_peer_config(json::object(), json::object(), json{{"server", "10.0.0.1:7000"}});
  ASSERT_EQ(one.servers.size(), 1u);
  EXPECT_EQ(one.servers[0].host, "10.0.0.1");
  const auto three = peer::resolve_peer_config(json::object(), json::object(),
                                               json{{"server", "a.example.net:7000,10.0.0.2:7100,[2001:db8::1]:7000"}});
  ASSERT_EQ(three.servers.size(), 3u);
  EXPECT_EQ(three.servers[1].host, "10.0.0.2");
  EXPECT_EQ(three.servers[1].port, 7100);
  EXPECT_EQ(three.servers[2].host, "2001:db8::1");
  EXPECT_EQ(three.servers[0].host, "a.example.net");
  const auto defaults = peer::resolve_peer_config(json::object(), json::object(), json::object());
  ASSERT_EQ(defaults.servers.size(), 1u);
  EXPECT_EQ(defaults.servers[0].port, 7000);
  for (const char* bad : {"", "a:7000,", "a:7000,,b:7000", "a:7000,b", "a:0"}) {
    EXPECT_THROW(peer::resolve_peer_config(json::object(), json::object(), json{{"server", bad}}), std::runtime_error) << bad;
  }
}

TEST(PeerConfig, EnvironmentLayerReadsOnlyNamedVariables) {
  const config::env_lookup fake = [](const std::string& name) -> std::optional<std::string> {
    if (name == "PEER_ID") return "alice";
    if (name == "UNRELATED") return "x";
    return std::nullopt;
  };
  const auto layer = config::env_layer(fake, {{"PEER_ID", "id"}, {"PEER_TOKEN", "token"}});
  EXPECT_EQ(layer, (json{{"id", "alice"}}));
}

TEST(PeerConfig, InvalidIdIsRefused) {
  EXPECT_THROW(peer::resolve_peer_config(json::object(), json::object(), json{{"id", "has space"}}), std::runtime_error);
  EXPECT_THROW(peer::resolve_peer_config(json::object(), json::object(), json{{"id", std::string(65, 'a')}}),
               std::runtime_error);
  EXPECT_NO_THROW(peer::resolve_peer_config(json::object(), json::object(), json{{"id", "A-z_0.9"}}));
}

}  // namespace
