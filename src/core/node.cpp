// The darkchat node: the five DarkChat messages (declareOnline, declareOffline,
// requestPing, requestUserList, deliverKnownList), chat with an outbox, and
// liveness probing, as a sans-IO state machine. See include/darkchat/core.hpp.
// This file routes each input to the part or handler it is for; the state they
// share is in node_state.hpp, the vocabulary in presence.hpp.
#include "core/node_state.hpp"

#include <algorithm>

namespace dc::core {

namespace {

class SodiumCrypto final : public Crypto {
public:
    Signature sign(const SecretKey& sk, ByteView msg) override { return crypto::sign(sk, msg); }
    bool verify(const PublicKey& pk, ByteView msg, const Signature& sig) override {
        return crypto::verify(pk, msg, sig);
    }
};

}  // namespace

KxPublicKey Crypto::kx_public(const KxSecretKey& sk) { return crypto::kx_public(sk); }
Bytes Crypto::seal(ByteView msg, const KxPublicKey& to) { return crypto::seal(msg, to); }
std::optional<Bytes> Crypto::open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk) {
    return crypto::open_sealed(sealed, crypto::KxKeyPair{pk, sk});
}
void Crypto::random(std::span<std::uint8_t> out) { crypto::random_bytes(out); }

Crypto& real_crypto() {
    static SodiumCrypto c;
    return c;
}

bool UserView::online() const {
    return std::any_of(sessions.begin(), sessions.end(), [](const SessionView& s) { return s.online; });
}

Addr Node::State::self_addr() const {
    Addr a = cfg.bind_addr;
    a.port = cfg.port;
    return a;
}

bool Node::State::within_budget(const wire::Header& h, const Addr& from, bool authenticated, bool stream) {
    if (authenticated)
        return budgets.known(now, h.from_user, h.from_session, stream, cfg.known_rate, cfg.known_burst);
    return env.ip_budget(now, from) && budgets.strangers(now, cfg.stranger_rate, cfg.stranger_burst);
}

void Node::State::on_packet(const Addr& from, ByteView data, bool stream) {
    if (wire::peek_type(data) == wire::MsgType::channel_data) {
        on_channel_packet(from, data, stream);
        return;
    }
    bool authenticated = false;
    auto pkt = env.open(data, stats, [&](const wire::Packet& p) {
        authenticated = is_known_sender(p.header, from, stream);
        return within_budget(p.header, from, authenticated, stream) ? Drop::none : Drop::rate_limited;
    });
    if (!pkt) return;
    request = Request{from, data.size(), authenticated};
    struct Done {
        std::optional<Request>& r;
        ~Done() { r.reset(); }
    } done{request};
    const wire::Header& h = pkt->header;
    if (presence.is_self(h.from_user, h.from_session)) return;
    Addr back = reply_addr(from, h);
    if (!key_ok(h.from_user, h.from_key)) {
        // Only chat from another key gets through, to be shown marked.
        if (h.type == wire::MsgType::chat) {
            if (auto p = wire::decode_chat(pkt->payload)) on_chat(h, back, *p, false);
        }
        return;
    }
    dispatch(h, back, pkt->payload);
}

bool Node::State::is_known_sender(const wire::Header& h, const Addr& from, bool stream) const {
    auto it = users.find(h.from_user);
    if (it == users.end() || it->second.rec.key != h.from_key) return false;
    auto st = it->second.sessions.find(h.from_session);
    if (st == it->second.sessions.end()) return false;
    const Addr& known = st->second.rec.addr;
    return known.ip == from.ip && known.port == h.from_port && (stream || known.port == from.port);
}

