#include "nat/punch.hpp"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <memory>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <spdlog/spdlog.h>

#include "common/async_signal.hpp"
#include "common/connect.hpp"
#include "common/endpoint.hpp"
#include "common/frame_reader.hpp"
#include "common/socket_registry.hpp"
#include "common/spawn.hpp"
#include "nat/reuse_socket.hpp"

namespace nat {
namespace {

using namespace asio::experimental::awaitable_operators;
using net::tcp;

/// State shared by the tasks of one punch. Lives until the last task has finished.
struct punch_state {
  punch_state(const asio::any_io_executor& ex, std::vector<tcp::acceptor*> l, punch_request r)
      : executor(ex), listeners(std::move(l)), request(std::move(r)), decided(ex), tasks_done(ex) {}

  /// The listener of `family`'s shared port, if any.
  tcp::acceptor* listener_for(const tcp& family) const {
    for (auto* listener : listeners) {
      if (listener->local_endpoint().protocol() == family) return listener;
    }
    return nullptr;
  }

  asio::any_io_executor executor;
  std::vector<tcp::acceptor*> listeners;
  punch_request request;
  bool finished = false;  ///< a winner was chosen or the deadline passed: tasks stop
  std::optional<punch_success> winner;
  net::async_signal decided;
  net::async_signal tasks_done;
  int active_tasks = 0;
  net::socket_registry live_sockets;  ///< closed when the punch ends
  std::set<asio::steady_timer*> pauses;  ///< dialers' timers, cancelled when the punch ends
  // For the failure summary a user reads.
  /// candidate -> error -> count (formatted only for the summary: refused SYNs come every few ms)
  std::map<std::string, std::map<std::error_code, int>> connect_errors;
  int accepted = 0;
  std::vector<std::string> rejected;  ///< connections that failed the attempt handshake
};

void declare_winner(punch_state& state, tcp::socket& socket, wire::frame_reader& reader) {
  std::error_code ec;
  auto remote = socket.remote_endpoint(ec);
  state.winner = punch_success{std::move(socket), reader.take_leftover(), remote};
  state.decided.notify();
}

/// Runs the attempt handshake on a fresh connection; the chosen one becomes the winner.
net::awaitable<void> authenticate(std::shared_ptr<punch_state> state, tcp::socket socket) {
  net::socket_registry::entry registration(state->live_sockets, socket);
  std::error_code ec;
  const auto remote = net::to_string(socket.remote_endpoint(ec));
  socket.set_option(tcp::no_delay(true), ec);
  const auto& secret = state->request.secret;
  const role mine = state->request.mine;

  wire::frame_reader reader;
  const auto hellos = co_await exchange_hellos(socket, reader, secret, mine);
  if (state->finished) co_return;
  if (!hellos.error.empty()) {
    spdlog::info("punch: dropped connection with {}: {}", remote, hellos.error);
    state->rejected.push_back(remote + " (" + hellos.error + ")");
    co_return;
  }

  if (mine == role::initiator) {
    // First authenticated connection wins; tell the responder which one.
    state->finished = true;
    if (auto write_error = co_await send_select(socket, hellos)) {
      spdlog::warn("punch: could not select {}: {}", remote, write_error.message());
      state->decided.notify();
      co_return;
    }
    declare_winner(*state, socket, reader);
    co_return;
  }
  // Responder: wait for the initiator to select this connection (or close it).
  const bool selected = co_await await_select(socket, reader, hellos);
  if (state->finished) co_return;
  if (!selected) {
    spdlog::debug("punch: {} authenticated but not selected", remote);
    co_return;
  }
  state->finished = true;
  declare_winner(*state, socket, reader);
}

void spawn_task(const std::shared_ptr<punch_state>& state, net::awaitable<void> task, const char* name) {
  ++state->active_tasks;
  asio::co_spawn(state->executor, std::move(task),
                 [state, log = net::log_escaped(name)](std::exception_ptr error) {
                   log(error);
                   if (--state->active_tasks == 0) state->tasks_done.notify();
                 });
}

/// Keeps dialing one candidate from its family's shared port (after `delay`) until connected,
/// finished, or past the deadline.
net::awaitable<void> dial(std::shared_ptr<punch_state> state, tcp::endpoint candidate, std::uint16_t local_port,
                          std::chrono::milliseconds delay) {
  const auto name = net::to_string(candidate);
  asio::steady_timer timer(state->executor);
  // The punch's end cuts every pause short: it returns when its last task has (a dialer asleep
  // for its retry after an "address in use", say, when the other side's SYN won, must not hold
  // the winner back for 100 ms).
  struct registered_pause {
    punch_state& state;
    asio::steady_timer* timer;
    ~registered_pause() { state.pauses.erase(timer); }
  } pause{*state, &timer};
  state->pauses.insert(&timer);
  if (delay.count() > 0) {
    timer.expires_after(delay);
    co_await timer.async_wait(net::use_nothrow);
  }
  std::minstd_rand rng(std::random_device{}());
  while (!state->finished && net::clock::now() < state->request.deadline) {
    tcp::socket socket = open_shared_dialer(state->executor, local_port, candidate.protocol());
    std::error_code ec;
    {
      net::socket_registry::entry registration(state->live_sockets, socket);
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(state->request.deadline - net::clock::now());
      ec = co_await net::connect_within(socket, candidate, std::min(left, state->request.connect_try_timeout));
    }
    if (state->finished) co_return;
    if (!ec) {
      spdlog::debug("punch: connected to {}", name);
      co_await authenticate(state, std::move(socket));
      co_return;  // authenticated or not, this candidate has answered
    }
    ++state->connect_errors[name][ec];
    if (spdlog::should_log(spdlog::level::trace)) spdlog::trace("punch: dialing {} failed: {}", name, ec.message());
    // A NAT that answers an early SYN with RST must not end the attempt: pause and dial again.
    const auto& request = state->request;
    if (ec == asio::error::connection_refused) {
      std::uniform_int_distribution<long> jitter(0, request.refused_retry_interval.count() * 1000);
      timer.expires_after(request.refused_retry_interval + std::chrono::microseconds(jitter(rng)));
    } else {
      timer.expires_after(request.retry_interval);
    }
    co_await timer.async_wait(net::use_nothrow);
  }
}

/// Accepts connections on one shared port (the other side's SYNs that got through our NAT).
net::awaitable<void> accept_all(std::shared_ptr<punch_state> state, tcp::acceptor* listener) {
  while (!state->finished) {
    auto [ec, socket] = co_await listener->async_accept(net::use_nothrow);
    if (state->finished) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      spdlog::debug("punch: accept failed: {}", ec.message());
      continue;
    }
    ++state->accepted;
    spawn_task(state, authenticate(state, std::move(socket)), "punch-authenticate");
  }
}

std::string summarize(const punch_state& state) {
  std::string text;
  for (const auto& [candidate, errors] : state.connect_errors) {
    text += (text.empty() ? "" : "; ") + candidate + ":";
    for (const auto& [error, count] : errors) text += " " + error.message() + " x" + std::to_string(count);
  }
  if (text.empty()) text = "no connect attempt failed";
  text += "; " + std::to_string(state.accepted) + " inbound connection(s) accepted";
  for (const auto& rejected : state.rejected) text += "; rejected " + rejected;
  return text;
}

}  // namespace

