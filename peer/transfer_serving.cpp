#include "peer/transfer_serving.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "peer/transfer_progress.hpp"
#include "transfer/receiver.hpp"

namespace peer {

bool accepts_transfer_from(const peer_config& config, const std::string& peer) {
  return config.accept_any || std::find(config.accept_from.begin(), config.accept_from.end(), peer) != config.accept_from.end();
}

net::awaitable<std::string> serve_transfer(const peer_config& config, const event_sink& events, std::string peer,
                                           std::string path, std::shared_ptr<session::stream> stream) {
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
  const auto totals = ::transfer::totals_of(stream->meta());
  spdlog::info("{}: receiving {} file(s), {} bytes into {}", peer, totals.files, totals.bytes, config.inbox);
  transfer_progress progress(events, config.json, peer, path, "received", totals.bytes);
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