void Node::State::dispatch(const wire::Header& h, const Addr& back, const Bytes& body) {
    switch (h.type) {
        case wire::MsgType::declare_online:
        case wire::MsgType::declare_offline: {
            auto p = wire::decode_declare(body);
            if (!p) break;
            on_declare(h, back, *p, h.type == wire::MsgType::declare_online);
            return;
        }
        case wire::MsgType::request_ping: {
            auto p = wire::decode_request_ping(body);
            if (!p) break;
            on_request_ping(h, back, *p);
            return;
        }
        case wire::MsgType::request_user_list: {
            auto p = wire::decode_request_user_list(body);
            if (!p) break;
            on_request_user_list(h, back, *p);
            return;
        }
        case wire::MsgType::deliver_known_list: {
            auto p = wire::decode_deliver_known_list(body);
            if (!p) break;
            on_known_list(h, back, *p);
            return;
        }
        case wire::MsgType::chat: {
            auto p = wire::decode_chat(body);
            if (!p) break;
            on_chat(h, back, *p);
            return;
        }
        case wire::MsgType::chat_ack: {
            auto p = wire::decode_chat_ack(body);
            if (!p) break;
            on_chat_ack(h, *p);
            return;
        }
        case wire::MsgType::hold: {
            auto p = wire::decode_hold(body);
            if (!p) break;
            on_hold(h, back, *p);
            return;
        }
        case wire::MsgType::hold_ack: {
            auto p = wire::decode_hold_ack(body);
            if (!p) break;
            on_hold_ack(h, *p);
            return;
        }
        case wire::MsgType::hand_over: {
            auto p = wire::decode_hand_over(body);
            if (!p) break;
            on_hand_over(h, back, *p);
            return;
        }
        case wire::MsgType::ping: {
            auto p = wire::decode_ping(body);
            if (!p) break;
            if (!known_session(h)) {
                ++stats.unsolicited;
                return;
            }
            send(back, wire::MsgType::pong, wire::encode(wire::Pong{p->nonce}));
            // A session's ping nonces only grow (ping_nonce()): a higher one than
            // any before is fresh, a replay is not. The answering side of a
            // pair lives on these and probes only when they stop.
            auto& sess = users.find(h.from_user)->second.sessions.find(h.from_session)->second;
            if (liveness.fresh_ping(sess.live, p->nonce)) {
                if (request->authenticated) {
                    heard_from(h.from_user, h.from_session);
                } else if (own.online()) {
                    // It pings from somewhere else: challenge it there; its answer
                    // (a newer declaration after a move) brings the new address.
                    send(back, declare_type(), declare_payload(0, true, false, add_pending(PendingKind::probe)));
                }
            }
            return;
        }
        case wire::MsgType::pong: {
            auto p = wire::decode_pong(body);
            if (!p) break;
            on_pong(h, p->nonce);
            return;
        }
        // A channel's handshake is two signed packets, never inside a channel. They
        // reach the channels only from a session we know, with its pinned key.
        case wire::MsgType::channel_hello: {
            auto p = wire::decode_channel_hello(body);
            if (!p || request->channel) break;
            if (!known_session(h) || !cfg.channels) {
                ++stats.unsolicited;
                return;
            }
            remember_channel(h.from_user, h.from_session);
            channels.handle_hello(now, h, *p);
            return;
        }
        case wire::MsgType::channel_welcome: {
            auto p = wire::decode_channel_welcome(body);
            if (!p || request->channel) break;
            if (!known_session(h)) {
                ++stats.unsolicited;
                return;
            }
            channels.handle_welcome(now, h, *p);
            return;
        }
        default:
            break;  // not a core type (32..63 are the role machines'): malformed here
    }
    ++stats.malformed;
}

void Node::State::tick() {
    wake_dirty = true;  // whatever is due moves on
    channels.handle_timeout(now);
    if (!own.online()) return;
    if (kx.due(now)) {
        new_kx();
        redeclare(true);
        declare_to_all(false, false);
    }
    // A copy: what a probe finds may change who we watch.
    auto watched = presence.watched_users();
    for (auto* e : watched) {
        auto& [n, u] = *e;
        for (auto& [sid, s] : u.sessions) {
            if (presence.is_self(n, sid)) continue;
            want_channel(n, s);
            probe(u, s);
            reconnect(u, s);
        }
    }
    if (now >= outbox.pace_ready()) {
        std::map<std::string_view, bool> reachable;  // per target, asked once a tick
        auto due = outbox.in_order(
            [&](auto&, auto& e) {
                if (now < e.next_try) return false;
                auto [it, fresh] = reachable.try_emplace(e.rec.target, false);
                if (fresh) it->second = !presence.online_sessions(e.rec.target).empty();
                return it->second;
            },
            outbox.pace_budget(now));
        for (auto* e : due)
            if (!try_send(*e)) break;  // the rest wait for the pacer, in order
    }
    release_overdue();
    if (now >= next_hold) {
        next_hold = now + cfg.hold_interval;
        hold_round();
    }
    if (now >= next_refresh) {
        next_refresh = now + cfg.refresh_interval;
        if (cfg.super_client) age_sessions();
        // Servers do not probe us: remind them, and refresh what we know.
        auto payload = declare_payload(0, false, false, 0);
        for (auto& a : cfg.servers) {
            send(a, declare_type(), payload);
            ask_user_list(a);
        }
        // Catch up with what our contacts learnt that no declaration brought us.
        for (auto& [n, u] : users) {
            if (!presence.is_contact(u)) continue;
            for (auto& [sid, s] : u.sessions)
                if (s.online()) {
                    ask_list_of(s);
                    break;
                }
        }
    }
    requests.expire(now);
}

