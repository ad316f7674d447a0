// The libuv driver of a darkchat process. One loop, one thread for everything
// that matters; a helper thread only reads standard input (which may be a
// terminal, a pipe or a file) and hands whole lines to the loop. What the one
// UDP/TCP port runs is a host::Host; what the lines mean is a cli::Session.
// The driver moves bytes: packets and timers to the Host, lines to the
// Session, store batches to SQLite, lines out to stdout or the log.
//
// A turn of the loop: every datagram, TCP frame and typed chat line that is
// ready is handed to the Host first (recvmmsg through libuv), then the Host is
// drained once at the end of the turn (a check handle): one SQLite commit for
// all of them (with the daemon API, the log of what they show in it too), then
// what they show, then what they send (sendmmsg). Timers,
// signals and other lines drain at once, after what came before them.
#include "driver.hpp"

namespace dc::io::detail {

// ---- output ----------------------------------------------------------

void Driver::say(const std::string& line) {
    if (opts_.front_end) {
        out_.append(line);
    } else {
        out_.append(opts_.log_name).append(": ").append(line);
    }
    out_.push_back('\n');
    if (!gathering_) flush_out();
}

void Driver::flush_out() {
    if (out_.empty()) return;
    if (term_) {
        term_->write(out_);
    } else {
        FILE* f = opts_.front_end ? stdout : stderr;
        std::fwrite(out_.data(), 1, out_.size(), f);
        std::fflush(f);
    }
    out_.clear();
}

std::string Driver::say_session() {
    std::string said;
    while (auto line = session_->poll_line()) {
        say(*line);
        if (typed_said_) typed_said_->push_back(*line);
        if (api_) said.append(said.empty() ? "" : "\n").append(*line);
    }
    return said;
}

// ---- the host's outputs ------------------------------------------------

void Driver::pump() {
    inputs_since_rest_ += turn_inputs_;
    if (inputs_since_rest_ >= kRestInputs && !uv_is_active(reinterpret_cast<uv_handle_t*>(&rest_)) && !closing_) {
        inputs_at_arm_ = inputs_since_rest_;
        uv_timer_start(&rest_, on_rest, kRestAfter, 0);
    }
    turn_inputs_ = 0;
    if (closing_) return;
    // What events make the session say goes to every subscriber as the
    // event's line, not to the caller of a typed line.
    auto* typed = std::exchange(typed_said_, nullptr);
    store_and_show();
    // An offer an event just showed and the session took without asking
    // (--auto-accept) is accepted in this turn; what that stores and says follows.
    for (int round = 0; round < 4; ++round) {
        bool taken = false;
        while (auto r = session_->poll_file_request()) {
            files_.request(*host_, *session_, wall_now(), *r);
            taken = true;
        }
        if (!taken) break;
        say_session();
        store_and_show();
    }
    flush_out();
    // The API's event log is on disk before what the turn sends (acks
    // included) leaves, and before any client is told of the events.
    if (api_) store_api();
    while (auto t = host_->poll_transmit()) transmit(std::move(*t));
    send_udp();
    typed_said_ = typed;
    store_.checkpoint_if_due();
    if (host_->quitting()) {
        begin_shutdown();
        return;
    }
    arm_timer();
    if (input_paused_ && !session_->outbox_full()) {
        input_paused_ = false;
        uv_async_send(&input_async_);
    }
}

void Driver::store_and_show() {
    files_.perform(*host_, *session_);  // what the batch counts is on disk first
    if (opts_.front_end && !uv_is_active(reinterpret_cast<uv_handle_t*>(&progress_)) && host_->files() &&
        !host_->files()->transfers().empty())
        uv_timer_start(&progress_, on_progress, term_ ? kProgressInPlace : kProgressEvery,
                       term_ ? kProgressInPlace : kProgressEvery);
    bool file_events = false;
    gathering_ = true;
    // One batch, answered; the next poll_store() is null and ends the step.
    bool batch = false;
    while (const std::vector<StoreOp>* ops = host_->poll_store()) {
        batch = true;
        if (api_) {
            file_events = store_with_log(ops);
            continue;
        }
        auto r = store_.apply(*ops);
        if (r) host_->handle_store_applied(wall_now());
        else host_->handle_store_failed(wall_now(), {r.error(), store::is_transient(store_.fault())});
    }
    if (api_ && !batch) file_events = store_with_log(nullptr);  // the events' log alone
    file_events = show_events() || file_events;  // what an answer said (a failure, saved again)
    gathering_ = false;
    if (file_events) files_.sweep_uploads(host_->files());  // a transfer that ended read an upload
}

bool Driver::show_events() {
    bool file_events = false;
    while (auto e = host_->poll_event()) {
        file_events = file_events || std::holds_alternative<files::Event>(*e);
        session_->handle_event(*e);
        auto said = say_session();
        if (api_) api_->handle_event(wall_now(), *e, said);
    }
    return file_events;
}

bool Driver::store_with_log(const std::vector<StoreOp>* ops) {
    // The events are rendered first, held in out_, and logged by the API; the
    // turn's batch and their log go in one transaction. A kill -9 at any point
    // leaves both or neither: a message is never in the history without its
    // event (which its sender's retry, seen as a duplicate, could not make again).
    struct Shown {
        host::Event event;
        std::string said;      // what the session said of it
        std::size_t from, to;  // those lines in out_
        bool taken_back;       // dropped if the batch fails
    };
    std::vector<Shown> shown;
    const std::size_t out_mark = out_.size();
    const std::uint64_t log_mark = api_->last_event();
    const TimeMs now = wall_now();
    bool file_events = false;
    while (auto e = host_->poll_event()) {
        file_events = file_events || std::holds_alternative<files::Event>(*e);
        const bool back = ops && host_->takes_back(*e);
        const std::size_t from = out_.size();
        session_->handle_event(*e);
        auto said = say_session();
        api_->handle_event(now, *e, said);
        shown.push_back({std::move(*e), std::move(said), from, out_.size(), back});
    }
    static const std::vector<StoreOp> kNone;
    const std::vector<StoreOp>* log = api_->poll_store();
    auto r = store_.apply(ops ? *ops : kNone, log ? *log : kNone);
    if (r) {
        if (ops) host_->handle_store_applied(now);
        if (log) api_->handle_store_applied();
        return file_events;
    }
    if (ops) host_->handle_store_failed(now, {r.error(), store::is_transient(store_.fault())});
    if (std::any_of(shown.begin(), shown.end(), [](const Shown& s) { return s.taken_back; })) {
        // Not stored, so not shown: their senders send them again. The rest
        // stands, logged again under the seqs that follow.
        std::string kept = out_.substr(0, out_mark);
        api_->take_back(log_mark);
        for (const Shown& s : shown) {
            if (s.taken_back) continue;
            kept.append(out_, s.from, s.to - s.from);
            api_->handle_event(now, s.event, s.said);
        }
        out_ = std::move(kept);
    }
    if (log) api_->handle_store_failed();  // kept for the next try; sent meanwhile
    return file_events;
}

void Driver::handed_in() {
    if (++turn_inputs_ >= kMaxTurnInputs) pump();
}

void Driver::on_opened(uv_async_t* a) {
    auto* d = static_cast<Driver*>(a->data);
    if (d->closing_) return;
    d->files_.take_opened(*d->host_);
    d->handed_in();
}

void Driver::on_turn_end(uv_check_t* c) {
    auto* d = static_cast<Driver*>(c->data);
    if (d->turn_inputs_ > 0) d->pump();
}

void Driver::arm_timer() {
    if (closing_) return;
    TimeMs delay = -1;
    if (auto wake = host_->poll_timeout()) delay = std::max<TimeMs>(0, *wake - wall_now());
    uv_timer_stop(&timer_);
    if (delay >= 0) uv_timer_start(&timer_, on_timer, static_cast<std::uint64_t>(delay), 0);
}

void Driver::on_rest(uv_timer_t* t) {
    auto* d = static_cast<Driver*>(t->data);
    if (d->inputs_since_rest_ - d->inputs_at_arm_ >= kQuietInputs) {  // still busy: later
        d->inputs_at_arm_ = d->inputs_since_rest_;
        uv_timer_start(&d->rest_, on_rest, kRestAfter, 0);
        return;
    }
    d->inputs_since_rest_ = 0;
    d->store_.release_memory();
    release_idle_pages();
}

void Driver::on_progress(uv_timer_t* t) {
    auto* d = static_cast<Driver*>(t->data);
    auto* files = d->host_->files();
    if (!files || files->transfers().empty()) {
        if (d->term_) d->term_->set_status({});
        uv_timer_stop(t);  // nothing under way: no timer runs
        return;
    }
    const TimeMs now = wall_now();
    // The API's clients are told every kProgressEvery, whatever the terminal shows.
    if (d->api_ && now - d->api_progress_at_ >= static_cast<TimeMs>(kProgressEvery) - 100) {
        d->api_progress_at_ = now;
        for (auto& tr : files->transfers())
            if (tr.side == files::Side::receiving && tr.phase != files::Phase::offered)
                d->api_->handle_progress(now, tr, cli::bytes_had(tr), "");
        d->store_api();
    }
    if (d->term_) return d->term_->set_status(d->session_->progress_lines(now));
    d->session_->show_progress(now);
    d->say_session();
}

void Driver::on_timer(uv_timer_t* t) {
    auto* d = static_cast<Driver*>(t->data);
    // A relay's timer runs with its heartbeats (every 250 ms): its CPU use rides on them.
    if (d->opts_.roles.role == Role::relay)
        if (auto use = d->cpu_.sample()) d->host_->handle_cpu(*use);
    d->host_->handle_timeout(wall_now());
    d->pump();
}

void Driver::transmit(core::Transmit t) {
    if (t.data.size() <= wire::kMaxDatagram && !t.stream) {
        Datagram& d = udp_out_.emplace_back();
        d.data = std::move(t.data);
        d.to_len = to_sockaddr(t.to, d.to);
        return;
    }
    // Too big for one datagram: a frame on the TCP connection to the same port.
    tcp_out_->send(t.to, wire::frame(t.data));
}

void Driver::send_udp() {
    uv_os_fd_t fd = -1;
    bool direct = uv_fileno(reinterpret_cast<uv_handle_t*>(&udp_), &fd) == 0;
    std::size_t i = 0;
    while (i < udp_out_.size()) {
        if (direct && uv_udp_get_send_queue_count(&udp_) == 0) {
            bool failed = false;
            i = send_many(fd, udp_out_, i, failed);
            if (i == udp_out_.size()) break;
            direct = failed;
        }
        send_queued(std::move(udp_out_[i++]));
    }
    udp_out_.clear();
}

void Driver::send_queued(Datagram d) {
    auto* s = new UdpSend{{}, std::move(d)};
    s->req.data = s;
    uv_buf_t b = uv_buf_init(reinterpret_cast<char*>(s->d.data.data()), static_cast<unsigned>(s->d.data.size()));
    if (uv_udp_send(&s->req, &udp_, &b, 1, reinterpret_cast<sockaddr*>(&s->d.to), on_udp_sent) != 0) delete s;
}

// ---- UDP in -------------------------------------------------------------

void Driver::on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
    auto* d = static_cast<Driver*>(h->data);
    *buf = uv_buf_init(d->recv_buf_.get(), kRecvBuffer);
}

