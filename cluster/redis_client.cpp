#include "cluster/redis_client.hpp"

#include <hiredis/hiredis.h>

#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <spdlog/spdlog.h>
#include <stdexcept>

#include "common/connect.hpp"
#include "common/endpoint.hpp"
#include "common/spawn.hpp"

namespace cluster {

namespace {

redis_reply convert(const redisReply* r) {
  redis_reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = redis_reply::kind::string;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = redis_reply::kind::status;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = redis_reply::kind::error;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = redis_reply::kind::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = redis_reply::kind::array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      out.type = redis_reply::kind::nil;
  }
  return out;
}

/// A command in Redis's wire format (hiredis formats it: binary-safe arguments).
std::string format(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  char* formatted = nullptr;
  const int n = redisFormatCommandArgv(&formatted, static_cast<int>(args.size()), argv.data(), lengths.data());
  if (n < 0 || !formatted) throw std::runtime_error("cannot format a Redis command");
  std::string out(formatted, static_cast<std::size_t>(n));
  redisFreeCommand(formatted);
  return out;
}

/// hiredis's reader, freed with its owner.
struct reader_deleter {
  void operator()(redisReader* r) const { redisReaderFree(r); }
};
using reader_ptr = std::unique_ptr<redisReader, reader_deleter>;

reader_ptr new_reader() {
  reader_ptr r(redisReaderCreate());
  if (!r) throw std::runtime_error("cannot create a Redis reply reader");
  return r;
}

/// Feeds `bytes` and hands every complete reply to `take`; returns an error text, empty if fine.
template <class Take>
std::string feed(redisReader* reader, const char* bytes, std::size_t n, std::size_t& unanswered, std::size_t limit,
                 Take&& take) {
  if (redisReaderFeed(reader, bytes, n) != REDIS_OK) return "the reply reader refused the bytes";
  unanswered += n;
  for (;;) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader, &raw) != REDIS_OK) {
      return std::string("a malformed reply from Redis: ") + (reader->errstr[0] ? reader->errstr : "?");
    }
    if (!raw) break;
    auto* reply = static_cast<redisReply*>(raw);
    auto converted = convert(reply);
    freeReplyObject(reply);
    unanswered = 0;
    take(std::move(converted));
  }
  if (unanswered > limit) return "a reply from Redis over " + std::to_string(limit / (1024 * 1024)) + " MiB";
  return {};
}

}  // namespace

namespace detail {

/// The command connection: state shared by the client and its read and write loops.
class redis_link : public std::enable_shared_from_this<redis_link> {
 public:
  redis_link(const asio::any_io_executor& ex, redis_address address, redis_options options)
      : executor_(ex), address_(std::move(address)), options_(options), socket_(ex), changed_(ex), wrote_(ex) {}

  net::awaitable<redis_reply> command(std::vector<std::string> args) {
    auto self = shared_from_this();
    while (state_ == state::connecting) co_await changed_.wait();
    if (closed_) co_return redis_reply::error(std::string(unavailable_prefix) + "the client is closed");
    if (state_ == state::down) {
      if (net::clock::now() < retry_at_) co_return redis_reply::error(unavailable_prefix + last_error_);
      const auto why = co_await connect();
      if (!why.empty()) co_return redis_reply::error(unavailable_prefix + why);
    }
    if (in_flight_.size() >= options_.max_in_flight) {
      co_return redis_reply::error(std::string(unavailable_prefix) + std::to_string(in_flight_.size()) +
                                   " commands are already waiting for Redis");
    }
    auto formatted = format(args);
    co_return co_await send(std::move(formatted));
  }

  void close() {
    closed_ = true;
    fail("the client is closed");
  }
  bool connected() const { return state_ == state::up; }

 private:
  enum class state { down, connecting, up };
  struct waiter {
    explicit waiter(const asio::any_io_executor& ex) : done(ex) {}
    std::optional<redis_reply> reply;
    bool abandoned = false;  ///< the connection failed before the reply came
    net::async_event done;
  };

  /// Queues a formatted command on the open connection and waits for its reply.
  net::awaitable<redis_reply> send(std::string formatted) {
    auto w = std::make_shared<waiter>(executor_);
    const auto generation = generation_;
    out_ += formatted;
    in_flight_.push_back(w);
    wrote_.notify_all();
    const auto deadline = net::clock::now() + options_.command_timeout;
    while (!w->reply && !w->abandoned) {
      if (!co_await w->done.wait(deadline) && !w->reply && !w->abandoned) {
        if (generation == generation_) {
          fail("Redis did not answer within " + std::to_string(options_.command_timeout.count()) + " ms");
        }
        break;
      }
    }
    if (!w->reply) co_return redis_reply::error(unavailable_prefix + last_error_);
    co_return std::move(*w->reply);
  }

