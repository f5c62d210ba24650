// The hole-assist port: a peer connects from the local port it will punch from, proves it belongs
// to an attempt, and learns the NAT-mapped endpoint the server saw. The connection stays open
// (keeping the NAT mapping alive) until the peer closes it or the attempt window ends.
//
//   peer -> {"type":"hole","attempt":ID,"role":"initiator|responder","proof":HMAC(token,"hole:"+role),
//            "private":["IP:PORT",...]}
//   server -> {"type":"observed","endpoint":"IP:PORT"}   or   {"type":"error",...}
#pragma once
#include "common/net.hpp"
#include "rendezvous/admission.hpp"

namespace rendezvous {

struct server_context;

/// Serves one hole-assist connection.
net::awaitable<void> serve_hole_assist(server_context& context, net::tcp::socket socket, admission_ticket ticket);

}  // namespace rendezvous
