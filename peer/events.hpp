// What the peer tells its user on stderr: one JSON object a line with --json, short lines without.
// stdout carries only the data stream.
#pragma once
#include <nlohmann/json.hpp>

namespace peer {

/// Writes events (objects with an "event" field) to stderr.
class event_sink {
 public:
  explicit event_sink(bool json) : json_(json) {}
  void emit(const nlohmann::json& event) const;

 private:
  bool json_;
};

}  // namespace peer
