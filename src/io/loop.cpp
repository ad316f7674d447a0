// The libuv driver of a darkchat process. One loop, one thread for everything
// that matters; a helper thread only reads standard input (which may be a
// terminal, a pipe or a file) and hands whole lines to the loop. One UDP/TCP
// port carries every machine the process runs (machine.hpp): the core::Node of
// a user or super-client, and the directory, relay or room-client roles.
#include "darkchat/io.hpp"

#include "machine.hpp"

#include "darkchat/cli.hpp"
#include "darkchat/crypto.hpp"
#include "darkchat/store.hpp"
#include "darkchat/wire.hpp"

#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <thread>

namespace dc::io {

namespace {

constexpr std::size_t kMaxInboundTcp = 64;   // concurrent inbound TCP connections
constexpr TimeMs kTcpIdle = 10000;           // an inbound connection silent this long is closed
constexpr TimeMs kShutdownGrace = 150;       // time for the last packets to leave at \quit
constexpr std::size_t kMaxInputLine = 64 * 1024;
// Socket receive buffer asked for, so that a burst of datagrams is queued
// rather than dropped (the default, about 208 KiB, overflowed under a burst
// of acked chat). The kernel caps it at net.core.rmem_max unless we may
// exceed that (CAP_NET_ADMIN: SO_RCVBUFFORCE); what we got is logged once.
constexpr int kUdpRecvBuffer = 4 * 1024 * 1024;

TimeMs wall_now() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
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

// Lines from standard input, read on a helper thread. A line longer than
// kMaxInputLine is never handed on in pieces: it is skipped to its end and
// comes out as one refusal (overlong holds its length), so no part of it is
// sent or taken as a macro.
struct InputLine {
    std::string text;
    std::size_t overlong = 0;
};

struct InputQueue {
    std::mutex mu;
    std::deque<InputLine> lines;
    bool eof = false;
    uv_async_t* wake = nullptr;  // null once the loop has closed it

    void push(InputLine line) {
        std::lock_guard lock(mu);
        lines.push_back(std::move(line));
        if (wake) uv_async_send(wake);
    }
    void end() {
        std::lock_guard lock(mu);
        eof = true;
        if (wake) uv_async_send(wake);
    }
};

void read_input(std::shared_ptr<InputQueue> q) {
    std::string pending;
    std::size_t skipped = 0;  // bytes of an overlong line thrown away so far
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(0, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        pending.append(buf, static_cast<std::size_t>(n));
        std::size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
            if (skipped > 0) q->push({{}, skipped + nl});
            else q->push({pending.substr(0, nl)});
            skipped = 0;
            pending.erase(0, nl + 1);
        }
        if (pending.size() > kMaxInputLine) {
            skipped += pending.size();
            pending.clear();
        }
    }
    if (skipped > 0) q->push({{}, skipped + pending.size()});
    else if (!pending.empty()) q->push({pending});
    q->end();
}

struct UdpSend {
    uv_udp_send_t req;
    Bytes data;
};

struct TcpOut {
    uv_tcp_t handle;
    uv_connect_t connect;
    uv_write_t write;
    Bytes data;
};

// The core::Node as a Machine: every type below the roles' range is its,
// and so is anything that does not parse (the node counts it as malformed).
class NodeMachine final : public Machine {
public:
    explicit NodeMachine(std::unique_ptr<core::Node> node) : node_(std::move(node)) {}
    core::Node& node() { return *node_; }

