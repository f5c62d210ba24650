// The server's file descriptors are its hardest limit: every peer, pending handshake, relayed pair
// (two sockets and two pipes) and held hole-assist connection takes some. The caps are derived
// from the limit at start, with headroom for the listeners, so the server refuses new work with
// a reason (server_full) before it ever runs out; the descriptor reserve covers what remains.
#pragma once
#include <string>

#include "common/descriptor_limit.hpp"
#include "rendezvous/server_config.hpp"

namespace rendezvous {

/// Caps that fit the descriptor limit.
struct descriptor_budget {
  long limit = 0;              ///< the soft limit in force
  int max_peers = 0;           ///< registered peers
  int max_idle_clients = 0;    ///< authenticated connections without an ID (list, send, connect without --id)
  int max_relay_pairs = 0;
  int max_exposed_clients = 0;  ///< clients of exposed ports (each a relayed pair's descriptors)
  int max_pending_per_port = 0;
  bool reduced = false;        ///< the config asked for more than fits
};

/// Descriptors a relayed pair uses: two sockets and two pipes of two ends each.
inline constexpr int descriptors_per_relay_pair = 6;

/// The caps that fit `limit` descriptors, as close to what `config` asks for as they can be.
descriptor_budget fit_to_descriptors(long limit, const server_config& config);

/// One line for the log: the limit and the caps it allows.
std::string describe(const descriptor_budget& budget);

}  // namespace rendezvous
