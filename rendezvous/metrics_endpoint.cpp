#include "rendezvous/metrics_endpoint.hpp"

#include <microhttpd.h>

#include <unistd.h>

#include <future>
#include <optional>
#include <string_view>

#include <asio/post.hpp>
#include <spdlog/spdlog.h>

#include "common/endpoint.hpp"

namespace rendezvous {
namespace {

constexpr auto render_timeout = std::chrono::seconds(2);
constexpr const char* content_type = "text/plain; version=0.0.4; charset=utf-8";

/// Queues a plain-text reply.
MHD_Result reply(MHD_Connection* connection, unsigned int status, const std::string& body,
                 const char* type = "text/plain; charset=utf-8") {
  auto* response = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (!response) return MHD_NO;
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  const auto queued = MHD_queue_response(connection, status, response);
  MHD_destroy_response(response);
  return queued;
}

MHD_Result answer(void* self, MHD_Connection* connection, const char* url, const char* method, const char*,
                  const char*, size_t* upload_size, void**) {
  const std::string_view verb(method);
  if (verb != MHD_HTTP_METHOD_GET && verb != MHD_HTTP_METHOD_HEAD) {
    *upload_size = 0;  // (the body, if any, is not read)
    return reply(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics is served here\n");
  }
  if (std::string_view(url) != "/metrics") return reply(connection, MHD_HTTP_NOT_FOUND, "only /metrics is served here\n");
  auto text = static_cast<const metrics_endpoint*>(self)->render_on_server_thread();
  if (!text) return reply(connection, MHD_HTTP_SERVICE_UNAVAILABLE, "the server did not answer in time\n");
  return reply(connection, MHD_HTTP_OK, *text, content_type);
}

}  // namespace

metrics_endpoint::metrics_endpoint(asio::io_context& io, const net::tcp::endpoint& where, render_fn render)
    : io_(io), render_(std::make_shared<render_fn>(std::move(render))) {
  // Bound here, so a taken port or a bad address reads like every other listener's error.
  net::tcp::acceptor acceptor(io);
  std::error_code ec;
  acceptor.open(where.protocol(), ec);
  if (!ec) acceptor.set_option(net::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(where, ec);
  if (!ec) acceptor.listen(64, ec);
  if (ec) throw std::runtime_error("cannot listen for metrics on " + net::to_string(where) + ": " + ec.message());
  port_ = acceptor.local_endpoint().port();
  const int fd = acceptor.release();
  // Small limits: scrapers are few, and nobody may hold the port's connections open.
  daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, nullptr, nullptr, &answer, this,
                             MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, 32u,
                             MHD_OPTION_PER_IP_CONNECTION_LIMIT, 8u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<size_t>(64 * 1024), MHD_OPTION_END);
  if (!daemon_) {
    ::close(fd);
    throw std::runtime_error("cannot serve metrics on " + net::to_string(where) + " (libmicrohttpd did not start)");
  }
  spdlog::info("metrics at http://{}/metrics", net::to_string(net::tcp::endpoint(where.address(), port_)));
}

metrics_endpoint::~metrics_endpoint() {
  if (daemon_) MHD_stop_daemon(daemon_);  // (joins its thread: a scrape waiting on us gives up within 2 s)
}

std::optional<std::string> metrics_endpoint::render_on_server_thread() const {
  auto done = std::make_shared<std::promise<std::string>>();
  auto text = done->get_future();
  asio::post(io_, [done, render = render_] {
    try {
      done->set_value((*render)());
    } catch (...) {
      done->set_exception(std::current_exception());
    }
  });
  if (text.wait_for(render_timeout) != std::future_status::ready) return std::nullopt;
  try {
    return text.get();
  } catch (const std::exception& e) {
    spdlog::warn("metrics: rendering failed: {}", e.what());
    return std::nullopt;
  }
}

}  // namespace rendezvous