    bool takes(std::uint8_t type) const override { return type < wire::kFirstRoleType; }
    void start(TimeMs now, const Addr&) override { node_->handle_start(now); }
    void handle_datagram(TimeMs now, const Addr& from, ByteView data) override { node_->handle_datagram(now, from, data); }
    void handle_frame(TimeMs now, const Addr& from, ByteView data) override { node_->handle_frame(now, from, data); }
    void handle_timeout(TimeMs now) override { node_->handle_timeout(now); }
    std::optional<TimeMs> poll_timeout() const override { return node_->poll_timeout(); }
    std::optional<StoreOp> poll_store() override { return node_->poll_store(); }
    bool handle_store_failed(TimeMs now, std::vector<StoreOp>& ops) override {
        ops = node_->handle_store_failed(now, std::move(ops));
        return true;
    }
    std::optional<std::string> poll_line() override {
        if (auto e = node_->poll_event()) return cli::render(*e);
        return std::nullopt;
    }
    std::optional<core::Transmit> poll_transmit() override { return node_->poll_transmit(); }
    bool quitting() const override { return node_->quitting(); }
    void handle_quit(TimeMs now) override { node_->handle_command(now, core::cmd::Quit{}); }

private:
    std::unique_ptr<core::Node> node_;
};

// The wire type of a packet, for routing; nothing when it does not parse.
std::optional<std::uint8_t> packet_type(ByteView data) {
    auto t = wire::peek_type(data);
    if (!t) return std::nullopt;
    return static_cast<std::uint8_t>(*t);
}

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
    Driver(const Options& opts, store::Store& store) : opts_(opts), store_(store) {}

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
    std::shared_ptr<InputQueue> input_;
    std::vector<std::unique_ptr<Machine>> machines_;  // the node first, when there is one
    core::Node* node_ = nullptr;                      // the user's node, if this process runs one
    roles::RoomClient* client_ = nullptr;             // its room client, with --dir or --relays
    RoomEventHook room_hook_;
    std::optional<roles::RoomId> room_;               // lines without '\' go to this room (\room)
    std::vector<std::string> pending_notes_;          // lines the driver adds after an event
    std::list<TcpIn*> inbound_;
    std::vector<StoreOp> unsaved_;
    std::string last_store_error_;
    TimeMs last_store_error_at_ = 0;
    std::string partner_;
    bool closing_ = false;
    int exit_status_ = 0;  // 1 after a store fault that retrying cannot mend
    std::uint16_t port_ = 0;
    alignas(16) char recv_buf_[64 * 1024];

    // ---- output ----------------------------------------------------------
    // One line for the user (stdout) or the log (stderr). While a machine's
    // events are drained, lines are gathered and written at once: one write
    // for what one input showed, so a kill -9 between storing messages and
    // showing them has next to no room.
    void say(const std::string& line) {
        if (opts_.front_end) {
            out_.append(line);
        } else {
            out_.append(opts_.log_name).append(": ").append(line);
        }
        out_.push_back('\n');
        if (!gathering_) flush_out();
    }
    void flush_out() {
        if (out_.empty()) return;
        FILE* f = opts_.front_end ? stdout : stderr;
        std::fwrite(out_.data(), 1, out_.size(), f);
        std::fflush(f);
        out_.clear();
    }
    std::string out_;
    bool gathering_ = false;

    // ---- the machines' outputs -------------------------------------------
    // After every input: each machine's store ops, then its events, then its
    // packets (the core contract order); then one timer for all of them.
    void pump() {
        for (auto& m : machines_) {
            if (closing_) return;
            drain(*m);
        }
        store_.checkpoint_if_due();
        for (auto& m : machines_) {
            if (m->quitting()) {
                begin_shutdown();
                return;
            }
        }
        arm_timer();
    }

    void drain(Machine& m) {
        save(m);
        gathering_ = true;
        while (auto line = m.poll_line()) {
            say(*line);
            for (auto& n : pending_notes_) say(n);
            pending_notes_.clear();
        }
        gathering_ = false;
        flush_out();
        while (auto t = m.poll_transmit()) transmit(*t);
    }