  /// Connects, authenticates and selects the database; returns why not, empty when up.
  net::awaitable<std::string> connect() {
    state_ = state::connecting;
    socket_ = net::tcp::socket(executor_);
    // (Named locals, not temporaries, inside co_await: GCC 12 mishandles those.)
    const net::host_port target{address_.host, address_.port};
    const auto ec = co_await net::connect_within(socket_, target, options_.connect_timeout);
    std::string why;
    if (ec) {
      why = "cannot reach Redis at " + address_.display() + ": " + ec.message();
    } else if (closed_) {
      // Closed while the name was resolving (the connect reopened the socket): stay closed.
      why = "the client is closed";
    } else {
      std::error_code ignored;
      socket_.set_option(net::tcp::no_delay(true), ignored);
      reader_ = new_reader();
      ++generation_;
      state_ = state::up;  // (commands from now on queue behind AUTH and SELECT: replies come in order)
      asio::co_spawn(executor_, read_loop(shared_from_this(), generation_), net::log_escaped("redis read"));
      asio::co_spawn(executor_, write_loop(shared_from_this(), generation_), net::log_escaped("redis write"));
      if (!address_.password.empty()) {
        auto command = format({"AUTH", address_.password});
        const auto auth = co_await send(std::move(command));
        if (auth.is_error()) why = "Redis refused our password: " + auth.text;
      }
      if (why.empty() && address_.db != 0) {
        auto command = format({"SELECT", std::to_string(address_.db)});
        const auto select = co_await send(std::move(command));
        if (select.is_error()) why = "Redis refused database " + std::to_string(address_.db) + ": " + select.text;
      }
    }
    if (!why.empty()) {
      fail(why);
      backoff_ = backoff_.count() == 0 ? options_.first_backoff : std::min(options_.max_backoff, backoff_ * 2);
      retry_at_ = net::clock::now() + backoff_;
    } else {
      if (!was_up_ || backoff_.count() != 0) spdlog::info("cluster: connected to {}", address_.display());
      was_up_ = true;
      backoff_ = {};
    }
    changed_.notify_all();
    co_return why;
  }

  static net::awaitable<void> read_loop(std::shared_ptr<redis_link> self, std::uint64_t generation) {
    std::vector<char> buffer(64 * 1024);
    std::size_t unanswered = 0;
    while (generation == self->generation_ && self->state_ != state::down) {
      auto [ec, n] = co_await self->socket_.async_read_some(asio::buffer(buffer), net::use_nothrow);
      if (generation != self->generation_) co_return;
      if (ec) {
        self->fail(ec == asio::error::eof ? "Redis closed the connection" : "the connection to Redis failed: " + ec.message());
        co_return;
      }
      std::string unexpected;
      const auto error = feed(self->reader_.get(), buffer.data(), n, unanswered, self->options_.max_reply_bytes,
                              [&](redis_reply reply) {
                                if (self->in_flight_.empty()) {
                                  unexpected = "a reply nobody asked for";
                                  return;
                                }
                                auto w = std::move(self->in_flight_.front());
                                self->in_flight_.pop_front();
                                w->reply = std::move(reply);
                                w->done.notify_all();
                              });
      if (!error.empty() || !unexpected.empty()) {
        self->fail(error.empty() ? unexpected : error);
        co_return;
      }
    }
  }

  static net::awaitable<void> write_loop(std::shared_ptr<redis_link> self, std::uint64_t generation) {
    std::string writing;
    for (;;) {
      while (self->out_.empty() && generation == self->generation_ && self->state_ != state::down) {
        co_await self->wrote_.wait();
      }
      if (generation != self->generation_ || self->state_ == state::down) co_return;
      writing.clear();
      writing.swap(self->out_);
      auto [ec, n] = co_await asio::async_write(self->socket_, asio::buffer(writing), net::use_nothrow);
      if (generation != self->generation_) co_return;
      if (ec) {
        self->fail("sending to Redis failed: " + ec.message());
        co_return;
      }
    }
  }

  /// The connection is lost: every waiting command fails with `why`; the next command reconnects.
  void fail(const std::string& why) {
    // (Not when we closed it ourselves: nothing was lost.)
    if (state_ == state::up && was_up_ && !closed_) spdlog::warn("cluster: lost {}: {}", address_.display(), why);
    last_error_ = why;
    state_ = state::down;
    ++generation_;
    std::error_code ignored;
    socket_.close(ignored);
    out_.clear();
    auto waiting = std::move(in_flight_);
    in_flight_.clear();
    for (auto& w : waiting) {
      w->abandoned = true;  // no reply: they fail with last_error_
      w->done.notify_all();
    }
    wrote_.notify_all();
  }