void Driver::on_udp(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr, unsigned flags) {
    auto* d = static_cast<Driver*>(h->data);
    if (nread <= 0 || !addr || d->closing_) return;
    if (flags & UV_UDP_PARTIAL) return;  // bigger than any datagram we accept
    ByteView data(reinterpret_cast<const std::uint8_t*>(buf->base), static_cast<std::size_t>(nread));
    d->host_->handle_datagram(wall_now(), from_sockaddr(addr), data);
    d->handed_in();
}

// ---- TCP in -------------------------------------------------------------

void Driver::on_connection(uv_stream_t* server, int status) {
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

void Driver::on_tcp_alloc(uv_handle_t*, std::size_t suggested, uv_buf_t* buf) {
    buf->base = new char[suggested];
    buf->len = suggested;
}

void Driver::close_inbound(TcpIn* c) {
    if (c->closing) return;
    c->closing = true;
    inbound_.remove(c);
    if (inbound_.empty()) uv_timer_stop(&sweep_);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->handle), on_tcp_in_closed);
}

void Driver::on_tcp_in_closed(uv_handle_t* h) {
    auto* c = static_cast<TcpIn*>(h->data);
    c->driver->inbound_.remove(c);
    delete c;
}

void Driver::on_tcp_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
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
        d->host_->handle_frame(wall_now(), c->peer, *packet);
        d->handed_in();
        if (d->closing_ || c->closing) return;
    }
    if (c->frames.bad()) d->close_inbound(c);  // not ours, or too big
}

