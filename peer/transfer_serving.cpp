#include "peer/transfer_serving.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "peer/transfer_progress.hpp"
#include "transfer/receiver.hpp"

namespace peer {
namespace {

/// Transfers one process receives at once: each holds a disk thread and up to 8 MiB queued
/// for it, so a peer opening many at once is told to come back later.
constexpr int max_concurrent_transfers = 8;
int active_transfers = 0;  // (the io thread's alone)

struct transfer_slot {
  transfer_slot() { ++active_transfers; }
  ~transfer_slot() { --active_transfers; }
  transfer_slot(const transfer_slot&) = delete;
  transfer_slot& operator=(const transfer_slot&) = delete;
};

}  // namespace

bool accepts_transfer_from(const peer_config& config, const std::string& peer) {
  return config.accept_any || std::find(config.accept_from.begin(), config.accept_from.end(), peer) != config.accept_from.end();
}

net::awaitable<std::string> serve_transfer(const peer_config& config, const event_sink& events, std::string peer,
                                           std::string path, std::shared_ptr<session::stream> stream, bool live_line) {
  if (config.inbox.empty()) {
    spdlog::warn("{}: refused a file transfer: no --inbox", peer);
    ::transfer::refuse_transfer(*stream, config.id + " takes no files (it runs without --inbox)");
    co_return "refused: no inbox";
  }
  if (!accepts_transfer_from(config, peer)) {
    spdlog::warn("{}: refused a file transfer: not in --accept-from", peer);
    ::transfer::refuse_transfer(*stream, config.id + " does not accept files from " + peer + " (see its --accept-from)");
    co_return "refused: " + peer + " is not accepted";
  }
  if (active_transfers >= max_concurrent_transfers) {
    spdlog::warn("{}: refused a file transfer: {} are running", peer, active_transfers);
    ::transfer::refuse_transfer(*stream, config.id + " is receiving " + std::to_string(active_transfers) + " transfers already",
                                ::transfer::failure_kind::busy);
    co_return "busy";
  }
  transfer_slot slot;
  const auto totals = ::transfer::totals_of(stream->meta());
  spdlog::info("{}: receiving {} file(s), {} bytes into {}", peer, totals.files, totals.bytes, config.inbox);
  transfer_progress progress(events, config.json, peer, path, "received", totals.bytes, live_line);
  try {
    ::transfer::inbox box(config.inbox, config.overwrite);
    co_await ::transfer::receive_transfer(stream, box, progress);
  } catch (const ::transfer::transfer_error& e) {
    const std::string why = e.what();
    stream->reset(why);  // (already reset by the receiver when the failure came from it)
    spdlog::warn("{}: file transfer failed: {}", peer, why);
    events.emit({{"event", "transfer_failed"}, {"peer", peer}, {"message", why}});
    co_return why;
  }
  progress.finish();
  co_return "";
}

}  // namespace peer
