#include "nat/nat_report.hpp"

namespace nat {
namespace {

nlohmann::json behaviour_json(const family_behaviour& behaviour) {
  return {{"mapping", to_string(behaviour.mapping)},
          {"filtering", to_string(behaviour.filtering)},
          {"class", behaviour.class_name()}};
}

family_behaviour behaviour_from(const nlohmann::json& fields) {
  family_behaviour behaviour;
  if (!fields.is_object()) return behaviour;
  const auto text = [&](const char* key) {
    const auto it = fields.find(key);
    return it != fields.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  behaviour.mapping = parse_mapping(text("mapping")).value_or(mapping_kind::unknown);
  behaviour.filtering = parse_filtering(text("filtering")).value_or(filtering_kind::unknown);
  return behaviour;
}

bool hopeless(const family_behaviour& a, const family_behaviour& b) {
  return direct_path_impossible(a.mapping, a.filtering, b.mapping, b.filtering);
}

}  // namespace

std::string nat_report::describe() const {
  if (!reported) return "unknown";
  std::string text = ipv4 ? ipv4->class_name() : "no IPv4";
  text += ipv6 ? "; IPv6: " + ipv6->class_name() : "; no IPv6";
  return text;
}

nlohmann::json to_json(const nat_report& report) {
  if (!report.reported) return {{"mapping", "unknown"}, {"filtering", "unknown"}, {"class", "unknown"}, {"reported", false}};
  const auto& main = report.ipv4 ? report.ipv4 : report.ipv6;
  nlohmann::json out = main ? behaviour_json(*main) : behaviour_json({});
  nlohmann::json families = nlohmann::json::object();
  if (report.ipv4) families["ipv4"] = behaviour_json(*report.ipv4);
  if (report.ipv6) families["ipv6"] = behaviour_json(*report.ipv6);
  out["families"] = std::move(families);
  out["ipv6"] = report.ipv6.has_value();  // what older servers read
  return out;
}

nat_report report_from_json(const nlohmann::json& message) {
  nat_report report;
  if (!message.is_object()) return report;
  // A registration made before its peer's first report says so: nothing known, punch.
  if (const auto said = message.find("reported"); said != message.end() && said->is_boolean() && !said->get<bool>()) return report;
  report.reported = true;
  const auto families = message.find("families");
  if (families != message.end() && families->is_object()) {
    if (const auto v4 = families->find("ipv4"); v4 != families->end()) report.ipv4 = behaviour_from(*v4);
    if (const auto v6 = families->find("ipv6"); v6 != families->end()) report.ipv6 = behaviour_from(*v6);
    if (!report.ipv4 && !report.ipv6) report.reported = false;  // says nothing: punch
    return report;
  }
  report.ipv4 = behaviour_from(message);
  if (const auto v6 = message.find("ipv6"); v6 != message.end() && v6->is_boolean() && v6->get<bool>()) {
    report.ipv6 = family_behaviour{};
  }
  return report;
}

std::optional<std::string> no_direct_path(const nat_report& a, const nat_report& b, bool server_has_ipv6) {
  if (!a.reported || !b.reported) return std::nullopt;
  std::string why;
  if (a.ipv4 && b.ipv4) {
    if (!hopeless(*a.ipv4, *b.ipv4)) return std::nullopt;
    why = a.ipv4->class_name() + " NAT meets " + b.ipv4->class_name() + " NAT";
  }
  const bool ipv6_shared = a.ipv6 && b.ipv6 && server_has_ipv6;
  if (ipv6_shared) {
    if (!hopeless(*a.ipv6, *b.ipv6)) return std::nullopt;
    why += (why.empty() ? "over IPv6, " : ", and over IPv6 ") + a.ipv6->class_name() + " meets " + b.ipv6->class_name();
  }
  if (why.empty()) return "they share no address family to punch over (" + a.describe() + " against " + b.describe() + ")";
  why += ": no direct path can exist";
  if (!ipv6_shared && (a.ipv6 || b.ipv6)) why += server_has_ipv6 ? " (only one side has IPv6)" : " (this server has no IPv6 address)";
  return why;
}

}  // namespace nat
