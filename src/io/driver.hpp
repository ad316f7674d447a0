// The libuv driver of a darkchat process, declared once for the files that define it:
// loop.cpp (turns, sockets, timers, standard input, name lookups, shutdown, start-up)
// and driver_api.cpp (the daemon API and the web page). Internal to src/io; the one
// entry point is io::run (io.hpp).
#pragma once

#include "darkchat/io.hpp"

#include "darkchat/api.hpp"
#include "darkchat/crypto.hpp"
#include "darkchat/host.hpp"
#include "darkchat/session.hpp"
#include "darkchat/store.hpp"
#include "darkchat/wire.hpp"

#include "api_socket.hpp"
#include "cpu_use.hpp"
#include "file_io.hpp"
#include "input.hpp"
#include "resident.hpp"
#include "sockaddr.hpp"
#include "tcp_out.hpp"
#include "terminal.hpp"

#include <uv.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <list>
#include <memory>
#include <mutex>
#include <thread>

namespace dc::io::detail {

constexpr std::size_t kMaxInboundTcp = 64;   // concurrent inbound TCP connections
constexpr TimeMs kTcpIdle = 10000;           // an inbound connection silent this long is closed
constexpr TimeMs kShutdownGrace = 150;       // time for the last packets to leave at \quit
// Inputs handed to the Host before it is drained at the latest: a flood cannot
// put off the commit, and what waits on it, without end.
constexpr std::size_t kMaxTurnInputs = 256;
// After this many inputs, and then a quiet spell (fewer than kQuietInputs in
// kRestAfter), the driver gives back what the work left resident
// (release_idle_pages, resident.hpp). No timer runs while nothing happens.
constexpr std::size_t kRestInputs = 256;
constexpr std::size_t kQuietInputs = 64;
constexpr std::uint64_t kRestAfter = 5000;
// A line of progress per file being received this often (darkchat(1), FILES); on a
// terminal the lines are rewritten in place, more often.
constexpr std::uint64_t kProgressEvery = 2000;
constexpr std::uint64_t kProgressInPlace = 500;
// libuv reads several datagrams with one recvmmsg(2) when the buffer it is
// handed holds several of its 64 KiB slots; only the pages written are touched.
constexpr std::size_t kRecvSlots = 16;
constexpr std::size_t kRecvBuffer = kRecvSlots * 64 * 1024;
using cli::kMaxInputLine;

inline TimeMs wall_now() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

struct UdpSend {
    uv_udp_send_t req;
    Datagram d;
};

class Driver;

struct TcpIn {
    uv_tcp_t handle;  // handle.data points back to this TcpIn
    Driver* driver = nullptr;
    wire::FrameReader frames;
    Addr peer;
    TimeMs last_activity = 0;
    bool closing = false;
};

class Driver {
public:
    Driver(const Options& opts, store::Store& store)
        : opts_(opts), store_(store), recv_buf_(new char[kRecvBuffer]) {}

