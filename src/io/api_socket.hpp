// The daemon API's Unix socket (darkchat-api(7)): a listener in the data
// directory, made owner-only, that takes only connections from our own user
// (SO_PEERCRED), and the bytes of each client moved to and from an
// api::Server by the driver. The web page's listener is one too, on TCP at
// 127.0.0.1 (its requests carry a token instead). Only bytes here: what they
// mean is src/api.
#pragma once

#include "darkchat/api.hpp"

#include <uv.h>

#include <functional>
#include <map>
#include <string>

namespace dc::io {

class ApiSocket {
public:
    // What happens on the socket, for the driver to hand to the api::Server.
    struct Events {
        std::function<void(api::ClientId)> connected;
        std::function<void(api::ClientId, std::string_view)> bytes;
        std::function<void(api::ClientId)> closed;
        std::function<void(api::ClientId)> drained;  // everything queued to it was written
    };
    static constexpr std::size_t kMaxClients = 64;
    // A client this far behind in reading what it was sent is closed.
    static constexpr std::size_t kMaxBacklog = 8 << 20;

    ApiSocket() = default;
    ~ApiSocket();
    ApiSocket(const ApiSocket&) = delete;
    ApiSocket& operator=(const ApiSocket&) = delete;

    // Listens at path (a stale socket there is replaced: the caller holds the
    // data directory's lock). An error in words when it cannot.
    Result<void> open(uv_loop_t* loop, const std::string& path, Events events);
    // Listens on 127.0.0.1:port (0: any free port); clients get ids with id_bits set.
    Result<void> open_tcp(uv_loop_t* loop, std::uint16_t port, Events events, api::ClientId id_bits);
    std::uint16_t port() const { return port_; }
    void write(api::ClientId client, std::string bytes, bool close);
    // Stops listening, closes every client and removes the socket file.
    void close();
    bool is_open() const { return open_; }

    struct Conn;

private:
    void drop(Conn* c);
    static void on_connection(uv_stream_t* server, int status);
    static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
    static void on_written(uv_write_t* w, int status);

    uv_loop_t* loop_ = nullptr;
    uv_pipe_t server_{};
    uv_tcp_t tcp_server_{};
    bool tcp_ = false;
    std::uint16_t port_ = 0;
    api::ClientId id_bits_ = 0;
    bool open_ = false;
    std::string path_;
    Events events_;
    api::ClientId next_ = 1;
    std::map<api::ClientId, Conn*> conns_;
};

}  // namespace dc::io
