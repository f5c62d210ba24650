#include "transfer/receiver.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "transfer/disk_writer.hpp"
#include "transfer/wire.hpp"

namespace transfer {
namespace {

std::string mib(std::uint64_t bytes) { return std::to_string(bytes / (1024 * 1024)) + " MiB"; }

/// Refuses a file the disk has no room for before a byte of it crosses the network.
void check_room(const partial_file& file, std::uint64_t size) {
  struct statvfs fs {};
  if (::fstatvfs(file.dir.get(), &fs) != 0) return;
  const auto free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
  if (size - file.held > free_bytes) {
    throw transfer_error("not enough space on the receiving disk for '" + file.rel + "': it needs " +
                         mib(size - file.held) + " more, " + mib(free_bytes) + " are free");
  }
}

net::awaitable<void> receive_file(session::stream& stream, stream_reader& reader, inbox& box, const nlohmann::json& header,
                                  observer& progress) {
  const auto rel = string_field(header, "path");
  const auto size = size_field(header, "size");
  const auto mode = static_cast<mode_t>(size_field(header, "mode"));
  const auto started = net::clock::now();
  auto file = box.open_partial(rel, size);
  try {
    check_room(file, size);
  } catch (const transfer_error&) {
    if (file.held == 0) box.remove(file);  // leave no empty partial behind
    throw;
  }
  // A small file comes whole without asking: what an earlier transfer left of it is dropped.
  const bool whole = header.contains("whole") && header["whole"] == true;
  if (whole && file.held > 0) box.discard(file);
  std::uint64_t sent = 0;
  for (;;) {
    const auto resumed_from = file.held;
    if (!whole) {
      const nlohmann::json ask{{"type", "send_from"}, {"offset", resumed_from}};
      co_await write_message(stream, ask);
    }
    progress.file_started(rel, size, resumed_from);
    std::string actual;
    {
      disk_writer writer(co_await asio::this_coro::executor, file.file.get(), rel, size, resumed_from);
      for (auto received = resumed_from; received < size;) {
        const auto data = co_await reader.read_data(size - received);
        co_await writer.write(data);
        received += data.size();
        progress.bytes_moved(data.size());
      }
      actual = co_await writer.finish();
    }
    sent += size - resumed_from;
    const auto end = co_await reader.read_message();
    if (end["type"] != "end") throw transfer_error("expected the end of '" + rel + "', got '" + end["type"].get<std::string>() + "'");
    const auto expected = string_field(end, "hash");
    if (actual != expected) {
      if (resumed_from > 0) {  // what we held was not the start of this file: take it whole
        box.discard(file);
        continue;
      }
      box.remove(file);
      throw transfer_error("'" + rel + "' arrived with the wrong hash (" + actual + ", the sender's is " + expected +
                           "); it was not stored");
    }
    const auto stored = box.finish(file, mode);
    const nlohmann::json reply{{"type", "stored"}, {"path", stored}};
    co_await write_message(stream, reply);
    file_report report{rel, stored, size, resumed_from, sent, actual, net::ms_since(started)};
    progress.file_done(report);
    co_return;
  }
}

net::awaitable<void> receive_all(std::shared_ptr<session::stream> stream, inbox& box, observer& progress) {
  stream_reader reader(stream);
  for (;;) {
    const auto message = co_await reader.read_message();
    const auto type = message["type"].get<std::string>();
    if (type == "dir") {
      box.make_dir(string_field(message, "path"), static_cast<mode_t>(size_field(message, "mode")));
      const nlohmann::json ok{{"type", "ok"}};
      co_await write_message(*stream, ok);
    } else if (type == "file") {
      co_await receive_file(*stream, reader, box, message, progress);
    } else if (type == "done") {
      box.finish_dirs();
      const nlohmann::json done{{"type", "done"}};
      co_await write_message(*stream, done);
      co_await reader.expect_end();
      const auto error = stream->shutdown_send();
      if (!error.empty()) throw stream_failure(error);
      co_return;
    } else {
      throw transfer_error("unexpected transfer message '" + type.substr(0, 40) + "'");
    }
  }
}

}  // namespace

transfer_totals totals_of(const nlohmann::json& meta) {
  transfer_totals totals;
  const auto number = [&](const char* key) {
    return meta.is_object() && meta.contains(key) && meta[key].is_number_unsigned() ? meta[key].get<std::uint64_t>() : 0;
  };
  totals.bytes = number("bytes");
  totals.files = number("files");
  totals.dirs = number("dirs");
  return totals;
}

void refuse_transfer(session::stream& stream, const std::string& reason, failure_kind kind) {
  stream.reset(reset_reason(transfer_error(reason, kind)));
}

net::awaitable<void> receive_transfer(std::shared_ptr<session::stream> stream, inbox& box, observer& progress) {
  try {
    co_await receive_all(stream, box, progress);
  } catch (const transfer_error& e) {
    stream->reset(reset_reason(e));
    throw;
  } catch (const std::exception& e) {
    stream->reset(e.what());
    throw transfer_error(e.what());
  }
}

}  // namespace transfer
