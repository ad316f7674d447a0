// Outbound TCP frames (packets too big for a datagram, and file chunks): one
// connection per destination, kept open while frames keep coming and closed once
// it has been idle a while, so that a burst of frames (a file's chunks) costs one
// connect and not one per frame. Bounded: at most kMaxConnections at once (the one
// used least recently gives way) and kMaxQueuedBytes waiting per connection (a
// frame beyond it is dropped, as a datagram the kernel refuses is: the protocol
// asks again). It only moves bytes; what a frame means is the Host's.
#pragma once

#include "darkchat/types.hpp"

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <map>

namespace dc::io {

class TcpOut {
public:
    static constexpr std::size_t kMaxConnections = 64;
    static constexpr std::size_t kMaxQueuedBytes = std::size_t{64} << 20;
    static constexpr std::uint64_t kIdleMs = 5000;  // below the receiver's own idle close

    explicit TcpOut(uv_loop_t* loop);
    ~TcpOut();  // after close(); a connection still open is a bug of the owner
    TcpOut(const TcpOut&) = delete;
    TcpOut& operator=(const TcpOut&) = delete;

    // Sends one framed packet (wire::frame) to `to`, on its open connection or a new one.
    void send(const Addr& to, Bytes frame);
    // At shutdown: closes every connection and the idle timer (their handles are
    // freed in libuv's close callbacks, while the loop runs to its end).
    void close();

    std::uint64_t dropped() const { return dropped_; }
    std::uint64_t connects() const { return connects_; }

    struct Conn;

private:
    void drop(Conn* c);
    void sweep();
    static void on_sweep(uv_timer_t* t);

    uv_loop_t* loop_;
    uv_timer_t sweep_{};
    std::map<Addr, Conn*> conns_;
    std::uint64_t clock_ = 0;  // a counter, for the connection used least recently
    std::uint64_t dropped_ = 0, connects_ = 0;
    bool closed_ = false;
};

}  // namespace dc::io