void Driver::on_sweep(uv_timer_t* t) {
    auto* d = static_cast<Driver*>(t->data);
    TimeMs now = wall_now();
    std::vector<TcpIn*> idle;
    for (auto* c : d->inbound_)
        if (now - c->last_activity > kTcpIdle) idle.push_back(c);
    for (auto* c : idle) d->close_inbound(c);
}

// ---- standard input -----------------------------------------------------

void Driver::take_input() {
    std::size_t handled = 0;
    while (!closing_) {
        if (lines_.empty() && !refill_lines()) break;
        if (handled == kMaxTurnInputs) {
            uv_async_send(&input_async_);
            return;
        }
        // Back-pressure: this line would be refused; pump() takes up again
        // once acks have made room.
        if (pace_input_ && session_->outbox_full()) {
            input_paused_ = true;
            return;
        }
        InputLine l = std::move(lines_.front());
        lines_.pop_front();
        ++handled;
        handle_input(l);
    }
    if (lines_.empty() && input_eof_ && !closing_) {
        quit_all();
        pump();
    }
}

bool Driver::refill_lines() {
    if (!input_) return false;  // a terminal: lines come from on_tty
    {
        std::lock_guard lock(input_->mu);
        lines_.swap(input_->lines);
        input_eof_ = input_->eof;
    }
    input_->room.notify_one();
    return !lines_.empty();
}