    int run(Sockets sockets, Identity identity);

private:
    const Options& opts_;
    store::Store& store_;
    uv_loop_t loop_{};
    uv_udp_t udp_{};
    uv_tcp_t tcp_{};
    uv_timer_t timer_{};
    uv_timer_t sweep_{};
    uv_timer_t exit_timer_{};
    uv_signal_t sigint_{};
    uv_signal_t sigterm_{};
    uv_async_t input_async_{};
    uv_async_t opened_async_{};  // chunks the file pool opened (FileIo::start_pool)
    uv_check_t turn_end_{};
    std::shared_ptr<InputQueue> input_;
    std::unique_ptr<host::Host> host_;
    std::unique_ptr<cli::Session> session_;
    // The daemon API (darkchat-api(7)): a user's node serves it on a Unix
    // socket in its data directory; every event the session sees goes to it too.
    std::unique_ptr<api::Server> api_;
    ApiSocket api_socket_;
    // The web page (--web): HTTP on 127.0.0.1, its requests turned into the API's.
    std::unique_ptr<api::Web> web_;
    ApiSocket web_socket_;
    FileIo files_;
    uv_timer_t progress_{};  // lines of progress of files being received
    TimeMs api_progress_at_ = 0;  // the API's last file.progress events
    std::list<TcpIn*> inbound_;
    std::unique_ptr<TcpOut> tcp_out_;  // frames out, one connection per destination
    bool closing_ = false;
    std::uint16_t port_ = 0;
    std::unique_ptr<char[]> recv_buf_;
    std::size_t turn_inputs_ = 0;   // handed to the Host since it was last drained
    uv_timer_t rest_{};
    CpuSampler cpu_;  // a relay's CPU use (cpu_use.hpp)
    std::size_t inputs_since_rest_ = 0, inputs_at_arm_ = 0;
    std::vector<Datagram> udp_out_;  // what one drain sends, sent together
    // Standard input: lines taken from the reader, not yet handled.
    std::deque<InputLine> lines_;
    bool input_eof_ = false;
    // Input from a pipe or a file waits while the outbox is full (back-pressure);
    // on a terminal the line is refused in words instead.
    bool pace_input_ = false;
    bool input_paused_ = false;
    // On a terminal (standard input and output both): lines are edited with
    // libedit on the loop thread, read a key at a time when the terminal is
    // readable, and output is written above the line being edited.
    std::unique_ptr<Terminal> term_;
    uv_poll_t tty_poll_{};
    uv_signal_t sigwinch_{};

    // ---- output ----------------------------------------------------------
    // One line for the user (stdout) or the log (stderr). While the host's
    // events are drained, lines are gathered and written at once: one write
    // for what one input showed, so a kill -9 between storing messages and
    // showing them has next to no room.
    void say(const std::string& line);
    void flush_out();
    std::string out_;
    bool gathering_ = false;
    // While a line typed through the API (darkchat attached to this node) is
    // handled: what the session says in answer, for the caller.
    std::vector<std::string>* typed_said_ = nullptr;

    // What the session has to say (after a line typed, or an event); the
    // lines said, joined by newlines, for the API's copy of an event.
    std::string say_session();

    // ---- the host's outputs ------------------------------------------------
    // After every input, in the core contract order: store batches, then
    // events (shown as the session renders them), then packets; then one
    // timer for all of it.
    void pump();

    // pump's first steps: file operations, the store batch, then the events.
    void store_and_show();
    // The events the Host has, shown (and logged by the API, if any); whether
    // any was a file's.
    bool show_events();
    // With the daemon API: the events rendered and logged, then the batch and
    // the log stored in one transaction, then the batch answered; what a
    // failed batch takes back is not shown. Whether any event was a file's.
    bool store_with_log(const std::vector<StoreOp>* ops);

    // One more input of this turn handed to the Host; the Host is drained at
    // the end of the turn, or now once the turn has its fill.
    void handed_in();
    static void on_turn_end(uv_check_t* c);
    void arm_timer();
    static void on_rest(uv_timer_t* t);
    static void on_progress(uv_timer_t* t);
    static void on_timer(uv_timer_t* t);

    void quit_all() { host_->handle_quit(wall_now()); }

    void transmit(core::Transmit t);

    // What one drain produced, in order: as many per system call as the socket
    // takes at once; the rest through libuv, which queues it until the socket
    // has room (and, as for any send, drops one the kernel refuses). Straight
    // to the socket only while libuv has nothing queued, so order is kept.
    void send_udp();
    void send_queued(Datagram d);

    static void on_udp_sent(uv_udp_send_t* req, int) { delete static_cast<UdpSend*>(req->data); }


    // ---- UDP in -------------------------------------------------------------
    static void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf);

    // Each datagram of a recvmmsg(2) comes here on its own (then one call
    // with none, which frees nothing: the buffer is ours).
    static void on_udp(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr, unsigned flags);

