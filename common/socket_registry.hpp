// Keeps track of open sockets so one call can close them all (end of a punch, server shutdown).
#pragma once
#include <list>

#include "common/net.hpp"

namespace net {

/// A list of live sockets; entries remove themselves when their scope ends.
class socket_registry {
 public:
  /// Registration of one socket; unregisters on destruction. The socket must outlive it.
  class entry {
   public:
    entry(socket_registry& registry, tcp::socket& socket)
        : registry_(registry), it_(registry.sockets_.insert(registry.sockets_.end(), &socket)) {}
    ~entry() { registry_.sockets_.erase(it_); }
    entry(const entry&) = delete;
    entry& operator=(const entry&) = delete;

   private:
    socket_registry& registry_;
    std::list<tcp::socket*>::iterator it_;
  };

  /// Closes every registered socket (their pending operations complete with operation_aborted).
  void close_all() {
    std::error_code ignored;
    for (auto* socket : sockets_) socket->close(ignored);
  }

 private:
  std::list<tcp::socket*> sockets_;
};

}  // namespace net