void Driver::handle_input(const InputLine& l) {
    // A chat line's outcome is the Host's events, shown with the turn's;
    // any other line may show lines of its own, after what came before.
    if (l.overlong == 0 && session_->only_sends(l.text)) {
        session_->handle_line(wall_now(), l.text);
        say_session();
        handed_in();
        return;
    }
    if (turn_inputs_ > 0) pump();
    if (closing_) return;
    if (l.overlong > 0) session_->handle_overlong(l.overlong);
    else session_->handle_line(wall_now(), l.text);
    say_session();
    while (auto r = session_->poll_resolve()) resolve(std::move(*r));
    // \history reads what the turns before stored (pumped above).
    while (auto h = session_->poll_history()) {
        if (h->conversation) session_->handle_lines(*h, store_.lines(*h->conversation, h->count));
        else session_->handle_history(*h, store_.history(h->user, h->count));
    }
    while (auto r = session_->poll_file_request()) files_.request(*host_, *session_, wall_now(), *r);
    say_session();
    if (l.overlong == 0) pump();
}

void Driver::on_tty(uv_poll_t* p, int status, int) {
    auto* d = static_cast<Driver*>(p->data);
    if (d->closing_ || !d->term_) return;
    std::optional<Terminal::Input> in;
    if (status < 0) in = Terminal::Input{{}, true};
    else in = d->term_->read();
    if (!in) return;
    if (in->eof) {
        uv_poll_stop(p);
        d->input_eof_ = true;
    } else if (in->line.size() > kMaxInputLine) {
        d->lines_.push_back({{}, in->line.size()});
    } else {
        d->lines_.push_back({std::move(in->line)});
    }
    if (auto problem = d->term_->take_history_problem(); !problem.empty()) d->say(problem);
    d->take_input();
}

