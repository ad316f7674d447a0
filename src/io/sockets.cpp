// The UDP socket and TCP listener of a process, bound on one port number
// before anything else is touched (io.hpp), and the address conversions the
// driver shares with them.
#include "darkchat/io.hpp"

#include "sockaddr.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace dc::io {

namespace {

// Socket receive buffer asked for, so that a burst of datagrams is queued
// rather than dropped (the default, about 208 KiB, overflowed under a burst
// of acked chat). The kernel caps it at net.core.rmem_max unless we may
// exceed that (CAP_NET_ADMIN: SO_RCVBUFFORCE); what we got is logged once.
constexpr int kUdpRecvBuffer = 4 * 1024 * 1024;

// Asks for a large UDP receive buffer; says once when it got less.
void raise_recv_buffer(int fd, const std::string& log_name) {
    int want = kUdpRecvBuffer;
    // Privileged processes may go past rmem_max; others get at most rmem_max.
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0)
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
    int got = 0;
    socklen_t len = sizeof got;
    ::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
    // Linux reports twice the usable size (it counts its bookkeeping).
    if (got / 2 < want) {
        std::fprintf(stderr,
                     "%s: UDP receive buffer is %d KiB, not the %d KiB asked for (raise net.core.rmem_max to allow it)\n",
                     log_name.c_str(), got / 2 / 1024, want / 1024);
    }
}

}  // namespace

std::size_t send_many(int fd, std::span<const Datagram> out, std::size_t first, bool& failed) {
    constexpr std::size_t kPerCall = 64;
    failed = false;
    mmsghdr msgs[kPerCall];
    iovec iov[kPerCall];
    std::size_t i = first;
    while (i < out.size()) {
        std::size_t k = std::min(out.size() - i, kPerCall);
        for (std::size_t j = 0; j < k; ++j) {
            const Datagram& d = out[i + j];
            iov[j].iov_base = const_cast<std::uint8_t*>(d.data.data());
            iov[j].iov_len = d.data.size();
            msgs[j] = {};
            msgs[j].msg_hdr.msg_name = const_cast<sockaddr_storage*>(&d.to);
            msgs[j].msg_hdr.msg_namelen = d.to_len;
            msgs[j].msg_hdr.msg_iov = &iov[j];
            msgs[j].msg_hdr.msg_iovlen = 1;
        }
        int n = ::sendmmsg(fd, msgs, static_cast<unsigned>(k), MSG_DONTWAIT);
        if (n > 0) {
            i += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        failed = n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS;
        break;
    }
    return i;
}

Addr from_sockaddr(const sockaddr* sa) {
    Addr a;
    if (sa->sa_family == AF_INET) {
        auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        a.family = 4;
        std::memcpy(a.ip.data(), &in->sin_addr, 4);
        a.port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        a.family = 6;
        std::memcpy(a.ip.data(), &in6->sin6_addr, 16);
        a.port = ntohs(in6->sin6_port);
    }
    return a;
}

socklen_t to_sockaddr(const Addr& a, sockaddr_storage& ss) {
    std::memset(&ss, 0, sizeof ss);
    if (a.family == 4) {
        auto* in = reinterpret_cast<sockaddr_in*>(&ss);
        in->sin_family = AF_INET;
        std::memcpy(&in->sin_addr, a.ip.data(), 4);
        in->sin_port = htons(a.port);
        return sizeof(sockaddr_in);
    }
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    std::memcpy(&in6->sin6_addr, a.ip.data(), 16);
    in6->sin6_port = htons(a.port);
    return sizeof(sockaddr_in6);
}

Sockets::~Sockets() {
    if (udp_ >= 0) ::close(udp_);
    if (tcp_ >= 0) ::close(tcp_);
}

Sockets::Sockets(Sockets&& o) noexcept : udp_(o.udp_), tcp_(o.tcp_), port_(o.port_) { o.udp_ = o.tcp_ = -1; }

Sockets& Sockets::operator=(Sockets&& o) noexcept {
    if (this != &o) {
        Sockets gone(std::move(*this));
        udp_ = o.udp_;
        tcp_ = o.tcp_;
        port_ = o.port_;
        o.udp_ = o.tcp_ = -1;
    }
    return *this;
}

std::pair<int, int> Sockets::release() {
    std::pair<int, int> fds{udp_, tcp_};
    udp_ = tcp_ = -1;
    return fds;
}

Result<Sockets> bind(const Options& opts) {
    // UDP and TCP on the same port number. With port 0 (or a taken port when a
    // fallback is allowed) the kernel picks the UDP port and TCP must get the same.
    const int attempts = 32;
    std::uint16_t want = opts.config.port;
    for (int i = 0; i < attempts; ++i) {
        Addr a = opts.bind;
        a.port = want;
        sockaddr_storage ss;
        socklen_t len = to_sockaddr(a, ss);
        int fam = a.family == 6 ? AF_INET6 : AF_INET;
        int u = ::socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (u < 0) return err(std::string("cannot create a UDP socket: ") + std::strerror(errno));
        if (::bind(u, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
            int e = errno;
            ::close(u);
            if (e == EADDRINUSE && want != 0 && opts.fallback_port) {
                want = 0;
                continue;
            }
            return err("cannot listen on " + a.to_string() + " (UDP): " + std::strerror(e));
        }
        sockaddr_storage got;
        socklen_t glen = sizeof got;
        ::getsockname(u, reinterpret_cast<sockaddr*>(&got), &glen);
        Addr bound = from_sockaddr(reinterpret_cast<sockaddr*>(&got));
        int t = ::socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        ::setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        to_sockaddr(bound, ss);
        if (::bind(t, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(t, 128) != 0) {
            int e = errno;
            ::close(u);
            ::close(t);
            if (e == EADDRINUSE && (want == 0 || opts.fallback_port)) {
                want = 0;
                continue;
            }
            return err("cannot listen on " + bound.to_string() + " (TCP): " + std::strerror(e));
        }
        raise_recv_buffer(u, opts.log_name);
        return Sockets(u, t, bound.port);
    }
    return err("cannot find a port free for both UDP and TCP");
}

}  // namespace dc::io
