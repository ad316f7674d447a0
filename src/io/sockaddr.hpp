// Inside src/io: our Addr and the socket API's addresses.
#pragma once

#include "darkchat/types.hpp"

#include <sys/socket.h>

#include <span>

namespace dc::io {

Addr from_sockaddr(const sockaddr* sa);
socklen_t to_sockaddr(const Addr& a, sockaddr_storage& ss);

// One datagram waiting to be sent.
struct Datagram {
    Bytes data;
    sockaddr_storage to;
    socklen_t to_len = 0;
};

// Sends out[first...] on the UDP socket fd with sendmmsg(2), several per system
// call and never blocking, as far as the socket takes them. Returns the index
// of the first datagram not sent (out.size(): all were). failed: that one was
// refused on its own (not because the socket's buffer is full), so the caller
// may hand it on to where such a datagram is dropped and go on with the next.
std::size_t send_many(int fd, std::span<const Datagram> out, std::size_t first, bool& failed);

}  // namespace dc::io
