#include "rendezvous/metrics_endpoint.hpp"

#include <microhttpd.h>

#include <cstdarg>
#include <cstdio>
#include <string_view>

#include <spdlog/spdlog.h>

#include "common/endpoint.hpp"

namespace rendezvous {
namespace {

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
  return reply(connection, MHD_HTTP_OK, static_cast<const metrics_endpoint*>(self)->latest(), content_type);
}

/// libmicrohttpd's complaints go to our log (plain stderr would break --log-format json).
void log_from_daemon(void*, const char* format, va_list args) {
  char line[512];
  std::vsnprintf(line, sizeof line, format, args);
  std::string_view text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  spdlog::warn("metrics: {}", text);
}

}  // namespace

metrics_endpoint::metrics_endpoint(asio::io_context& io, const net::tcp::endpoint& where) {
  // Bound here, so a taken port or a bad address reads like every other listener's error.
  net::tcp::acceptor acceptor(io);
  std::error_code ec;
  acceptor.open(where.protocol(), ec);
  if (!ec) acceptor.set_option(net::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(where, ec);
  if (!ec) acceptor.listen(64, ec);
  if (ec) throw std::runtime_error("cannot listen for metrics on " + net::to_string(where) + ": " + ec.message());
  port_ = acceptor.local_endpoint().port();
  const int fd = acceptor.release();  // (libmicrohttpd closes it when it stops)
  // epoll, not select: the server's descriptors run far past FD_SETSIZE. Small limits: scrapers
  // are few, and nobody may hold the port's connections for long.
  daemon_ = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, nullptr, nullptr, &answer, this,
                             MHD_OPTION_EXTERNAL_LOGGER, &log_from_daemon, nullptr, MHD_OPTION_LISTEN_SOCKET, fd,
                             MHD_OPTION_CONNECTION_LIMIT, max_metrics_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, 8u,
                             MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                             static_cast<size_t>(64 * 1024), MHD_OPTION_END);
  if (!daemon_) throw std::runtime_error("cannot serve metrics on " + net::to_string(where) + " (libmicrohttpd did not start)");
  spdlog::info("metrics at http://{}/metrics", net::to_string(net::tcp::endpoint(where.address(), port_)));
}

metrics_endpoint::~metrics_endpoint() {
  if (daemon_) MHD_stop_daemon(daemon_);  // (joins its thread, which never waits for ours)
}

void metrics_endpoint::publish(std::string text) {
  const std::lock_guard lock(mutex_);
  text_ = std::move(text);
}

std::string metrics_endpoint::latest() const {
  const std::lock_guard lock(mutex_);
  return text_;
}

}  // namespace rendezvous