std::optional<TimeMs> Node::State::next_wakeup() const {
    if (!own.online()) return std::nullopt;
    if (presence.take_moved()) wake_dirty = true;  // who we watch may have changed
    if (!wake_dirty && wake_cache) return wake_cache;
    TimeMs t = std::min(next_refresh, kx.next_rotation());
    auto earlier = [&](TimeMs x) { t = std::min(t, x); };
    for (auto* e : presence.watched_users()) {
        auto& [n, u] = *e;
        for (auto& [sid, s] : u.sessions) {
            if (presence.is_self(n, sid)) continue;
            if (s.lost) earlier(s.live.retry_at);
            else if (s.online()) earlier(liveness.wakeup(s.live, s.rec.session));
        }
    }
    for (auto& [k, e] : outbox.entries())
        if (TimeMs due = std::max(e.next_try, outbox.pace_ready()); due < t && !presence.online_sessions(e.rec.target).empty())
            earlier(due);
    if (auto d = order.next_deadline()) earlier(*d);
    if (hold_work()) earlier(next_hold);
    wake_cache = t;
    wake_dirty = false;
    return t;
}

// ---- Node ---------------------------------------------------------------------

Node::Node(Config config, Identity identity, Snapshot snap, Crypto& crypto, std::uint64_t rng_seed)
    : s_(std::make_unique<State>(std::move(config), std::move(identity), crypto, rng_seed)) {
    auto& s = *s_;
    // Our own name is pinned to our own key (Presence made its entry), whatever anyone declares.
    auto& me = s.presence.me();
    for (auto& r : snap.users) {
        if (r.name == s.id.user) {
            me.rec.first_seen = r.first_seen;
            continue;
        }
        auto& u = s.users[r.name];
        u.rec = r;
        u.key_known = r.key != PublicKey{};
    }
    for (auto& r : snap.sessions) {
        if (r.user == s.id.user && r.session == s.id.session) {
            s.own.resume(r.seq);
            continue;
        }
        auto d = wire::decode_declaration(r.decl.body);
        if (!d) continue;
        auto& u = s.users[r.user];
        if (u.rec.name.empty()) u.rec.name = r.user;
        Session sess;
        sess.rec = r;  // the SessionState part
        sess.decl = declared(*d);
        if (d->hold_kx != KxPublicKey{}) u.hold_kx = d->hold_kx;
        // What we remember is unconfirmed until the session answers us.
        sess.lost = r.online;
        sess.unconfirmed = r.online;
        u.sessions[r.session] = std::move(sess);
    }
    for (auto& [n, u] : s.users) s.recompute_links(u);
    s.events_out.clear();  // no "linked" events for what we already knew
    s.links_changed = false;
    for (auto& r : snap.outbox) {
        auto m = wire::decode_chat_message(r.msg.body);
        if (!m) continue;
        s.outbox.restore(r, std::move(m).value());
    }
    for (auto& r : snap.chat_seqs) {
        if (r.session == s.id.session) s.send_seq[r.peer] = std::max(s.send_seq[r.peer], r.seq);
        else s.order.set_last_shown(StreamKey{r.session, r.peer}, r.seq);
    }
    for (auto& [k, e] : s.outbox.entries())
        if (e.msg.session == s.id.session && e.msg.from == s.id.user)
            s.send_seq[e.msg.to] = std::max(s.send_seq[e.msg.to], e.msg.seq);
    s.holding.restore(std::move(snap.held));
    // Oldest first, so that if there are more than the bound the newest stay.
    for (auto it = snap.seen.rbegin(); it != snap.seen.rend(); ++it) {
        s.seen.insert(it->from, it->sent, it->id);
        if (it->from == s.id.user) s.last_sent = std::max(s.last_sent, it->sent);
    }
}

Node::~Node() = default;

void Node::handle_start(TimeMs now) {
    auto& s = *s_;
    s.now = now;
    s.new_input();
    s.started_at = now;
    s.wake_dirty = true;
    s.new_kx();  // a new sealing key every run: what was sealed to the old one stays unreadable
    s.redeclare(true);
    for (auto& [n, u] : s.users)
        for (auto& [sid, sess] : u.sessions) s.liveness.restart(sess.live, now);
    s.event(ev::Ready{s.id.user, s.self_addr(), s.id.session});
    // Reach everyone we remember, wherever they were last seen, and ask what changed.
    s.declare_to_all(true, true);
    for (auto& a : s.cfg.servers) s.ask_user_list(a);
    s.next_refresh = now + s.cfg.refresh_interval;
    s.next_hold = now + s.cfg.hold_interval;  // once the answers to our declarations came
    s.outbox.all_due(now);
    s.drain_channels();
}

void Node::handle_datagram(TimeMs now, const Addr& from, ByteView data) { handle_packet(now, from, data, false); }

void Node::handle_frame(TimeMs now, const Addr& from, ByteView data) { handle_packet(now, from, data, true); }

