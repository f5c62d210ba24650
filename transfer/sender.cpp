#include "transfer/sender.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>

#include <asio/steady_timer.hpp>

#include "transfer/disk_reader.hpp"
#include "transfer/unique_fd.hpp"
#include "transfer/wire.hpp"

namespace transfer {
namespace {

/// Holds file data to `rate` MiB/s: waits while more has been sent than the rate allows.
class pacer {
 public:
  explicit pacer(double rate_mib) : bytes_per_second_(rate_mib * 1024 * 1024) {}
  net::awaitable<void> account(std::uint64_t n) {
    if (bytes_per_second_ <= 0) co_return;
    sent_ += n;
    const auto due = started_ + std::chrono::duration_cast<net::clock::duration>(
                                    std::chrono::duration<double>(static_cast<double>(sent_) / bytes_per_second_));
    if (due <= net::clock::now()) co_return;
    asio::steady_timer wait(co_await asio::this_coro::executor, due);
    co_await wait.async_wait(net::use_nothrow);
  }

 private:
  double bytes_per_second_;
  net::clock::time_point started_ = net::clock::now();
  std::uint64_t sent_ = 0;
};

/// The bytes of `rel` from `from` to `size` (read and hashed ahead on the reader's thread);
/// returns the hash of the whole file.
net::awaitable<std::string> send_range(session::stream& stream, int fd, const std::string& rel, std::uint64_t from,
                                       std::uint64_t size, observer& progress, pacer& pace) {
  disk_reader file(co_await asio::this_coro::executor, fd, rel, from, size);
  for (;;) {
    const auto chunk = co_await file.next();
    if (chunk.empty()) co_return file.hex_digest();
    co_await write_data(stream, chunk);
    progress.bytes_moved(chunk.size());
    co_await pace.account(chunk.size());
  }
}

/// Files smaller than this are sent whole without asking the receiver what it holds, and
/// nothing waits for their "stored": a tree of small files costs no round trip per file.
/// (Resuming them would save little; bigger files ask, so they can resume.)
constexpr std::uint64_t ask_first_size = 1024 * 1024;
/// Answers we may leave unread: each is a small message in our stream's receive window, and an
/// unread window would stall the receiver (and so us).
constexpr std::size_t max_unsettled = 256;

/// One transfer's sending side: sends entries in order, and reads the receiver's answers to the
/// ones that did not wait for them (directories, small files) in the same order.
class transfer_sender {
 public:
  transfer_sender(std::shared_ptr<session::stream> stream, observer& progress, send_options options)
      : stream_(std::move(stream)), reader_(stream_), progress_(progress), pace_(options.rate_limit_mib) {}

  net::awaitable<void> send_dir(const source_entry& entry) {
    const nlohmann::json header{{"type", "dir"}, {"path", entry.rel}, {"mode", entry.mode}};
    co_await write_message(*stream_, header);
    unsettled_.push_back(std::nullopt);
    if (unsettled_.size() >= max_unsettled) co_await settle_one();
  }

