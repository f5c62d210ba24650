#include "peer/stdio_bridge.hpp"

#include <poll.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/post.hpp>
#include <asio/use_future.hpp>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "common/async_signal.hpp"
#include "peer/interruption.hpp"

namespace peer {
namespace {

constexpr std::size_t chunk_size = 64 * 1024;

/// Writes all of `data`; returns false with errno set on failure.
bool write_all(int fd, const std::uint8_t* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

/// What the stdin thread shares with the session thread. The thread may outlive the bridge (a
/// terminal nobody types into): it touches the executor and the stream only under the mutex
/// while `abandoned` is false, and holds no handle of its own, so nothing of the session is ever
/// destroyed on its thread.
struct upload_state {
  std::mutex mutex;
  bool abandoned = false;
  asio::any_io_executor executor;
  std::shared_ptr<session::stream> stream;  ///< reset when abandoned, on the session's thread
  std::function<void()> on_done;            ///< likewise
  std::atomic<std::uint64_t> sent{0};
  std::string error;
  bool done = false;
};

net::awaitable<std::string> write_chunk(std::shared_ptr<session::stream> stream, std::vector<std::uint8_t> chunk) {
  co_return co_await stream->write(chunk);
}

net::awaitable<std::string> finish_upload(std::shared_ptr<session::stream> stream) {
  co_return stream->shutdown_send();
}

/// Runs a stream task on the session's thread and waits for it, unless the bridge has ended.
std::optional<std::string> run_on_stream(
    upload_state& state, const std::function<net::awaitable<std::string>(std::shared_ptr<session::stream>)>& task) {
  std::future<std::string> result;
  {
    std::lock_guard lock(state.mutex);
    if (state.abandoned) return std::nullopt;
    result = asio::co_spawn(state.executor, task(state.stream), asio::use_future);
  }
  return result.get();
}

/// stdin -> stream, then half-close.
void upload(std::shared_ptr<upload_state> state) {
  std::string error;
  for (;;) {
    std::vector<std::uint8_t> chunk(chunk_size);
    const ssize_t n = ::read(STDIN_FILENO, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = std::string("reading stdin: ") + std::strerror(errno);
      break;
    }
    if (n == 0) {
      auto finished = run_on_stream(*state, finish_upload);
      if (!finished) return;
      if (!finished->empty()) error = "ending our direction: " + *finished;
      break;
    }
    chunk.resize(static_cast<std::size_t>(n));
    auto written = run_on_stream(*state, [&chunk](std::shared_ptr<session::stream> stream) {
      return write_chunk(std::move(stream), std::move(chunk));
    });
    if (!written) return;  // the bridge is over
    if (!written->empty()) {
      error = "sending: " + *written;
      break;
    }
    state->sent += static_cast<std::uint64_t>(n);
  }
  std::lock_guard lock(state->mutex);
  if (state->abandoned) return;
  state->error = error;
  state->done = true;
  asio::post(state->executor, state->on_done);
}

/// stdin has ended or has something to read now: a hang-up is worth a moment for the upload.
bool stdin_has_more_now() {
  pollfd in{STDIN_FILENO, POLLIN, 0};
  return ::poll(&in, 1, 0) == 1 && (in.revents & (POLLIN | POLLHUP)) != 0;
}

/// How long a hang-up waits for an upload whose stdin has ended (ssh has closed our pipes).
constexpr auto upload_grace = std::chrono::seconds(2);

net::awaitable<session::read_result> read_chunk(std::shared_ptr<session::stream> stream, std::vector<std::uint8_t>& buffer) {
  co_return co_await stream->read_some(buffer);
}

}  // namespace

net::awaitable<bridge_result> bridge_stdio(std::shared_ptr<session::session> owner,
                                           std::shared_ptr<session::stream> stream) {
  using namespace asio::experimental::awaitable_operators;
  auto ex = co_await asio::this_coro::executor;
  auto& interrupt = interruption::process();
  const interruption::claim claim(interrupt);  // a signal is ours to answer while we run
  bridge_result result;
  // Shared: the stdin thread's wake-up may be delivered after this coroutine has returned.
  auto up_done = std::make_shared<net::async_signal>(ex);
  net::async_signal down_done(ex);
  auto upload_shared = std::make_shared<upload_state>();
  upload_shared->executor = ex;
  upload_shared->stream = stream;
  upload_shared->on_done = [up_done] { up_done->notify(); };
  std::thread(upload, upload_shared).detach();
  const auto upload_finished = [&] {
    std::lock_guard lock(upload_shared->mutex);  // the stdin thread writes these under it
    return upload_shared->done;
  };

  // stream -> stdout on its own thread: a slow stdout must not block the session's thread.
  std::string down_error;
  bool output_closed = false;  // our stdout's reader left (EPIPE)
  bool download_over = false;  // the downloader is done (set on the session's thread)
  std::thread downloader([&] {
    std::vector<std::uint8_t> buffer(chunk_size);
    for (;;) {
      auto chunk = asio::co_spawn(ex, read_chunk(stream, buffer), asio::use_future).get();
      if (!chunk.error.empty()) {
        down_error = "receiving: " + chunk.error;
        break;
      }
      if (chunk.eof) {
        result.download_finished = true;
        break;
      }
      if (!write_all(STDOUT_FILENO, buffer.data(), chunk.size)) {
        output_closed = errno == EPIPE;
        down_error = std::string("writing stdout: ") + std::strerror(errno);
        break;
      }
      result.received += chunk.size;
    }
    ::close(STDOUT_FILENO);  // let whoever reads our stdout see the end
    asio::post(ex, [&] {
      download_over = true;
      down_done.notify();
    });
  });
  // Waits on the state, not on the wake-up alone: a wait cancelled by a signal may have taken it.
  auto wait_download = [&]() -> net::awaitable<void> {
    while (!download_over) co_await down_done.wait();
  };

  // Hangs up: delivers what an ended stdin gave us, resets a cut stream, closes the session.
  auto hang_up = [&](std::string why) -> net::awaitable<void> {
    result.hung_up = why;
    if (!upload_finished() && stdin_has_more_now()) {
      const auto deadline = net::clock::now() + upload_grace;
      while (!upload_finished() && net::clock::now() < deadline) co_await up_done->wait(deadline);
    }
    if (!upload_finished() || !upload_shared->error.empty()) stream->reset(why);
    owner->close(why);  // after everything queued; the downloader ends with the session
    co_await wait_download();
  };

  auto first = co_await (wait_download() || interrupt.wait());
  if (first.index() == 1) {
    co_await hang_up(interrupt.reason());
  } else {
    if (output_closed) {
      co_await hang_up("the reader of our output left");  // (a program that closed its pipes is done)
    } else if (!down_error.empty()) {
      result.error = down_error;
      stream->reset(result.error);
    } else {
      // The other side has finished sending; we are done once our stdin has ended too, or the
      // stream fails (the peer hung up).
      while (!upload_finished() && stream->error().empty() && !interrupt.raised()) {
        co_await (up_done->wait() || stream->wait_failed() || interrupt.wait());
      }
      if (!upload_finished() && !stream->error().empty()) {
        result.error = "sending: " + stream->error();
      } else if (!upload_finished()) {
        co_await hang_up(interrupt.reason());
      }
    }
  }
  downloader.join();
  {
    std::lock_guard lock(upload_shared->mutex);
    result.upload_finished = upload_shared->done && upload_shared->error.empty();
    if (upload_shared->done && result.error.empty() && result.hung_up.empty()) result.error = upload_shared->error;
    upload_shared->abandoned = true;
    upload_shared->stream.reset();
    upload_shared->on_done = nullptr;
  }
  if (!result.hung_up.empty() && result.error.empty() && !result.upload_finished) {
    result.error = output_closed ? down_error : result.hung_up;
  }
  result.sent = upload_shared->sent;
  co_return result;
}

}  // namespace peer