    // ---- TCP in -------------------------------------------------------------
    static void on_connection(uv_stream_t* server, int status);
    static void on_tcp_alloc(uv_handle_t*, std::size_t suggested, uv_buf_t* buf);
    void close_inbound(TcpIn* c);
    static void on_tcp_in_closed(uv_handle_t* h);
    static void on_tcp_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
    static void on_sweep(uv_timer_t* t);

    // ---- standard input -----------------------------------------------------
    static void on_input(uv_async_t* a) { static_cast<Driver*>(a->data)->take_input(); }
    static void on_opened(uv_async_t* a);

    // Lines in the order typed, at most a turn's worth per turn (the rest in
    // the next turn, after what this one stored, showed and sent).
    void take_input();

    // Takes what the reader has queued; false when there is nothing.
    bool refill_lines();
    void handle_input(const InputLine& l);

    // A key typed on the terminal; a line once it is complete.
    static void on_tty(uv_poll_t* p, int status, int);
    static void on_winch(uv_signal_t* s, int);

    // ---- \ping <host name> ---------------------------------------------------
    // The terminal's \ping and the API's ping look names up alike.
    struct Resolving {
        uv_getaddrinfo_t req;
        Driver* d;
        std::variant<cli::ResolveRequest, api::Resolve> request;
    };

    template <typename R>
    void resolve(R request) {
        auto* r = new Resolving{{}, this, std::move(request)};
        r->req.data = r;
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_DGRAM;
        if (uv_getaddrinfo(&loop_, &r->req, on_resolved, std::get<R>(r->request).host.c_str(), nullptr, &hints) != 0) {
            resolved(std::get<R>(r->request), err(""));
            delete r;
        }
    }

    void resolved(const cli::ResolveRequest& r, const Result<Addr>& addr);
    void resolved(const api::Resolve& r, const Result<Addr>& addr);
    static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res);

    // ---- the daemon API -----------------------------------------------------
    // The events the API numbered, into the log; then to its clients.
    void store_api();

    // What the API asked for (reads of the store, name lookups) and what it
    // has for its clients.
    void serve_api();

    // What the session says while act() runs, for an API call to answer with.
    template <typename Act>
    std::vector<std::string> said_while(Act act) {
        std::vector<std::string> said;
        typed_said_ = &said;
        act();
        say_session();
        typed_said_ = nullptr;
        return said;
    }

    // A line typed at an attached darkchat: as if typed here.
    void typed(const api::Typed& t);

    // What a listener of the API hands on: to the Server itself (the socket) or
    // to the web page's HTTP in front of it (front() gives it when called). A
    // call may show and send: what came before it is drained first, and what it
    // did right after, as for a macro typed.
    template <typename Front>
    ApiSocket::Events api_events(Front front) {
        ApiSocket::Events events;
        events.connected = [front](api::ClientId c) { front()->handle_connect(c); };
        events.closed = [front](api::ClientId c) { front()->handle_disconnect(c); };
        events.drained = [this](api::ClientId c) {
            api_->handle_drained(c);
            serve_api();
        };
        events.bytes = [this, front](api::ClientId c, std::string_view bytes) {
            if (closing_) return;
            if (turn_inputs_ > 0) pump();
            if (closing_) return;
            front()->handle_bytes(wall_now(), c, bytes);
            serve_api();
            if (api_->quit_requested()) quit_all();
            pump();
        };
        return events;
    }

    // An image received, for the web page (at most api::Web::kMaxImage bytes).
    static Result<std::string> read_image(const std::string& path);

    // A file sent from the web page, written whole under a safe, free name in
    // <data dir>/uploads (0700), to be offered from there.
    Result<std::string> keep_upload(const api::Web::Upload& u);

    // send_file and fetch_file: as \send (to the contact named or the group) and
    // \fetch do; what is said comes back.
    void send_file(const api::FileSend& f);
    void open_api();

    // The Web is made once the port is bound, before the loop runs a callback.
    void open_web();

    // ---- signals and shutdown ----------------------------------------------
    static void on_signal(uv_signal_t* s, int);
    void begin_shutdown();
    static void on_exit_timer(uv_timer_t* t);
    void close_all();
};

}  // namespace dc::io::detail