void Driver::on_winch(uv_signal_t* s, int) {
    auto* d = static_cast<Driver*>(s->data);
    if (d->term_) d->term_->resized();
}

// ---- \ping <host name> ---------------------------------------------------

void Driver::resolved(const cli::ResolveRequest& r, const Result<Addr>& addr) {
    session_->handle_resolved(wall_now(), r, addr);
    say_session();
}

void Driver::resolved(const api::Resolve& r, const Result<Addr>& addr) {
    api_->handle_resolved(wall_now(), r, addr);
    serve_api();
}

void Driver::on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
    std::unique_ptr<Resolving> r(static_cast<Resolving*>(req->data));
    Driver* d = r->d;
    if (d->closing_) {
        uv_freeaddrinfo(res);
        return;
    }
    Result<Addr> addr = status != 0 || !res ? Result<Addr>(err(uv_strerror(status))) : from_sockaddr(res->ai_addr);
    uv_freeaddrinfo(res);
    std::visit([&](const auto& request) { d->resolved(request, addr); }, r->request);
    if (addr) d->pump();
}

// ---- signals and shutdown ----------------------------------------------

void Driver::on_signal(uv_signal_t* s, int) {
    auto* d = static_cast<Driver*>(s->data);
    if (d->closing_) return;
    d->quit_all();
    d->pump();
}

void Driver::begin_shutdown() {
    if (closing_) return;
    closing_ = true;
    // Flush what is unsaved one last time.
    if (auto unsaved = host_->take_unsaved(); !unsaved.empty()) {
        auto r = store_.apply(unsaved);
        if (!r) say("! could not save state at exit (" + r.error() + ")");
    }
    if (api_) serve_api();  // the answer to quit, and the last events
    uv_timer_stop(&timer_);
    uv_udp_recv_stop(&udp_);
    uv_timer_start(&exit_timer_, on_exit_timer, kShutdownGrace, 0);
}

void Driver::on_exit_timer(uv_timer_t* t) {
    auto* d = static_cast<Driver*>(t->data);
    d->close_all();
}

void Driver::close_all() {
    if (input_) {
        {
            std::lock_guard lock(input_->mu);
            input_->wake = nullptr;
        }
        input_->room.notify_all();
    }
    auto close = [](auto* h) {
        auto* hh = reinterpret_cast<uv_handle_t*>(h);
        if (!uv_is_closing(hh)) uv_close(hh, nullptr);
    };
    if (opts_.front_end && !term_) close(&input_async_);
    files_.stop_pool();  // no worker wakes the loop any more
    close(&opened_async_);
    if (term_) {
        close(&tty_poll_);
        close(&sigwinch_);
    }
    api_socket_.close();
    web_socket_.close();
    close(&udp_);
    close(&tcp_);
    close(&timer_);
    close(&sweep_);
    close(&exit_timer_);
    close(&rest_);
    close(&progress_);
    close(&turn_end_);
    close(&sigint_);
    close(&sigterm_);
    tcp_out_->close();
    std::vector<TcpIn*> in(inbound_.begin(), inbound_.end());
    for (auto* c : in) close_inbound(c);
}

// ---- start-up ---------------------------------------------------------

