#include "transfer/sender.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <asio/steady_timer.hpp>

#include "transfer/disk_reader.hpp"
#include "transfer/unique_fd.hpp"
#include "transfer/wire.hpp"

namespace transfer {
namespace {

long long ms_since(net::clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(net::clock::now() - since).count();
}

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

net::awaitable<void> send_dir(session::stream& stream, stream_reader& reader, const source_entry& entry) {
  const nlohmann::json header{{"type", "dir"}, {"path", entry.rel}, {"mode", entry.mode}};
  co_await write_message(stream, header);
  const auto reply = co_await reader.read_message();
  if (reply["type"] != "ok") throw transfer_error("the receiver answered a directory with '" + reply["type"].get<std::string>() + "'");
}

net::awaitable<void> send_file(session::stream& stream, stream_reader& reader, const source_entry& entry,
                               observer& progress, pacer& pace) {
  unique_fd fd(::open(entry.source.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw transfer_error("cannot open '" + entry.source.string() + "': " + std::strerror(errno));
  struct stat st {};
  ::fstat(fd.get(), &st);
  const auto size = static_cast<std::uint64_t>(st.st_size);  // as it is now, not as it was scanned
  const auto started = net::clock::now();
  const nlohmann::json header{{"type", "file"}, {"path", entry.rel}, {"size", size}, {"mode", entry.mode}};
  co_await write_message(stream, header);
  std::uint64_t sent = 0;
  auto ask = co_await reader.read_message();
  for (int round = 0;; ++round) {
    if (ask["type"] != "send_from") throw transfer_error("the receiver answered a file with '" + ask["type"].get<std::string>() + "'");
    const auto from = size_field(ask, "offset");
    // A second ask is the receiver finding that what it held was not the start of this file.
    if (from > size || (round > 0 && from != 0) || round > 1) throw transfer_error("the receiver asked for an impossible offset");
    progress.file_started(entry.rel, size, from);
    const auto hash = co_await send_range(stream, fd.get(), entry.rel, from, size, progress, pace);
    sent += size - from;
    file_report report{entry.rel, "", size, from, sent, hash, 0};
    const nlohmann::json end{{"type", "end"}, {"hash", report.hash}};
    co_await write_message(stream, end);
    auto verdict = co_await reader.read_message();
    if (verdict["type"] == "send_from") {
      ask = std::move(verdict);
      continue;
    }
    if (verdict["type"] != "stored") throw transfer_error("the receiver answered a file's end with '" + verdict["type"].get<std::string>() + "'");
    report.stored = string_field(verdict, "path");
    report.elapsed_ms = ms_since(started);
    progress.file_done(report);
    co_return;
  }
}

}  // namespace

nlohmann::json transfer_meta(const source_list& sources) {
  return {{"kind", "transfer"}, {"bytes", sources.total_bytes}, {"files", sources.files}, {"dirs", sources.dirs}};
}

net::awaitable<void> send_sources(std::shared_ptr<session::stream> stream, const source_list& sources,
                                  observer& progress, send_options options) {
  stream_reader reader(stream);
  pacer pace(options.rate_limit_mib);
  for (const auto& entry : sources.entries) {
    if (entry.is_dir) {
      co_await send_dir(*stream, reader, entry);
    } else {
      co_await send_file(*stream, reader, entry, progress, pace);
    }
  }
  const nlohmann::json done{{"type", "done"}};
  co_await write_message(*stream, done);
  const auto reply = co_await reader.read_message();
  if (reply["type"] != "done") throw transfer_error("the receiver did not confirm the end of the transfer");
  const auto error = stream->shutdown_send();
  if (!error.empty()) throw stream_failure(error);
  co_await reader.expect_end();
}

}  // namespace transfer
