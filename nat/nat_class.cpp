#include "nat/nat_class.hpp"

#include <array>
#include <utility>

namespace nat {
namespace {

constexpr std::array<std::pair<mapping_kind, const char*>, 5> mapping_names{{
    {mapping_kind::none, "none"},
    {mapping_kind::endpoint_independent, "endpoint-independent"},
    {mapping_kind::address_dependent, "address-dependent"},
    {mapping_kind::address_and_port_dependent, "address-and-port-dependent"},
    {mapping_kind::unknown, "unknown"},
}};
constexpr std::array<std::pair<filtering_kind, const char*>, 5> filtering_names{{
    {filtering_kind::none, "none"},
    {filtering_kind::endpoint_independent, "endpoint-independent"},
    {filtering_kind::address_dependent, "address-dependent"},
    {filtering_kind::address_and_port_dependent, "address-and-port-dependent"},
    {filtering_kind::unknown, "unknown"},
}};

template <typename Kind, std::size_t N>
const char* name_of(const std::array<std::pair<Kind, const char*>, N>& names, Kind kind) {
  for (const auto& [k, name] : names) {
    if (k == kind) return name;
  }
  return "unknown";
}

template <typename Kind, std::size_t N>
std::optional<Kind> parse(const std::array<std::pair<Kind, const char*>, N>& names, const std::string& text) {
  for (const auto& [k, name] : names) {
    if (text == name) return k;
  }
  return std::nullopt;
}

mapping_kind classify_mapping(const nat_observations& seen, nat_verdict& verdict) {
  const auto& first = *seen.primary_port1;
  if (first == seen.local) return mapping_kind::none;
  if (!seen.primary_port2) {
    verdict.undetermined.push_back("mapping: the second probe port did not answer");
    return mapping_kind::unknown;
  }
  if (*seen.primary_port2 != first) return mapping_kind::address_and_port_dependent;
  if (!seen.alternate_port1) {
    verdict.undetermined.push_back(
        "mapping: endpoint-independent or address-dependent; telling them apart needs a server with an "
        "alternate address (--alt-ip)");
    return mapping_kind::unknown;
  }
  return *seen.alternate_port1 == first ? mapping_kind::endpoint_independent : mapping_kind::address_dependent;
}

filtering_kind classify_filtering(const nat_observations& seen, bool no_nat, nat_verdict& verdict) {
  if (seen.reached_from_alternate_ip.value_or(false)) return no_nat ? filtering_kind::none : filtering_kind::endpoint_independent;
  if (!seen.reached_from_other_port) {
    verdict.undetermined.push_back("filtering: the server could not call back");
    return filtering_kind::unknown;
  }
  if (!*seen.reached_from_other_port) return filtering_kind::address_and_port_dependent;
  if (!seen.reached_from_alternate_ip) {
    verdict.undetermined.push_back(
        "filtering: endpoint-independent or address-dependent; telling them apart needs a server with an "
        "alternate address (--alt-ip)");
    return filtering_kind::unknown;
  }
  return filtering_kind::address_dependent;
}

}  // namespace

std::string class_of(mapping_kind mapping, filtering_kind filtering) {
  if (mapping == mapping_kind::none) {
    if (filtering == filtering_kind::none) return "no NAT";
    return filtering == filtering_kind::unknown ? "no NAT (filtering unknown)" : "no NAT, firewalled";
  }
  if (mapping == mapping_kind::address_dependent || mapping == mapping_kind::address_and_port_dependent) return "symmetric";
  if (mapping == mapping_kind::endpoint_independent) {
    switch (filtering) {
      case filtering_kind::none:
      case filtering_kind::endpoint_independent: return "full cone";
      case filtering_kind::address_dependent: return "address-restricted cone";
      case filtering_kind::address_and_port_dependent: return "port-restricted cone";
      case filtering_kind::unknown: break;
    }
  }
  return "unknown";
}

const char* to_string(mapping_kind kind) { return name_of(mapping_names, kind); }
const char* to_string(filtering_kind kind) { return name_of(filtering_names, kind); }
std::optional<mapping_kind> parse_mapping(const std::string& text) { return parse(mapping_names, text); }
std::optional<filtering_kind> parse_filtering(const std::string& text) { return parse(filtering_names, text); }

nat_verdict classify(const nat_observations& seen) {
  nat_verdict verdict;
  if (!seen.primary_port1) {
    verdict.undetermined.push_back("the server's probe port did not answer");
    verdict.class_name = "unknown";
    return verdict;
  }
  verdict.public_endpoint = seen.primary_port1;
  verdict.port_preserving = seen.primary_port1->port() == seen.local.port();
  verdict.mapping = classify_mapping(seen, verdict);
  verdict.filtering = classify_filtering(seen, verdict.mapping == mapping_kind::none, verdict);
  verdict.class_name = class_of(verdict.mapping, verdict.filtering);
  return verdict;
}

bool direct_path_impossible(mapping_kind mapping_a, filtering_kind filtering_a, mapping_kind mapping_b,
                            filtering_kind filtering_b) {
  const auto varies = [](mapping_kind m) {
    return m == mapping_kind::address_dependent || m == mapping_kind::address_and_port_dependent;
  };
  const auto strict = [](filtering_kind f) { return f == filtering_kind::address_and_port_dependent; };
  return (varies(mapping_a) && strict(filtering_b)) || (varies(mapping_b) && strict(filtering_a));
}

}  // namespace nat
