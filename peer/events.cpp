#include "peer/events.hpp"

#include <cstdio>
#include <string>

namespace peer {
namespace {

std::string text(const nlohmann::json& event, const char* key) {
  auto it = event.find(key);
  if (it == event.end()) return "?";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

/// The short human line for an event.
std::string human_line(const nlohmann::json& event) {
  const auto kind = event.value("event", "");
  if (kind == "registered") return "registered as " + text(event, "id");
  if (kind == "connected") {
    return "connected to " + text(event, "peer") + " (" + text(event, "path") + ", " + text(event, "remote") + ") in " +
           text(event, "elapsed_ms") + " ms" + (event.contains("reason") ? " — " + text(event, "reason") : "");
  }
  if (kind == "path_changed") {
    return "the path to " + text(event, "peer") + " is now " + text(event, "to") + " (" + text(event, "remote") + ", was " +
           text(event, "from") + ") after " + text(event, "elapsed_ms") + " ms — " + text(event, "reason");
  }
  if (kind == "incoming") return "incoming connection from " + text(event, "peer");
  if (kind == "punch_failed") return "connection from " + text(event, "peer") + " failed: " + text(event, "message");
  if (kind == "server_lost") return "lost the rendezvous server (" + text(event, "message") + "); the connection continues";
  if (kind == "closed") return "closed: sent " + text(event, "sent") + " bytes, received " + text(event, "received") + " bytes";
  if (kind == "transfer") {
    const auto resumed = event.value("resumed_from", 0ULL);
    return text(event, "direction") + " " + text(event, "file") +
           (event.contains("stored") ? " (stored as " + text(event, "stored") + ")" : "") + ": " + text(event, "bytes") +
           " bytes" + (resumed ? " (resumed at " + std::to_string(resumed) + ")" : "") + " over " + text(event, "path") +
           " in " + text(event, "elapsed_ms") + " ms, " + text(event, "mbps") + " Mbit/s, sha256 " + text(event, "hash");
  }
  if (kind == "transfer_failed") return "transfer from " + text(event, "peer") + " failed: " + text(event, "message");
  if (kind == "transfer_done") {
    return text(event, "direction") + " " + text(event, "files") + " file(s), " + text(event, "bytes") + " bytes, " +
           (text(event, "direction") == "sent" ? "to " : "from ") + text(event, "peer") + " in " +
           text(event, "elapsed_ms") + " ms (" + text(event, "mbps") + " Mbit/s)";
  }
  if (kind == "error") return "error: " + text(event, "message");
  std::string line = kind;
  for (const auto& [key, value] : event.items()) {
    if (key != "event") line += " " + key + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
  }
  return line;
}

}  // namespace

void event_sink::emit(const nlohmann::json& event) const {
  const auto line = json_ ? event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) : "peer: " + human_line(event);
  std::fputs((line + "\n").c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace peer