  asio::any_io_executor executor_;
  redis_address address_;
  redis_options options_;
  net::tcp::socket socket_;
  reader_ptr reader_;
  state state_ = state::down;
  bool closed_ = false;
  bool was_up_ = false;
  std::uint64_t generation_ = 0;  ///< which connection the loops belong to
  std::string out_;                ///< formatted commands not yet written
  std::deque<std::shared_ptr<waiter>> in_flight_;
  std::string last_error_ = "not connected yet";
  std::chrono::milliseconds backoff_{0};
  net::clock::time_point retry_at_{};
  net::async_event changed_;  ///< a connect finished
  net::async_event wrote_;    ///< commands to write, or the connection ended
};

}  // namespace detail

redis_client::redis_client(const asio::any_io_executor& ex, redis_address address, redis_options options)
    : address_(address), link_(std::make_shared<detail::redis_link>(ex, std::move(address), options)) {}

redis_client::~redis_client() { link_->close(); }

net::awaitable<redis_reply> redis_client::command(std::vector<std::string> args) {
  auto link = link_;  // the client may go while we wait
  co_return co_await link->command(std::move(args));
}

bool redis_client::connected() const { return link_->connected(); }
void redis_client::close() { link_->close(); }

struct redis_subscriber::state {
  state(const asio::any_io_executor& ex, redis_address a, std::vector<std::string> c, handler h,
        std::function<void(bool)> s, redis_options o)
      : executor(ex), address(std::move(a)), channels(std::move(c)), on_message(std::move(h)), on_state(std::move(s)),
        options(o), socket(ex), pause(ex) {}
  asio::any_io_executor executor;
  redis_address address;
  std::vector<std::string> channels;
  handler on_message;
  std::function<void(bool)> on_state;
  redis_options options;
  net::tcp::socket socket;
  asio::steady_timer pause;
  bool closed = false;
};

redis_subscriber::redis_subscriber(const asio::any_io_executor& ex, redis_address address, std::vector<std::string> channels,
                                   handler on_message, std::function<void(bool)> on_state, redis_options options)
    : state_(std::make_shared<state>(ex, std::move(address), std::move(channels), std::move(on_message),
                                     std::move(on_state), options)) {}

redis_subscriber::~redis_subscriber() { close(); }

void redis_subscriber::start() { asio::co_spawn(state_->executor, run(), net::log_escaped("redis subscriber")); }

void redis_subscriber::close() {
  state_->closed = true;
  std::error_code ignored;
  state_->socket.close(ignored);
  state_->pause.cancel();
}

net::awaitable<void> redis_subscriber::run() {
  auto s = state_;  // this object may be destroyed while we run
  std::chrono::milliseconds backoff{0};
  while (!s->closed) {
    s->socket = net::tcp::socket(s->executor);
    const net::host_port target{s->address.host, s->address.port};
    auto ec = co_await net::connect_within(s->socket, target, s->options.connect_timeout);
    std::string why = ec ? "cannot reach Redis at " + s->address.display() + ": " + ec.message() : "";
    if (why.empty()) {
      std::string out;
      if (!s->address.password.empty()) out += format({"AUTH", s->address.password});
      std::vector<std::string> subscribe{"SUBSCRIBE"};
      subscribe.insert(subscribe.end(), s->channels.begin(), s->channels.end());
      out += format(subscribe);
      auto [wec, n] = co_await asio::async_write(s->socket, asio::buffer(out), net::use_nothrow);
      if (wec) why = "sending to Redis failed: " + wec.message();
    }
    if (why.empty()) {
      auto reader = new_reader();
      std::vector<char> buffer(64 * 1024);
      std::size_t unanswered = 0, confirmed = 0;
      bool up = false;
      while (why.empty() && !s->closed) {
        auto [rec, n] = co_await s->socket.async_read_some(asio::buffer(buffer), net::use_nothrow);
        if (rec) {
          why = rec == asio::error::eof ? "Redis closed the connection" : "the connection to Redis failed: " + rec.message();
          break;
        }
        std::string refused;
        why = feed(reader.get(), buffer.data(), n, unanswered, s->options.max_reply_bytes, [&](redis_reply reply) {
          if (reply.is_error()) {
            refused = "Redis refused the subscription: " + reply.text;
            return;
          }
          if (reply.type != redis_reply::kind::array || reply.elements.size() < 3) return;  // AUTH's OK
          const auto& what = reply.elements[0].text;
          if (what == "subscribe" && ++confirmed == s->channels.size() && !up) {
            up = true;
            backoff = {};
            if (s->on_state) s->on_state(true);
          } else if (what == "message" && s->on_message) {
            s->on_message(reply.elements[1].text, reply.elements[2].text);
          }
        });
        if (why.empty()) why = refused;
      }
      if (up && s->on_state) s->on_state(false);
    }
    if (s->closed) co_return;
    spdlog::warn("cluster: subscription to {} lost: {}", s->address.display(), why);
    backoff = backoff.count() == 0 ? s->options.first_backoff : std::min(s->options.max_backoff, backoff * 2);
    s->pause.expires_after(backoff);
    co_await s->pause.async_wait(net::use_nothrow);
  }
}

}  // namespace cluster
