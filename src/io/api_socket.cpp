// The daemon API's Unix socket: see api_socket.hpp.
#include "api_socket.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace dc::io {

struct ApiSocket::Conn {
    uv_pipe_t pipe{};  // the Unix socket's client ...
    uv_tcp_t tcp{};    // ... or the web page's
    uv_stream_t* stream() { return tcp_side ? reinterpret_cast<uv_stream_t*>(&tcp) : reinterpret_cast<uv_stream_t*>(&pipe); }
    uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(stream()); }
    bool tcp_side = false;
    ApiSocket* owner = nullptr;
    api::ClientId id = 0;
    bool closing = false;
    bool close_after = false;  // close once what is queued is written
};

namespace {

struct Write {
    uv_write_t req{};
    std::string bytes;
    ApiSocket::Conn* conn = nullptr;
};

void on_conn_closed(uv_handle_t* h) { delete static_cast<ApiSocket::Conn*>(h->data); }

}  // namespace

ApiSocket::~ApiSocket() = default;

Result<void> ApiSocket::open(uv_loop_t* loop, const std::string& path, Events events) {
    if (path.size() >= sizeof(sockaddr_un{}.sun_path))
        return err("the API socket path " + path + " is too long for a Unix socket (a shorter --data-dir helps)");
    loop_ = loop;
    path_ = path;
    events_ = std::move(events);
    // A socket left by a node that was killed: ours to replace, we hold the lock.
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) return err(path + " is in the way of the API socket (not a socket)");
        ::unlink(path.c_str());
    }
    uv_pipe_init(loop, &server_, 0);
    server_.data = this;
    // Owner-only from the start: no moment in which another user could connect.
    mode_t old = ::umask(0177);
    int rc = uv_pipe_bind(&server_, path.c_str());
    ::umask(old);
    if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&server_), 128, on_connection);
    if (rc != 0) {
        uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr);
        return err("cannot listen on " + path + ": " + uv_strerror(rc));
    }
    open_ = true;
    return {};
}

Result<void> ApiSocket::open_tcp(uv_loop_t* loop, std::uint16_t port, Events events, api::ClientId id_bits) {
    loop_ = loop;
    events_ = std::move(events);
    tcp_ = true;
    id_bits_ = id_bits;
    uv_tcp_init(loop, &tcp_server_);
    tcp_server_.data = this;
    sockaddr_in a{};
    uv_ip4_addr("127.0.0.1", port, &a);
    int rc = uv_tcp_bind(&tcp_server_, reinterpret_cast<sockaddr*>(&a), 0);
    if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_server_), 128, on_connection);
    if (rc != 0) {
        uv_close(reinterpret_cast<uv_handle_t*>(&tcp_server_), nullptr);
        return err("cannot listen on 127.0.0.1:" + std::to_string(port) + ": " + uv_strerror(rc));
    }
    sockaddr_storage ss{};
    int len = sizeof ss;
    uv_tcp_getsockname(&tcp_server_, reinterpret_cast<sockaddr*>(&ss), &len);
    port_ = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    open_ = true;
    return {};
}

void ApiSocket::on_connection(uv_stream_t* server, int status) {
    auto* self = static_cast<ApiSocket*>(server->data);
    if (status != 0 || !self->open_) return;
    auto* c = new Conn;
    c->owner = self;
    c->tcp_side = self->tcp_;
    c->pipe.data = c;
    c->tcp.data = c;
    if (c->tcp_side) uv_tcp_init(self->loop_, &c->tcp);
    else uv_pipe_init(self->loop_, &c->pipe, 0);
    if (uv_accept(server, c->stream()) != 0) {
        uv_close(c->handle(), on_conn_closed);
        return;
    }
    // Only our own user (or root) may drive the node through the socket,
    // whatever the file's mode; the web page's requests carry its token.
    bool ours = true;
    if (!c->tcp_side) {
        uv_os_fd_t fd = -1;
        ucred cred{};
        socklen_t len = sizeof cred;
        ours = uv_fileno(c->handle(), &fd) == 0 && ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
               (cred.uid == ::geteuid() || cred.uid == 0);
    }
    if (!ours || self->conns_.size() >= kMaxClients) {
        if (ours) {  // a word on why, without waiting for it to be read
            static const char busy[] =
                R"({"jsonrpc":"2.0","id":null,"error":{"code":-32003,"message":"too many clients"}})" "\n";
            uv_buf_t b = uv_buf_init(const_cast<char*>(busy), sizeof busy - 1);
            if (!c->tcp_side) uv_try_write(c->stream(), &b, 1);
        }
        uv_close(c->handle(), on_conn_closed);
        return;
    }
    c->id = self->id_bits_ | self->next_++;
    self->conns_[c->id] = c;
    self->events_.connected(c->id);
    uv_read_start(
        c->stream(),
        [](uv_handle_t*, std::size_t, uv_buf_t* buf) {
            static char scratch[64 * 1024];  // the loop's one thread reads into it and hands it on at once
            *buf = uv_buf_init(scratch, sizeof scratch);
        },
        on_read);
}

void ApiSocket::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* c = static_cast<Conn*>(s->data);
    ApiSocket* self = c->owner;
    if (c->closing) return;
    if (nread < 0) {
        self->drop(c);
        return;
    }
    if (nread > 0) self->events_.bytes(c->id, std::string_view(buf->base, static_cast<std::size_t>(nread)));
}

void ApiSocket::drop(Conn* c) {
    if (c->closing) return;
    c->closing = true;
    conns_.erase(c->id);
    events_.closed(c->id);
    uv_close(c->handle(), on_conn_closed);
}

void ApiSocket::write(api::ClientId client, std::string bytes, bool close) {
    auto it = conns_.find(client);
    if (it == conns_.end()) return;
    Conn* c = it->second;
    auto* stream = c->stream();
    // A client that does not read what it asked for is let go before its
    // backlog costs the node its memory.
    if (uv_stream_get_write_queue_size(stream) + bytes.size() > kMaxBacklog) {
        drop(c);
        return;
    }
    if (close) {
        c->close_after = true;
        uv_read_stop(stream);
    }
    auto* w = new Write;
    w->bytes = std::move(bytes);
    w->conn = c;
    w->req.data = w;
    uv_buf_t b = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
    if (uv_write(&w->req, stream, &b, 1, on_written) != 0) {
        delete w;
        drop(c);
    }
}

void ApiSocket::on_written(uv_write_t* req, int status) {
    std::unique_ptr<Write> w(static_cast<Write*>(req->data));
    Conn* c = w->conn;
    if (c->closing) return;  // closed meanwhile; libuv calls back before the handle is freed
    ApiSocket* self = c->owner;
    auto* stream = c->stream();
    if (status != 0) {
        self->drop(c);
        return;
    }
    if (uv_stream_get_write_queue_size(stream) == 0) {
        if (c->close_after) self->drop(c);
        else self->events_.drained(c->id);
    }
}

void ApiSocket::close() {
    if (!open_) return;
    open_ = false;
    std::vector<Conn*> all;
    for (auto& [id, c] : conns_) all.push_back(c);
    for (auto* c : all) drop(c);
    if (tcp_) {
        uv_close(reinterpret_cast<uv_handle_t*>(&tcp_server_), nullptr);
        return;
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr);
    ::unlink(path_.c_str());
}

}  // namespace dc::io
