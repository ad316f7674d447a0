// Outbound TCP frames, one connection per destination (tcp_out.hpp).
#include "tcp_out.hpp"

#include "sockaddr.hpp"

#include <deque>
#include <memory>
#include <utility>

namespace dc::io {

struct TcpOut::Conn {
    uv_tcp_t handle{};  // handle.data points back to this Conn
    uv_connect_t connect{};
    TcpOut* pool = nullptr;
    Addr to;
    bool connected = false;
    bool closing = false;
    std::deque<Bytes> waiting;  // frames before the connection is up
    std::size_t waiting_bytes = 0;
    std::uint64_t used = 0;     // the pool's counter at its last frame
    std::uint64_t used_ms = 0;  // the loop's time at its last frame

    std::size_t queued() const { return waiting_bytes + handle.write_queue_size; }
};

namespace {

struct Write {
    uv_write_t req{};
    Bytes data;
    TcpOut::Conn* conn = nullptr;
};

void on_closed(uv_handle_t* h) { delete static_cast<TcpOut::Conn*>(h->data); }

}  // namespace

TcpOut::TcpOut(uv_loop_t* loop) : loop_(loop) {
    uv_timer_init(loop_, &sweep_);
    sweep_.data = this;
}

TcpOut::~TcpOut() = default;

void TcpOut::drop(Conn* c) {
    if (c->closing) return;
    c->closing = true;
    dropped_ += c->waiting.size();
    c->waiting.clear();
    conns_.erase(c->to);
    if (conns_.empty()) uv_timer_stop(&sweep_);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->handle), on_closed);
}

void TcpOut::send(const Addr& to, Bytes frame) {
    if (closed_) return;
    Conn* c = nullptr;
    if (auto it = conns_.find(to); it != conns_.end()) {
        c = it->second;
    } else {
        if (conns_.size() >= kMaxConnections) {
            Conn* oldest = nullptr;
            for (auto& [a, x] : conns_)
                if (!oldest || x->used < oldest->used) oldest = x;
            drop(oldest);
        }
        auto owned = std::make_unique<Conn>();
        c = owned.get();
        c->pool = this;
        c->to = to;
        c->handle.data = c;
        c->connect.data = c;
        uv_tcp_init(loop_, &c->handle);
        uv_tcp_nodelay(&c->handle, 1);
        sockaddr_storage ss;
        to_sockaddr(to, ss);
        auto on_connected = [](uv_connect_t* req, int status) {
            auto* c = static_cast<Conn*>(req->data);
            TcpOut* pool = c->pool;
            if (c->closing) return;
            if (status != 0) return pool->drop(c);
            c->connected = true;
            // The peer never writes on it: a read says only when it went away.
            auto alloc = [](uv_handle_t*, std::size_t, uv_buf_t* buf) {
                static char sink[256];
                *buf = uv_buf_init(sink, sizeof sink);
            };
            auto on_read = [](uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
                auto* c = static_cast<Conn*>(s->data);
                if (nread < 0) c->pool->drop(c);
            };
            uv_read_start(reinterpret_cast<uv_stream_t*>(&c->handle), alloc, on_read);
            auto waiting = std::exchange(c->waiting, {});
            c->waiting_bytes = 0;
            for (auto& f : waiting) {
                if (c->closing) break;
                pool->send(c->to, std::move(f));
            }
        };
        if (uv_tcp_connect(&c->connect, &c->handle, reinterpret_cast<sockaddr*>(&ss), on_connected) != 0) {
            ++dropped_;
            c->closing = true;
            uv_close(reinterpret_cast<uv_handle_t*>(&owned.release()->handle), on_closed);
            return;
        }
        ++connects_;
        conns_[to] = owned.release();
        if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&sweep_)))
            uv_timer_start(&sweep_, on_sweep, kIdleMs / 2, kIdleMs / 2);
    }
    c->used = ++clock_;
    c->used_ms = uv_now(loop_);
    if (c->queued() + frame.size() > kMaxQueuedBytes) {
        ++dropped_;
        return;
    }
    if (!c->connected) {
        c->waiting_bytes += frame.size();
        c->waiting.push_back(std::move(frame));
        return;
    }
    auto* w = new Write;
    w->data = std::move(frame);
    w->conn = c;
    w->req.data = w;
    uv_buf_t b = uv_buf_init(reinterpret_cast<char*>(w->data.data()), static_cast<unsigned>(w->data.size()));
    auto on_written = [](uv_write_t* req, int status) {
        std::unique_ptr<Write> w(static_cast<Write*>(req->data));
        if (status != 0 && status != UV_ECANCELED) w->conn->pool->drop(w->conn);
    };
    if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->handle), &b, 1, on_written) != 0) {
        delete w;
        ++dropped_;
        drop(c);
    }
}

void TcpOut::sweep() {
    const std::uint64_t now = uv_now(loop_);
    std::vector<Conn*> idle;
    for (auto& [a, c] : conns_)
        if (now - c->used_ms >= kIdleMs && c->queued() == 0) idle.push_back(c);
    for (auto* c : idle) drop(c);
}

void TcpOut::on_sweep(uv_timer_t* t) { static_cast<TcpOut*>(t->data)->sweep(); }

void TcpOut::close() {
    if (closed_) return;
    closed_ = true;
    std::vector<Conn*> all;
    for (auto& [a, c] : conns_) all.push_back(c);
    for (auto* c : all) drop(c);
    uv_close(reinterpret_cast<uv_handle_t*>(&sweep_), nullptr);
}

}  // namespace dc::io