    void save(Machine& m) {
        std::vector<StoreOp> ops;
        if (&m == machines_.front().get()) {
            ops = std::move(unsaved_);
            unsaved_.clear();
        }
        while (auto op = m.poll_store()) ops.push_back(std::move(*op));
        if (!ops.empty()) {
            auto r = store_.apply(ops);
            if (!r && !store::is_transient(store_.fault())) {
                // Retrying cannot help (read-only, corrupt, an I/O error): stop,
                // and say so. What was not stored was not shown or acknowledged
                // either, so its senders keep it; typed messages were refused.
                m.handle_store_failed(wall_now(), ops);
                while (m.poll_transmit()) {
                }
                unsaved_.clear();
                say("! cannot save state (" + r.error() + "): darkchat stops, as nothing more could be kept; "
                    "fix or move the database away, then start again (messages not yet acknowledged wait with "
                    "their senders)");
                exit_status_ = 1;
                quit_all();
                return;
            }
            if (!r) {
                // Nothing is lost: the node keeps its state, and the batch is retried.
                TimeMs now = wall_now();
                if (r.error() != last_store_error_ || now - last_store_error_at_ > 10000) {
                    say("! cannot save state (" + r.error() + "); retrying; messages wait with their senders meanwhile");
                    last_store_error_ = r.error();
                    last_store_error_at_ = now;
                }
                // What rests on what could not be saved (a message shown, its ack)
                // is taken back by the machine, or, where it cannot, every transmit
                // of this input is held back. Peers resend, and so does our outbox.
                if (!m.handle_store_failed(now, ops))
                    while (m.poll_transmit()) {
                    }
                unsaved_ = std::move(ops);
            } else if (!last_store_error_.empty()) {
                say("* state saved again");
                last_store_error_.clear();
            }
        }
    }

    void arm_timer() {
        if (closing_) return;
        std::optional<TimeMs> wake;
        for (auto& m : machines_)
            if (auto w = m->poll_timeout()) wake = wake ? std::min(*wake, *w) : *w;
        TimeMs now = wall_now();
        TimeMs delay = -1;
        if (wake) delay = std::max<TimeMs>(0, *wake - now);
        if (!unsaved_.empty()) delay = delay < 0 ? 1000 : std::min<TimeMs>(delay, 1000);
        uv_timer_stop(&timer_);
        if (delay >= 0) uv_timer_start(&timer_, on_timer, static_cast<std::uint64_t>(delay), 0);
    }

    // Each machine whose wakeup has come gets its timeout.
    static void on_timer(uv_timer_t* t) {
        auto* d = static_cast<Driver*>(t->data);
        TimeMs now = wall_now();
        for (auto& m : d->machines_)
            if (auto w = m->poll_timeout(); w && *w <= now) m->handle_timeout(now);
        d->pump();
    }

    // A datagram or TCP frame goes to the machine that takes its type.
    void deliver(const Addr& from, ByteView data, bool stream) {
        TimeMs now = wall_now();
        Machine* to = machines_.front().get();
        if (machines_.size() > 1) {
            auto type = packet_type(data);
            if (!type && !node_) return;  // garbage, and no node to count it
            if (type) {
                to = nullptr;
                for (auto& m : machines_)
                    if (m->takes(*type)) {
                        to = m.get();
                        break;
                    }
                if (!to) return;  // a role this process does not run
            }
        }
        if (stream) to->handle_frame(now, from, data);
        else to->handle_datagram(now, from, data);
    }

    void quit_all() {
        TimeMs now = wall_now();
        for (auto& m : machines_) m->handle_quit(now);
    }

    void transmit(const core::Transmit& t) {
        if (t.data.size() <= wire::kMaxDatagram && !t.stream) {
            auto* s = new UdpSend;
            s->data = t.data;
            s->req.data = s;
            sockaddr_storage ss;
            to_sockaddr(t.to, ss);
            uv_buf_t b = uv_buf_init(reinterpret_cast<char*>(s->data.data()), static_cast<unsigned>(s->data.size()));
            if (uv_udp_send(&s->req, &udp_, &b, 1, reinterpret_cast<sockaddr*>(&ss), on_udp_sent) != 0) delete s;
            return;
        }
        // Too big for one datagram: a TCP connection to the same port, one frame, closed.
        auto* o = new TcpOut;
        o->data = wire::frame(t.data);
        o->handle.data = o;
        o->connect.data = o;
        o->write.data = o;
        uv_tcp_init(&loop_, &o->handle);
        sockaddr_storage ss;
        to_sockaddr(t.to, ss);
        if (uv_tcp_connect(&o->connect, &o->handle, reinterpret_cast<sockaddr*>(&ss), on_tcp_connected) != 0)
            uv_close(reinterpret_cast<uv_handle_t*>(&o->handle), on_tcp_out_closed);
    }