  net::awaitable<void> send_file(const source_entry& entry) {
    unique_fd fd(::open(entry.source.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw transfer_error("cannot open '" + entry.source.string() + "': " + std::strerror(errno));
    struct stat st {};
    ::fstat(fd.get(), &st);
    const auto size = static_cast<std::uint64_t>(st.st_size);  // as it is now, not as it was scanned
    const auto started = net::clock::now();
    if (size < ask_first_size) {
      const nlohmann::json header{{"type", "file"}, {"path", entry.rel}, {"size", size}, {"mode", entry.mode}, {"whole", true}};
      co_await write_message(*stream_, header);
      progress_.file_started(entry.rel, size, 0);
      const auto hash = co_await send_range(*stream_, fd.get(), entry.rel, 0, size, progress_, pace_);
      const nlohmann::json end{{"type", "end"}, {"hash", hash}};
      co_await write_message(*stream_, end);
      unsettled_.push_back(pending_file{file_report{entry.rel, "", size, 0, size, hash, 0}, started});
      if (unsettled_.size() >= max_unsettled) co_await settle_one();
      co_return;
    }
    co_await settle_all();  // the next answer must be this file's
    const nlohmann::json header{{"type", "file"}, {"path", entry.rel}, {"size", size}, {"mode", entry.mode}};
    co_await write_message(*stream_, header);
    std::uint64_t sent = 0;
    auto ask = co_await reader_.read_message();
    for (int round = 0;; ++round) {
      if (ask["type"] != "send_from") throw unexpected("a file", ask);
      const auto from = size_field(ask, "offset");
      // A second ask is the receiver finding that what it held was not the start of this file.
      if (from > size || (round > 0 && from != 0) || round > 1) throw transfer_error("the receiver asked for an impossible offset");
      progress_.file_started(entry.rel, size, from);
      const auto hash = co_await send_range(*stream_, fd.get(), entry.rel, from, size, progress_, pace_);
      sent += size - from;
      const nlohmann::json end{{"type", "end"}, {"hash", hash}};
      co_await write_message(*stream_, end);
      auto verdict = co_await reader_.read_message();
      if (verdict["type"] == "send_from") {
        ask = std::move(verdict);
        continue;
      }
      file_done(pending_file{file_report{entry.rel, "", size, from, sent, hash, 0}, started}, verdict);
      co_return;
    }
  }

  net::awaitable<void> finish() {
    co_await settle_all();
    const nlohmann::json done{{"type", "done"}};
    co_await write_message(*stream_, done);
    const auto reply = co_await reader_.read_message();
    if (reply["type"] != "done") throw unexpected("the end of the transfer", reply);
    const auto error = stream_->shutdown_send();
    if (!error.empty()) throw stream_failure(error);
    co_await reader_.expect_end();
  }

 private:
  struct pending_file {
    file_report report;
    net::clock::time_point started;
  };

  static transfer_error unexpected(const char* what, const nlohmann::json& reply) {
    return transfer_error(std::string("the receiver answered ") + what + " with '" + reply["type"].get<std::string>() + "'");
  }

  void file_done(pending_file file, const nlohmann::json& verdict) {
    if (verdict["type"] != "stored") throw unexpected("a file's end", verdict);
    file.report.stored = string_field(verdict, "path");
    file.report.elapsed_ms = net::ms_since(file.started);
    progress_.file_done(file.report);
  }

  /// Reads the answer to the oldest entry that did not wait for one.
  net::awaitable<void> settle_one() {
    auto entry = std::move(unsettled_.front());
    unsettled_.pop_front();
    const auto reply = co_await reader_.read_message();
    if (!entry) {
      if (reply["type"] != "ok") throw unexpected("a directory", reply);
      co_return;
    }
    file_done(std::move(*entry), reply);
  }

  net::awaitable<void> settle_all() {
    while (!unsettled_.empty()) co_await settle_one();
  }

  std::shared_ptr<session::stream> stream_;
  stream_reader reader_;
  observer& progress_;
  pacer pace_;
  std::deque<std::optional<pending_file>> unsettled_;  ///< nullopt: a directory
};

}  // namespace

nlohmann::json transfer_meta(const source_list& sources) {
  return {{"kind", "transfer"}, {"bytes", sources.total_bytes}, {"files", sources.files}, {"dirs", sources.dirs}};
}

net::awaitable<void> send_sources(std::shared_ptr<session::stream> stream, const source_list& sources,
                                  observer& progress, send_options options) {
  transfer_sender sender(std::move(stream), progress, options);
  for (const auto& entry : sources.entries) {
    if (entry.is_dir) {
      co_await sender.send_dir(entry);
    } else {
      co_await sender.send_file(entry);
    }
  }
  co_await sender.finish();
}

}  // namespace transfer
