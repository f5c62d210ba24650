#include "rendezvous/control_socket.hpp"

#include <sys/stat.h>
#include <sys/un.h>

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <spdlog/spdlog.h>

#include "common/spawn.hpp"

namespace rendezvous {

using namespace asio::experimental::awaitable_operators;
using local = asio::local::stream_protocol;

namespace {

constexpr std::size_t max_request = 4096;
constexpr int max_connections = static_cast<int>(control_descriptors) - 2;
constexpr auto request_time = std::chrono::seconds(2);

/// Whether a server answers at `path`.
bool someone_listens(const std::filesystem::path& path) {
  asio::io_context io;
  local::socket probe(io);
  std::error_code ec;
  probe.connect(local::endpoint(path.string()), ec);
  return !ec;
}

}  // namespace

struct control_socket::state {
  explicit state(asio::io_context& io) : acceptor(io) {}
  local::acceptor acceptor;
  handler answer;
  int connections = 0;
};

std::filesystem::path control_socket_path(const std::filesystem::path& state_dir) { return state_dir / "control.sock"; }

control_socket::control_socket(asio::io_context& io, std::filesystem::path path, handler answer)
    : state_(std::make_shared<state>(io)), path_(std::move(path)) {
  state_->answer = std::move(answer);
  if (path_.string().size() >= sizeof(sockaddr_un{}.sun_path)) {
    throw std::runtime_error("the operator socket path " + path_.string() + " is too long for a Unix socket");
  }
  // (A cluster node keeps nothing else there, so the directory may not exist yet.)
  std::error_code made;
  std::filesystem::create_directories(path_.parent_path(), made);
  if (made) throw std::runtime_error("cannot create state directory " + path_.parent_path().string() + ": " + made.message());
  if (std::filesystem::exists(path_)) {
    if (someone_listens(path_)) {
      throw state_in_use_error("another server is running with this state directory (it answers on " + path_.string() + ")");
    }
    std::filesystem::remove(path_);  // left by a server that did not stop cleanly
  }
  const mode_t old_mask = ::umask(0177);  // created 0600: only this user may ask
  std::error_code ec;
  state_->acceptor.open(local(), ec);
  if (!ec) state_->acceptor.bind(local::endpoint(path_.string()), ec);
  ::umask(old_mask);
  if (!ec) state_->acceptor.listen(8, ec);
  if (ec) throw std::runtime_error("cannot listen on the operator socket " + path_.string() + ": " + ec.message());
  ::chmod(path_.c_str(), 0600);
  asio::co_spawn(io, [](std::shared_ptr<state> s) -> net::awaitable<void> {
    for (;;) {
      auto [ec, socket] = co_await s->acceptor.async_accept(net::use_nothrow);
      if (ec == asio::error::operation_aborted || !s->acceptor.is_open()) co_return;
      if (ec || s->connections >= max_connections) continue;  // (a refused one is closed)
      asio::co_spawn(s->acceptor.get_executor(), [](std::shared_ptr<state> s, local::socket socket) -> net::awaitable<void> {
        ++s->connections;
        struct release {
          state& s;
          ~release() { --s.connections; }
        } held{*s};
        std::string line;
        asio::steady_timer timer(socket.get_executor(), request_time);
        auto read = co_await (asio::async_read_until(socket, asio::dynamic_buffer(line, max_request), '\n', net::use_nothrow) ||
                              timer.async_wait(net::use_nothrow));
        if (read.index() != 0) co_return;  // slow
        const auto [read_ec, length] = std::get<0>(read);
        if (read_ec) co_return;  // oversized or gone
        nlohmann::json reply;
        const auto request = nlohmann::json::parse(line.substr(0, length), nullptr, false);
        if (!request.is_object()) {
          reply = {{"error", "a request is one JSON object on a line"}};
        } else {
          try {
            reply = s->answer(request);
          } catch (const std::exception& e) {
            reply = {{"error", e.what()}};
          }
        }
        const auto text = reply.dump() + "\n";
        co_await asio::async_write(socket, asio::buffer(text), net::use_nothrow);
      }(s, std::move(socket)), asio::detached);
    }
  }(state_), net::log_escaped("operator socket"));
}

control_socket::~control_socket() {
  std::error_code ignored;
  state_->acceptor.close(ignored);
  std::filesystem::remove(path_, ignored);
}

nlohmann::json ask_server(const std::filesystem::path& path, const nlohmann::json& request) {
  if (!std::filesystem::exists(path)) {
    throw std::runtime_error("no server is running with this state directory (no " + path.string() + ")");
  }
  asio::io_context io;
  local::socket socket(io);
  std::error_code ec;
  socket.connect(local::endpoint(path.string()), ec);
  if (ec) throw std::runtime_error("no server answers on " + path.string() + ": " + ec.message());
  const auto text = request.dump() + "\n";
  asio::write(socket, asio::buffer(text), ec);
  std::string line;
  bool done = false;
  asio::async_read_until(socket, asio::dynamic_buffer(line, 16 << 20), '\n', [&](std::error_code read_ec, std::size_t) {
    ec = read_ec;
    done = true;
  });
  io.run_for(std::chrono::seconds(5));
  if (!done) throw std::runtime_error("the server did not answer on " + path.string() + " within 5 s");
  if (ec) throw std::runtime_error("the server closed " + path.string() + " without answering: " + ec.message());
  auto reply = nlohmann::json::parse(line, nullptr, false);
  if (!reply.is_object()) throw std::runtime_error("the server's answer is not JSON");
  return reply;
}

}  // namespace rendezvous