net::awaitable<punch_outcome> punch(tcp::acceptor& listener, punch_request request) {
  const std::vector<tcp::acceptor*> listeners{&listener};
  co_return co_await punch(listeners, std::move(request));
}

net::awaitable<punch_outcome> punch(const std::vector<tcp::acceptor*>& listeners, punch_request request) {
  auto state = std::make_shared<punch_state>(listeners.front()->get_executor(), listeners, std::move(request));
  for (auto* listener : state->listeners) spawn_task(state, accept_all(state, listener), "punch-accept");
  auto* v6 = state->listener_for(tcp::v6());
  const bool any_v6 = v6 && std::any_of(state->request.candidates.begin(), state->request.candidates.end(),
                                        [](const tcp::endpoint& c) { return c.address().is_v6(); });
  for (const auto& candidate : state->request.candidates) {
    auto* listener = state->listener_for(candidate.protocol());
    if (!listener) continue;  // no socket of that family here: it cannot be punched from our port
    const auto delay = candidate.address().is_v4() && any_v6 ? state->request.ipv4_delay : std::chrono::milliseconds(0);
    spawn_task(state, dial(state, candidate, listener->local_endpoint().port(), delay), "punch-dial");
  }

  while (!state->winner && net::clock::now() < state->request.deadline) {
    co_await state->decided.wait(state->request.deadline);
    if (state->finished && !state->winner) break;  // selected, but the select write failed
  }
  state->finished = true;
  std::error_code ignored;
  for (auto* timer : state->pauses) timer->cancel();
  for (auto* listener : state->listeners) listener->cancel(ignored);
  state->live_sockets.close_all();
  while (state->active_tasks > 0) co_await state->tasks_done.wait();

  punch_outcome outcome;
  outcome.summary = summarize(*state);
  outcome.winner = std::move(state->winner);
  co_return outcome;
}

}  // namespace nat
