#include "peer/nat_cache.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/endpoint.hpp"
#include "common/json_fields.hpp"
#include "common/local_addresses.hpp"

namespace peer {
namespace {

constexpr std::size_t max_networks = 32;
constexpr long long max_age_ms = 7LL * 24 * 3600 * 1000;
constexpr std::size_t max_file_bytes = 256 * 1024;

std::filesystem::path default_file() {
  if (const char* state = std::getenv("XDG_STATE_HOME"); state && *state) {
    return std::filesystem::path(state) / "holepunch" / "nat-cache.json";
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    return std::filesystem::path(home) / ".local" / "state" / "holepunch" / "nat-cache.json";
  }
  return {};
}

nlohmann::json read_entries(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return nlohmann::json::object();
  std::string text(max_file_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > max_file_bytes) return nlohmann::json::object();
  auto parsed = wire::parse_bounded(text);
  if (!parsed.error.empty() || !parsed.value.is_object()) {
    spdlog::debug("ignoring the NAT cache {}: {}", file.string(), parsed.error.empty() ? "not an object" : parsed.error);
    return nlohmann::json::object();
  }
  const auto entries = parsed.value.find("networks");
  return entries != parsed.value.end() && entries->is_object() ? *entries : nlohmann::json::object();
}

long long seen_ms(const nlohmann::json& entry) {
  if (!entry.is_object()) return 0;
  return wire::to_integer(entry.value("seen_ms", nlohmann::json(0))).value_or(0);
}

}  // namespace

nat_cache::nat_cache() : file_(default_file()) {}

std::optional<nlohmann::json> nat_cache::load(const std::string& network) const {
  if (file_.empty()) return std::nullopt;
  const auto entries = read_entries(file_);
  const auto it = entries.find(network);
  if (it == entries.end() || !it->is_object() || net::now_ms() - seen_ms(*it) > max_age_ms) return std::nullopt;
  const auto report = it->find("report");
  if (report == it->end() || !report->is_object() || report->value("type", nlohmann::json()) != "nat_report") return std::nullopt;
  return *report;
}

void nat_cache::store(const std::string& network, const nlohmann::json& report) const {
  if (file_.empty()) return;
  auto entries = read_entries(file_);
  entries[network] = {{"report", report}, {"seen_ms", net::now_ms()}};
  // The oldest networks go first (never the one just stored).
  while (entries.size() > max_networks) {
    auto oldest = entries.end();
    for (auto it = entries.begin(); it != entries.end(); ++it) {
      if (it.key() != network && (oldest == entries.end() || seen_ms(*it) < seen_ms(*oldest))) oldest = it;
    }
    entries.erase(oldest);
  }
  std::error_code ec;
  std::filesystem::create_directories(file_.parent_path(), ec);
  const auto partial = file_.string() + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    out << nlohmann::json{{"networks", entries}}.dump() << '\n';
    if (!out) {
      spdlog::debug("cannot write the NAT cache {}", partial);
      std::filesystem::remove(partial, ec);
      return;
    }
  }
  std::filesystem::rename(partial, file_, ec);
  if (ec) {
    spdlog::debug("cannot write the NAT cache {}: {}", file_.string(), ec.message());
    std::filesystem::remove(partial, ec);
  }
}

std::string nat_cache::address_fingerprint() {
  std::vector<std::string> listed;
  for (const auto& local : net::local_addresses()) {
    // Privacy addresses rotate (daily) and link-local ones say nothing of the network: neither
    // may make the same network look new.
    const bool link_local = local.address.is_v6() && local.address.to_v6().is_link_local();
    if (!local.address.is_loopback() && !local.temporary && !link_local) listed.push_back(local.address.to_string());
  }
  std::sort(listed.begin(), listed.end());
  listed.erase(std::unique(listed.begin(), listed.end()), listed.end());
  std::string text;
  for (const auto& address : listed) text += address + " ";
  return text;
}

std::string nat_cache::network_key(const std::string& server, const std::string& observed, const std::string& addresses) {
  const auto seen = net::parse_endpoint(observed);
  const auto seen_at = seen ? net::unmapped(seen->address()).to_string() : observed;
  return crypto::hmac_hex("holepunch NAT cache network", server + "|" + seen_at + "|" + addresses).substr(0, 32);
}

}  // namespace peer