void Node::handle_packet(TimeMs now, const Addr& from, ByteView data, bool stream) {
    s_->now = now;
    s_->new_input();
    if (s_->quitting) return;
    s_->on_packet(from, data, stream);
    if (s_->links_changed) {
        s_->links_changed = false;
        if (s_->own.online()) {
            s_->redeclare(true);
            s_->declare_to_all(false, false);
        }
    }
    s_->drain_channels();
}

void Node::handle_timeout(TimeMs now) {
    s_->now = now;
    s_->new_input();
    s_->tick();
    s_->drain_channels();
}

void Node::handle_command(TimeMs now, const Command& c) {
    auto& s = *s_;
    s.now = now;
    s.new_input();
    s.wake_dirty = true;
    if (s.quitting) return;
    std::visit(
        [&](auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, cmd::Chat>) s.send_chat(x.to, x.text);
            else if constexpr (std::is_same_v<T, cmd::SendGroup>) s.send_chat(x.to, {}, x.payload);
            else if constexpr (std::is_same_v<T, cmd::Add>) s.add(x.user);
            else if constexpr (std::is_same_v<T, cmd::Ping>) s.ping(x.addr);
            else if constexpr (std::is_same_v<T, cmd::Explode>) s.explode();
            else if constexpr (std::is_same_v<T, cmd::Quit>) s.quit();
            else if constexpr (std::is_same_v<T, cmd::Trust>) s.trust_key(x.user, x.fingerprint);
        },
        c);
    s.drain_channels();
}

std::vector<StoreOp> Node::handle_store_failed(TimeMs now, std::vector<StoreOp> ops) {
    s_->now = now;
    return s_->store_failed(std::move(ops));
}

bool Node::takes_back(const Event& e) const {
    const MessageId* id = nullptr;
    if (auto* m = std::get_if<ev::Message>(&e)) id = &m->msg.id;
    else if (auto* q = std::get_if<ev::Queued>(&e)) id = &q->id;
    if (!id) return false;
    return std::any_of(s_->tentative.begin(), s_->tentative.end(), [&](const auto& t) { return t.id == *id; }) ||
           std::any_of(s_->held_new.begin(), s_->held_new.end(), [&](const auto& h) { return h.second == *id; });
}

std::optional<StoreOp> Node::poll_store() {
    if (s_->store_out.empty()) return std::nullopt;
    auto op = std::move(s_->store_out.front());
    s_->store_out.pop_front();
    return op;
}

std::optional<Event> Node::poll_event() {
    if (s_->events_out.empty()) return std::nullopt;
    auto e = std::move(s_->events_out.front());
    s_->events_out.pop_front();
    return e;
}

std::optional<Aside> Node::poll_aside() {
    if (s_->asides_out.empty()) return std::nullopt;
    auto a = std::move(s_->asides_out.front());
    s_->asides_out.pop_front();
    return a;
}

std::optional<Transmit> Node::poll_transmit() {
    if (s_->tx_out.empty() && !s_->acks_out.empty()) s_->flush_acks();
    if (s_->tx_out.empty()) return std::nullopt;
    auto t = std::move(s_->tx_out.front().t);
    s_->tx_out.pop_front();
    return t;
}

std::optional<TimeMs> Node::poll_timeout() const {
    if (s_->quitting) return std::nullopt;
    auto t = s_->next_wakeup();
    if (auto c = s_->channels.poll_timeout(); c && t) t = std::min(*t, *c);
    return t;
}

std::vector<UserView> Node::users() const {
    std::vector<UserView> out;
    for (auto& [n, u] : s_->users)
        if (auto v = user(n)) out.push_back(std::move(*v));
    return out;
}

std::optional<UserView> Node::user(const std::string& name) const { return s_->presence.view(name); }

std::vector<KeyView> Node::keys(const std::string& name) const {
    std::vector<KeyView> out;
    auto one = s_->users.find(name);
    if (!name.empty() && one == s_->users.end()) return out;
    for (auto it = name.empty() ? s_->users.begin() : one; it != s_->users.end(); ++it) {
        auto& [n, u] = *it;
        if (!name.empty() && n != name) break;
        KeyView k;
        k.user = n;
        if (u.key_known) k.pinned = u.rec.key;
        if (auto* other = s_->trust.other_key(n)) k.other = *other;
        out.push_back(k);
    }
    return out;
}

const Identity& Node::identity() const { return s_->id; }
const Stats& Node::stats() const { return s_->stats; }
bool Node::quitting() const { return s_->quitting; }
std::size_t Node::outbox_size() const { return s_->outbox.size(); }
std::size_t Node::outbox_waiting(const std::string& user) const { return s_->outbox.waiting_for(user); }
std::size_t Node::seen_size() const { return s_->seen.size(); }

std::optional<wire::MsgType> Node::inner_type(TimeMs now, ByteView data) {
    auto t = wire::peek_type(data);
    if (t != wire::MsgType::channel_data) return t;
    return s_->channels.peek(now, data);
}

}  // namespace dc::core