    static void on_udp_sent(uv_udp_send_t* req, int) { delete static_cast<UdpSend*>(req->data); }

    static void on_tcp_connected(uv_connect_t* req, int status) {
        auto* o = static_cast<TcpOut*>(req->data);
        if (status != 0) {
            uv_close(reinterpret_cast<uv_handle_t*>(&o->handle), on_tcp_out_closed);
            return;
        }
        uv_buf_t b = uv_buf_init(reinterpret_cast<char*>(o->data.data()), static_cast<unsigned>(o->data.size()));
        if (uv_write(&o->write, reinterpret_cast<uv_stream_t*>(&o->handle), &b, 1, on_tcp_written) != 0)
            uv_close(reinterpret_cast<uv_handle_t*>(&o->handle), on_tcp_out_closed);
    }

    static void on_tcp_written(uv_write_t* req, int) {
        auto* o = static_cast<TcpOut*>(req->data);
        uv_close(reinterpret_cast<uv_handle_t*>(&o->handle), on_tcp_out_closed);
    }

    static void on_tcp_out_closed(uv_handle_t* h) { delete static_cast<TcpOut*>(h->data); }

    // ---- UDP in -------------------------------------------------------------
    static void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        auto* d = static_cast<Driver*>(h->data);
        *buf = uv_buf_init(d->recv_buf_, sizeof d->recv_buf_);
    }

    static void on_udp(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr, unsigned flags) {
        auto* d = static_cast<Driver*>(h->data);
        if (nread <= 0 || !addr || d->closing_) return;
        if (flags & UV_UDP_PARTIAL) return;  // bigger than any datagram we accept
        ByteView data(reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(nread));
        d->deliver(from_sockaddr(addr), data, false);
        d->pump();
    }

    // ---- TCP in -------------------------------------------------------------
    static void on_connection(uv_stream_t* server, int status) {
        auto* d = static_cast<Driver*>(server->data);
        if (status != 0 || d->closing_) return;
        auto* c = new TcpIn;
        c->handle.data = c;
        c->driver = d;
        uv_tcp_init(&d->loop_, &c->handle);
        if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->handle)) != 0 || d->inbound_.size() >= kMaxInboundTcp) {
            c->closing = true;
            uv_close(reinterpret_cast<uv_handle_t*>(&c->handle), on_tcp_in_closed);
            return;
        }
        sockaddr_storage ss;
        int len = sizeof ss;
        if (uv_tcp_getpeername(&c->handle, reinterpret_cast<sockaddr*>(&ss), &len) == 0)
            c->peer = from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
        c->last_activity = wall_now();
        d->inbound_.push_back(c);
        // The sweep runs only while inbound connections exist: an idle node
        // has no timer but the protocol's own.
        if (d->inbound_.size() == 1) uv_timer_start(&d->sweep_, on_sweep, kTcpIdle / 2, kTcpIdle / 2);
        uv_read_start(reinterpret_cast<uv_stream_t*>(&c->handle), on_tcp_alloc, on_tcp_read);
    }

    static void on_tcp_alloc(uv_handle_t*, std::size_t suggested, uv_buf_t* buf) {
        buf->base = new char[suggested];
        buf->len = suggested;
    }

    void close_inbound(TcpIn* c) {
        if (c->closing) return;
        c->closing = true;
        inbound_.remove(c);
        if (inbound_.empty()) uv_timer_stop(&sweep_);
        uv_close(reinterpret_cast<uv_handle_t*>(&c->handle), on_tcp_in_closed);
    }

    static void on_tcp_in_closed(uv_handle_t* h) {
        auto* c = static_cast<TcpIn*>(h->data);
        c->driver->inbound_.remove(c);
        delete c;
    }

    static void on_tcp_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        std::unique_ptr<char[]> owned(buf->base);
        auto* c = static_cast<TcpIn*>(s->data);
        Driver* d = c->driver;
        if (c->closing) return;
        if (nread < 0) {
            d->close_inbound(c);
            return;
        }
        c->last_activity = wall_now();
        c->frames.feed(ByteView(reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(nread)));
        while (auto packet = c->frames.next()) {
            d->deliver(c->peer, *packet, true);
            d->pump();
            if (d->closing_ || c->closing) return;
        }
        if (c->frames.bad()) d->close_inbound(c);  // not ours, or too big
    }

    static void on_sweep(uv_timer_t* t) {
        auto* d = static_cast<Driver*>(t->data);
        TimeMs now = wall_now();
        std::vector<TcpIn*> idle;
        for (auto* c : d->inbound_)
            if (now - c->last_activity > kTcpIdle) idle.push_back(c);
        for (auto* c : idle) d->close_inbound(c);
    }

    // ---- standard input -----------------------------------------------------
    static void on_input(uv_async_t* a) {
        auto* d = static_cast<Driver*>(a->data);
        std::deque<InputLine> lines;
        bool eof;
        {
            std::lock_guard lock(d->input_->mu);
            lines.swap(d->input_->lines);
            eof = d->input_->eof;
        }
        for (auto& l : lines) {
            if (d->closing_) return;
            if (l.overlong > 0) {
                d->say("! line too long (" + std::to_string(l.overlong) + " bytes, at most " +
                       std::to_string(kMaxInputLine) + "): nothing of it was sent");
                continue;
            }
            d->on_line(l.text);
        }
        if (eof && !d->closing_) {
            d->quit_all();
            d->pump();
        }
    }

    void on_line(const std::string& line) {
        auto act = cli::parse_line(line, port_);
        TimeMs now = wall_now();
        std::visit(
            [&](auto& a) {
                using T = std::decay_t<decltype(a)>;
                if constexpr (std::is_same_v<T, cli::action::Node>) {
                    if (std::holds_alternative<core::cmd::Quit>(a.command)) quit_all();  // rooms are left too
                    else node_->handle_command(now, a.command);
                } else if constexpr (std::is_same_v<T, cli::action::Resolve>) {
                    resolve_and_ping(a.host, a.port);
                } else if constexpr (std::is_same_v<T, cli::action::Help>) {
                    std::string h = cli::help_text();
                    std::size_t pos = 0, nl;
                    while ((nl = h.find('\n', pos)) != std::string::npos) {
                        say(h.substr(pos, nl - pos));
                        pos = nl + 1;
                    }
                } else if constexpr (std::is_same_v<T, cli::action::List>) {
                    std::size_t n = 0;
                    for (auto& u : node_->users()) {
                        if (u.name == node_->identity().user && u.sessions.empty()) continue;
                        if (!cli::matches(u, a.which)) continue;
                        say("  " + cli::render_user(u, now) + (u.name == node_->identity().user ? " (you)" : ""));
                        ++n;
                    }
                    say("* " + std::to_string(n) + (n == 1 ? " user" : " users"));
                } else if constexpr (std::is_same_v<T, cli::action::Room> || std::is_same_v<T, cli::action::Rooms> ||
                                     std::is_same_v<T, cli::action::SwitchRoom> ||
                                     std::is_same_v<T, cli::action::Leave> || std::is_same_v<T, cli::action::Relays>) {
                    room_action(now, a);
                } else if constexpr (std::is_same_v<T, cli::action::SwitchChat>) {
                    if (a.user.empty() && room_) {
                        say("* lines go to room " + roles::short_id(*room_) + " (\\chat <user> for a direct chat)");
                        return;
                    }
                    room_.reset();
                    if (a.user.empty()) {
                        say(partner_.empty() ? "* no chat partner yet: \\chat <username>" : "* chatting with " + partner_);
                        return;
                    }
                    partner_ = a.user;
                    auto u = node_->user(a.user);
                    // Only where a message would be taken into the outbox (the
                    // node refuses one to a user it has no key for and did not add).
                    if (u && !u->contact) {
                        auto k = node_->keys(a.user);
                        if (k.empty() || !k.front().pinned) u.reset();
                    }
                    if (!u) say("* chatting with " + a.user + " (not known yet: \\add " + a.user + " to find it)");
                    else say("* chatting with " + a.user + (u->online() ? " (online)" : " (offline: messages wait in the outbox)"));
                } else if constexpr (std::is_same_v<T, cli::action::Say>) {
                    if (room_) say_in_room(now, a.text);
                    else if (partner_.empty()) say("! no chat partner: \\chat <username> first");
                    else node_->handle_command(now, core::cmd::Chat{partner_, a.text});
                } else if constexpr (std::is_same_v<T, cli::action::Keys>) {
                    auto keys = node_->keys(a.user);
                    if (!a.user.empty() && keys.empty()) say("! unknown user " + a.user);
                    for (auto& k : keys) say("  " + cli::render_key(k) + (k.user == node_->identity().user ? " (you)" : ""));
                } else if constexpr (std::is_same_v<T, cli::action::Problem>) {
                    say("! " + a.text);
                }
            },
            act);
        pump();
    }

    // ---- rooms on relays (the room client) ----------------------------------
    // The first room we join becomes the current one when nothing else is.
    // Where the node knows user's sessions, online ones first (for invites and moves
    // of rooms without a directory).
    std::vector<Addr> addresses_of(const std::string& user) const {
        std::vector<Addr> out;
        if (auto u = node_->user(user))
            for (bool online : {true, false})
                for (auto& sess : u->sessions)
                    if (sess.online == online) out.push_back(sess.addr);
        return out;
    }

    void follow_room(const roles::RoomEvent& e) {
        if (auto* j = std::get_if<roles::room_ev::RoomJoined>(&e)) {
            if (!room_ && partner_.empty()) {
                room_ = j->room;
                pending_notes_.push_back("* lines now go to room " + roles::short_id(j->room) +
                                         " (\\chat <user> for a direct chat)");
            }
        } else if (auto* l = std::get_if<roles::room_ev::RoomLeft>(&e)) {
            if (room_ && *room_ == l->room) room_.reset();
        }
    }

    void say_in_room(TimeMs now, const std::string& text) {
        bool there = false;
        for (auto& r : client_->rooms()) there = there || r.room == *room_;
        if (!there) {
            say("! room " + roles::short_id(*room_) + " is gone (\\rooms lists the rooms)");
            room_.reset();
            return;
        }
        client_->handle_command(now, roles::room_cmd::Send{*room_, text});
    }

    // One room by id prefix (empty: the current room, or the only one), or a
    // problem said to the user.
    std::optional<roles::RoomView> pick_room(const std::string& prefix) {
        auto all = client_->rooms();
        if (prefix.empty() && room_) {
            for (auto& r : all)
                if (r.room == *room_) return r;
        }
        auto found = cli::find_rooms(all, prefix);
        if (found.size() == 1) return found.front();
        if (found.empty()) say(prefix.empty() ? "! no rooms yet: \\request <user> asks for one" : "! no room " + prefix + " (\\rooms lists them)");
        else if (prefix.empty()) say("! " + std::to_string(found.size()) + " rooms: name one by its id (\\rooms lists them)");
        else say("! " + std::to_string(found.size()) + " rooms start with '" + prefix + "': give more of the id (\\rooms)");
        return std::nullopt;
    }

    template <typename A>
    void room_action(TimeMs now, const A& a) {
        if (!client_) {
            say("! rooms need a directory or relays: start darkchat with --dir HOST[:PORT] or --relays H:P,...");
            return;
        }
        using namespace cli::action;
        if constexpr (std::is_same_v<A, Room>) {
            roles::RoomCommand c = a.command;
            if (auto* r = std::get_if<roles::room_cmd::Request>(&c)) {
                // Without a directory the invite goes straight to the peer: what the node knows of it.
                for (auto& user : r->users) {
                    if (user == node_->identity().user) {
                        say("! you cannot ask yourself for a chat");
                        return;
                    }
                    roles::PeerInfo p;
                    p.user = user;
                    if (auto keys = node_->keys(user); !keys.empty()) p.key = keys.front().pinned;
                    p.addrs = addresses_of(user);
                    r->peers.push_back(std::move(p));
                }
            }
            client_->handle_command(now, c);
        } else if constexpr (std::is_same_v<A, Rooms>) {
            auto rooms = client_->rooms();
            for (auto& r : rooms)
                say("  " + cli::render_room(r, node_->identity().user) + (room_ && *room_ == r.room ? " (current)" : ""));
            say("* " + std::to_string(rooms.size()) + (rooms.size() == 1 ? " room" : " rooms"));
        } else if constexpr (std::is_same_v<A, SwitchRoom>) {
            if (a.prefix.empty()) {
                say(room_ ? "* lines go to room " + roles::short_id(*room_) : std::string("* no current room: \\room <id-prefix>"));
                return;
            }
            if (auto r = pick_room(a.prefix)) {
                room_ = r->room;
                say("* lines now go to room " + cli::render_room(*r, node_->identity().user));
            }
        } else if constexpr (std::is_same_v<A, Leave>) {
            if (auto r = pick_room(a.prefix)) client_->handle_command(now, roles::room_cmd::Leave{r->room});
        } else if constexpr (std::is_same_v<A, Relays>) {
            auto relays = client_->relays();
            for (auto& r : relays) say("  " + cli::render_relay(r));
            say("* " + std::to_string(relays.size()) + (relays.size() == 1 ? " relay" : " relays") +
                (opts_.roles.directory ? std::string(client_->directory_alive() ? ", directory answers" : ", directory not answering")
                                       : std::string(", no directory")));
        }
    }

    struct Resolving {
        uv_getaddrinfo_t req;
        Driver* d;
        std::string host;
        std::uint16_t port;
    };

    void resolve_and_ping(const std::string& host, std::uint16_t port) {
        auto* r = new Resolving{{}, this, host, port};
        r->req.data = r;
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_DGRAM;
        if (uv_getaddrinfo(&loop_, &r->req, on_resolved, host.c_str(), nullptr, &hints) != 0) {
            say("! cannot resolve " + host);
            delete r;
        }
    }

    static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
        std::unique_ptr<Resolving> r(static_cast<Resolving*>(req->data));
        Driver* d = r->d;
        if (d->closing_) {
            uv_freeaddrinfo(res);
            return;
        }
        if (status != 0 || !res) {
            d->say("! cannot resolve " + r->host + ": " + uv_strerror(status));
            uv_freeaddrinfo(res);
            return;
        }
        Addr a = from_sockaddr(res->ai_addr);
        a.port = r->port;
        uv_freeaddrinfo(res);
        d->node_->handle_command(wall_now(), core::cmd::Ping{a});
        d->pump();
    }

    // ---- signals and shutdown ----------------------------------------------
    static void on_signal(uv_signal_t* s, int) {
        auto* d = static_cast<Driver*>(s->data);
        if (d->closing_) return;
        d->quit_all();
        d->pump();
    }

    void begin_shutdown() {
        if (closing_) return;
        closing_ = true;
        // Flush what is unsaved one last time.
        if (!unsaved_.empty()) {
            auto r = store_.apply(unsaved_);
            if (!r) say("! could not save state at exit (" + r.error() + ")");
        }
        uv_timer_stop(&timer_);
        uv_udp_recv_stop(&udp_);
        uv_timer_start(&exit_timer_, on_exit_timer, kShutdownGrace, 0);
    }

    static void on_exit_timer(uv_timer_t* t) {
        auto* d = static_cast<Driver*>(t->data);
        d->close_all();
    }

    void close_all() {
        if (input_) {
            std::lock_guard lock(input_->mu);
            input_->wake = nullptr;
        }
        auto close = [](auto* h) {
            auto* hh = reinterpret_cast<uv_handle_t*>(h);
            if (!uv_is_closing(hh)) uv_close(hh, nullptr);
        };
        if (opts_.front_end) close(&input_async_);
        close(&udp_);
        close(&tcp_);
        close(&timer_);
        close(&sweep_);
        close(&exit_timer_);
        close(&sigint_);
        close(&sigterm_);
        std::vector<TcpIn*> in(inbound_.begin(), inbound_.end());
        for (auto* c : in) close_inbound(c);
    }
};

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

