// Inside src/io: our Addr and the socket API's addresses.
#pragma once

#include "darkchat/types.hpp"

#include <sys/socket.h>

namespace dc::io {

Addr from_sockaddr(const sockaddr* sa);
socklen_t to_sockaddr(const Addr& a, sockaddr_storage& ss);

}  // namespace dc::io
