// NAT behaviour classification in RFC 4787 / RFC 5382 terms, from what the probes observed.
// A pure function: observations in, behaviour out. It never guesses: what the observations
// cannot tell (no alternate server address, say) comes back as `unknown` with the reason.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "common/net.hpp"

namespace nat {

enum class mapping_kind { none, endpoint_independent, address_dependent, address_and_port_dependent, unknown };
enum class filtering_kind { none, endpoint_independent, address_dependent, address_and_port_dependent, unknown };
const char* to_string(mapping_kind kind);
const char* to_string(filtering_kind kind);
std::optional<mapping_kind> parse_mapping(const std::string& text);
std::optional<filtering_kind> parse_filtering(const std::string& text);

/// What the probes saw, from one local endpoint (mapping) and one listening port (filtering).
struct nat_observations {
  net::tcp::endpoint local;                             ///< our end of the first mapping probe
  std::optional<net::tcp::endpoint> primary_port1;      ///< mapped endpoint seen at (primary IP, port 1)
  std::optional<net::tcp::endpoint> primary_port2;      ///< ... at (primary IP, port 2)
  std::optional<net::tcp::endpoint> alternate_port1;    ///< ... at (alternate IP, port 1); none without --alt-ip
  std::optional<bool> reached_from_other_port;          ///< a call back from (primary IP, other port) got in
  std::optional<bool> reached_from_alternate_ip;        ///< a call back from the alternate IP got in
};

/// The verdict.
struct nat_verdict {
  mapping_kind mapping = mapping_kind::unknown;
  filtering_kind filtering = filtering_kind::unknown;
  std::optional<bool> port_preserving;
  std::optional<net::tcp::endpoint> public_endpoint;
  std::string class_name;                 ///< "full cone", "port-restricted cone", "symmetric", ...
  std::vector<std::string> undetermined;  ///< what could not be told, and why
};

nat_verdict classify(const nat_observations& seen);

/// The common name of a behaviour: "symmetric", "port-restricted cone", "no NAT, firewalled", ...
std::string class_of(mapping_kind mapping, filtering_kind filtering);

/// True when no direct TCP path can exist between two peers with these behaviours (a mapping
/// that changes per destination meets a filter that only admits the exact endpoint it sent to).
/// Unknown behaviour is never hopeless: punch first.
bool direct_path_impossible(mapping_kind mapping_a, filtering_kind filtering_a, mapping_kind mapping_b,
                            filtering_kind filtering_b);

}  // namespace nat