namespace {

int Driver::run(Sockets sockets, Identity identity) {
    uv_loop_init(&loop_);
    port_ = sockets.port();
    auto [u, t] = sockets.release();
    uv_udp_init(&loop_, &udp_);
    uv_udp_open(&udp_, u);
    uv_tcp_init(&loop_, &tcp_);
    uv_tcp_open(&tcp_, t);
    auto fail = [&](const std::string& why) {
        std::fprintf(stderr, "%s: %s\n", opts_.log_name.c_str(), why.c_str());
        uv_close(reinterpret_cast<uv_handle_t*>(&udp_), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
        uv_run(&loop_, UV_RUN_DEFAULT);
        uv_loop_close(&loop_);
        return 1;
    };
    Addr bound = opts_.bind;
    bound.port = port_;
    std::uint64_t seed;
    crypto::random_bytes(std::span(reinterpret_cast<std::uint8_t*>(&seed), sizeof seed));
    RoomSnapshot rooms;
    if (opts_.roles.role == Role::user) {
        auto snap = store_.load_snapshot(opts_.config.max_seen);
        if (!snap) return fail(snap.error());
        rooms = std::move(snap->rooms);
        core::Config cfg = opts_.config;
        cfg.port = port_;
        cfg.bind_addr = opts_.bind;
        auto node = std::make_unique<core::Node>(cfg, identity, std::move(snap).value(), core::real_crypto(), seed);
        node_ = node.get();
        machines_.push_back(std::make_unique<NodeMachine>(std::move(node)));
    }
    room_hook_ = [this](const roles::RoomEvent& e) { follow_room(e); };
    RoleOptions role_opts = opts_.roles;
    if (node_)
        role_opts.pinned = [this](const std::string& user) -> std::optional<PublicKey> {
            auto k = node_->keys(user);
            if (k.empty()) return std::nullopt;
            return k.front().pinned;
        };
    if (node_) role_opts.addresses = [this](const std::string& user) { return addresses_of(user); };
    auto roles = make_roles(role_opts, identity, port_, seed ^ 0x9e3779b97f4a7c15ULL, room_hook_, std::move(rooms));
    if (!roles) return fail(roles.error());
    for (auto& m : roles->machines) machines_.push_back(std::move(m));
    client_ = roles->client;
    if (machines_.empty()) return fail("nothing to run");

    udp_.data = this;
    tcp_.data = this;
    for (auto* t : {&timer_, &sweep_, &exit_timer_}) {
        uv_timer_init(&loop_, t);
        t->data = this;
    }
    uv_signal_init(&loop_, &sigint_);
    uv_signal_init(&loop_, &sigterm_);
    sigint_.data = sigterm_.data = this;
    uv_signal_start(&sigint_, on_signal, SIGINT);
    uv_signal_start(&sigterm_, on_signal, SIGTERM);
    uv_udp_recv_start(&udp_, on_alloc, on_udp);
    uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_), 128, on_connection);

    if (opts_.front_end) {
        input_ = std::make_shared<InputQueue>();
        uv_async_init(&loop_, &input_async_, on_input);
        input_async_.data = this;
        input_->wake = &input_async_;
        std::thread(read_input, input_).detach();
    }

    for (auto& m : machines_) m->start(wall_now(), bound);
    pump();
    uv_run(&loop_, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&loop_);
    if (rc != 0) std::fprintf(stderr, "%s: event loop closed with handles open\n", opts_.log_name.c_str());
    return exit_status_;
}

}  // namespace

int run(const Options& opts, Sockets sockets, store::Store& store, Identity identity) {
    Driver d(opts, store);
    return d.run(std::move(sockets), std::move(identity));
}

}  // namespace dc::io