int Driver::run(Sockets sockets, Identity identity) {
    uv_loop_init(&loop_);
    // A peer that closed a connection we write frames on is an error of that write
    // (tcp_out.cpp drops the connection), not a signal that ends the process.
    ::signal(SIGPIPE, SIG_IGN);
    port_ = sockets.port();
    auto [u, t] = sockets.release();
    uv_udp_init_ex(&loop_, &udp_, UV_UDP_RECVMMSG);
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
    Snapshot snapshot;
    if (opts_.roles.role == Role::user) {
        auto snap = store_.load_snapshot(opts_.config.max_seen);
        if (!snap) return fail(snap.error());
        snapshot = std::move(snap).value();
    }
    const std::uint64_t last_event = snapshot.last_event;
    host::Config cfg{opts_.config, opts_.roles};
    cfg.node.port = port_;
    cfg.node.bind_addr = opts_.bind;
    auto host = host::Host::create(cfg, identity, std::move(snapshot), core::real_crypto(), seed);
    if (!host) return fail(host.error());
    host_ = std::move(host).value();
    session_ = std::make_unique<cli::Session>(*host_);
    session_->set_file_settings({opts_.auto_accept});
    if (!opts_.api_socket.empty() && host_->node()) api_ = std::make_unique<api::Server>(*host_, api::Config{}, last_event);
    files_.set_downloads(opts_.downloads);
    if (api_) {  // uploads left by a transfer that ended while the node was down go now
        files_.set_uploads((std::filesystem::path(opts_.api_socket).parent_path() / "uploads").string());
        files_.sweep_uploads(host_->files());
    }

    tcp_out_ = std::make_unique<TcpOut>(&loop_);
    udp_.data = this;
    tcp_.data = this;
    for (auto* t : {&timer_, &sweep_, &exit_timer_, &rest_}) {
        uv_timer_init(&loop_, t);
        t->data = this;
    }
    uv_unref(reinterpret_cast<uv_handle_t*>(&rest_));  // never what keeps the loop running
    uv_timer_init(&loop_, &progress_);
    progress_.data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(&progress_));

    uv_signal_init(&loop_, &sigint_);
    uv_signal_init(&loop_, &sigterm_);
    sigint_.data = sigterm_.data = this;
    uv_signal_start(&sigint_, on_signal, SIGINT);
    uv_signal_start(&sigterm_, on_signal, SIGTERM);
    uv_async_init(&loop_, &opened_async_, on_opened);
    opened_async_.data = this;
    // Only a node with a file part opens chunks: a directory or relay starts no thread.
    if (host_->files())
        files_.start_pool(ChunkPool::threads_for(std::thread::hardware_concurrency()),
                          [this] { uv_async_send(&opened_async_); });
    uv_check_init(&loop_, &turn_end_);
    turn_end_.data = this;
    uv_check_start(&turn_end_, on_turn_end);
    uv_udp_recv_start(&udp_, on_alloc, on_udp);
    uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_), 128, on_connection);

    if (opts_.front_end)
        term_ = Terminal::open(opts_.input_history, [this](std::string_view line) { return session_->complete(line); });
    if (term_) {
        uv_poll_init(&loop_, &tty_poll_, 0);
        // libuv made standard input non-blocking; the terminal is one open
        // file shared with standard output (and the shell after us), which
        // must stay blocking. epoll does not need it.
        if (int fl = ::fcntl(0, F_GETFL); fl >= 0) ::fcntl(0, F_SETFL, fl & ~O_NONBLOCK);
        tty_poll_.data = this;
        uv_poll_start(&tty_poll_, UV_READABLE, on_tty);
        uv_signal_init(&loop_, &sigwinch_);
        sigwinch_.data = this;
        uv_signal_start(&sigwinch_, on_winch, SIGWINCH);
        pace_input_ = false;
    } else if (opts_.front_end) {
        input_ = std::make_shared<InputQueue>();
        uv_async_init(&loop_, &input_async_, on_input);
        input_async_.data = this;
        input_->wake = &input_async_;
        pace_input_ = !::isatty(0);
        std::thread(read_input, input_).detach();
    }

    if (opts_.roles.role == Role::relay) cpu_.sample();  // the baseline of the first figure
    if (api_) open_api();
    host_->handle_start(wall_now(), bound);
    pump();
    store_.release_memory();
    release_idle_pages();  // start-up's code and heap
    uv_run(&loop_, UV_RUN_DEFAULT);
    term_.reset();  // the terminal as it was
    int rc = uv_loop_close(&loop_);
    if (rc != 0) std::fprintf(stderr, "%s: event loop closed with handles open\n", opts_.log_name.c_str());
    return host_->exit_status();
}

}  // namespace dc::io::detail

namespace dc::io {

int run(const Options& opts, Sockets sockets, store::Store& store, Identity identity) {
    detail::Driver d(opts, store);
    return d.run(std::move(sockets), std::move(identity));
}

}  // namespace dc::io
