// The darkchat node: the five DarkChat messages (declareOnline, declareOffline,
// requestPing, requestUserList, deliverKnownList), chat with an outbox, and
// liveness probing, as a sans-IO state machine. See include/darkchat/core.hpp.
//
// Vocabulary used below:
//   contact   a user we linked with \add, or a user whose declaration lists us
//             (links are edges of an undirected graph: either end makes one)
//   watched   a session we keep track of actively: every session of a contact
//             and of our own user (other devices); we probe these
//   two-hop   a user listed in a contact's declaration; we remember their
//             sessions but do not probe them
//   lost      a watched session that stopped answering; shown offline and
//             re-probed with exponential backoff until it answers again.
//             A two-hop session is lost when the contacts through whom we
//             know it told us they lost it (their belief, see tell_contacts)
//   prober    of two sessions watching each other, the one with the smaller
//             session id: it pings, the other answers and takes the fresh
//             pings as proof of life (probing itself only when they stop)
#include "darkchat/core.hpp"

#include "darkchat/chat_order.hpp"
#include "darkchat/crypto.hpp"
#include "darkchat/seen.hpp"
#include "core/budgets.hpp"
#include "core/envelope.hpp"
#include "core/flat_map.hpp"
#include "core/liveness.hpp"
#include "core/names.hpp"
#include "core/outbox.hpp"
#include "core/trust.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <tuple>

namespace dc::core {

namespace {

class SodiumCrypto final : public Crypto {
public:
    Signature sign(const SecretKey& sk, ByteView msg) override { return crypto::sign(sk, msg); }
    bool verify(const PublicKey& pk, ByteView msg, const Signature& sig) override {
        return crypto::verify(pk, msg, sig);
    }
};

constexpr SessionId kAnySession{};
constexpr TimeMs kPendingLifetime = 30000;   // how long an answer to our request is expected
constexpr std::size_t kMaxPending = 1024;    // outstanding requests of ours
constexpr std::size_t kMaxLookups = 32;      // nodes asked where a new contact is

bool has(const std::vector<std::string>& v, std::string_view s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

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

namespace {

// What a session's newest declaration says that we act on. The declaration
// itself is rec.decl; its links are kept once per user (User::links), not
// again per session: a decoded copy with its links cost about 500 bytes a
// session, and a node remembers a hundred sessions or so.
struct Declared {
    TimeMs issued = 0;
    KxPublicKey kx{};
    bool online = false;
    bool super_client = false;
};

Declared declared(const wire::Declaration& d) { return Declared{d.issued, d.kx, d.online, d.super_client}; }

// A session lives in its user's entry, under that name: it keeps the rest of
// what the store keeps of it (persist() adds the name back).
using SessionRec = SessionState;

// A node keeps one for every session of every user it knows (a hundred or
// so), so it keeps nothing twice: 296 bytes.
struct Session {
    SessionRec rec;
    Declared decl;
    // Probing it (liveness.hpp). The flags below fit in its tail padding.
    [[no_unique_address]] Probe live;
    bool lost = false;         // watched, stopped answering: shown offline, re-probed with backoff
    // Online when we stopped, not heard from since we started: shown offline,
    // but told to others as online (what we last knew) until the first
    // reconnection attempts have failed (see reconnect()).
    bool unconfirmed = false;
    // Two-hop: contacts that told us they lost this session (each once; a
    // handful at most, so a vector rather than a tree).
    std::vector<std::string> lost_by;
    TimeMs list_asked = 0;  // a requestUserList to it not answered yet (asked again on its next sign of life)

    bool online() const { return rec.online && !lost; }
    bool lost_by_has(std::string_view contact) const {
        return std::find(lost_by.begin(), lost_by.end(), contact) != lost_by.end();
    }
};

struct User {
    UserRecord rec;
    // Nearly always one. A sorted vector: a reference to a session does not
    // survive adding or pruning one of the same user (accept_declaration).
    FlatMap<SessionId, Session> sessions;
    // Newest declaration's links (from the session with the highest seq).
    NameList links;
    std::optional<SessionId> links_from;  // the session whose declaration they are
    bool key_known = false;
    bool lists_us = false;  // links has our own name (kept with links: is_contact() is asked often)
    bool super_client = false;
};

enum class PendingKind { user_list, ping, explode, probe };

struct Pending {
    PendingKind kind = PendingKind::probe;
    TimeMs expires = 0;
    std::size_t answers = 0;
    // The sessions that answered (each counts once), sorted: most requests get
    // one answer or a few, and a node holds dozens of requests after a start,
    // so a flat vector, not a tree node per answer.
    std::vector<std::pair<std::string, SessionId>> answered;

    // Records an answer; false when that session answered already.
    bool first_answer(const std::string& user, const SessionId& session) {
        std::pair<std::string, SessionId> key{user, session};
        auto it = std::lower_bound(answered.begin(), answered.end(), key);
        if (it != answered.end() && *it == key) return false;
        answered.insert(it, std::move(key));
        return true;
    }
};

}  // namespace

struct Node::State {
    Config cfg;
    Envelope env;
    const Identity& id = env.id();
    Crypto& crypto = env.crypto();
    Liveness liveness;

    std::map<std::string, User, std::less<>> users;
    Outbox outbox{cfg};
    SeenMessages seen{cfg.max_seen};
    std::map<std::uint64_t, Pending> pending;
    // Declarations already acted on (forwarded, answered): session, sequence and
    // nonce (an \explode re-sends the same declaration with a fresh nonce).
    HandledDeclarations handled{4096};

    // Sessions told our new sealing key after they used an old one.
    std::set<std::pair<SessionId, KxPublicKey>> told_new_key;

    bool links_changed = false;  // someone linked us: re-declare once the packet is handled

    // Timers: poll_timeout() returns a cached wakeup. It is recomputed (a scan
    // of the watched sessions and the outbox) only when a watched session's
    // timers or our own changed (wake_dirty); a new outbox deadline only lowers
    // it (soon()). A deadline that moved later costs at most one early wakeup.
    // Packets from the rest of the network never cause a scan.
    mutable bool wake_dirty = true;
    mutable std::optional<TimeMs> wake_cache;
    void soon(TimeMs t) {
        if (wake_cache) wake_cache = std::min(*wake_cache, t);
        else wake_dirty = true;
    }
    // Names listed by our contacts (two-hop users), sorted, without repeats;
    // rebuilt when links change. A flat vector: a tree node per name cost 80
    // bytes for a 32-byte string.
    mutable std::vector<std::string> two_hop_names;
    mutable bool two_hop_dirty = true;

    wire::SignedBlob self_decl;
    std::uint64_t self_seq = 0;
    bool online = false;
    bool quitting = false;
    TimeMs next_refresh = 0;
    TimeMs last_sent = 0;  // our messages' sent times strictly increase (seen.hpp orders by them)
    TimeMs now = 0;
    TimeMs started_at = 0;

    std::deque<StoreOp> store_out;
    std::deque<Event> events_out;
    // A transmit that rests on a message being stored (its ack, its mirror, the
    // message itself) names it: if the store fails, it is not sent.
    struct Out {
        Transmit t;
        std::optional<MessageId> dep;
    };
    std::deque<Out> tx_out;
    std::optional<MessageId> depends_on;  // tags what send() queues meanwhile
    Stats stats;

    // Direct chat in the order each author wrote it (chat_order.hpp): the
    // receiving side, and the number our session gave its last message to each user.
    ChatOrder order;
    std::map<std::string, std::uint64_t, std::less<>> send_seq;

    // What this input did on the assumption that its store ops are applied:
    // undone by handle_store_failed() if they are not.
    struct Tentative {
        MessageId id{};
        std::string author;
        TimeMs sent = 0;
        bool typed = false;            // written here (else: received and shown)
        std::string to;                // typed: its recipient
        std::optional<StreamKey> stream;
        std::uint64_t prev_seq = 0;    // the stream's number before (received: last shown; typed: last given)
    };
    std::vector<Tentative> tentative;

    State(Config c, Identity i, Crypto& cr, std::uint64_t seed)
        : cfg(std::move(c)), env(std::move(i), cr, cfg.port, cfg.stranger_ip_rate, cfg.stranger_ip_burst), liveness(cfg, id.session, seed) {}
    ~State() {
        crypto::wipe(kx.sk);
        if (kx_previous) crypto::wipe(kx_previous->sk);
    }

    // ---- small helpers -------------------------------------------------------

    // Challenges must be unpredictable, so they come from the injected Crypto, not rng.
    std::uint64_t nonce() { return env.nonce(); }
    MessageId message_id() { return env.random_id<std::tuple_size_v<MessageId>>(); }

    // ---- sealing keys ------------------------------------------------------------

    struct KxKeys {
        KxPublicKey pk{};
        KxSecretKey sk{};
    };
    KxKeys kx;
    std::optional<KxKeys> kx_previous;
    TimeMs kx_next_rotation = 0;

    void new_kx_key() {
        if (kx_previous) crypto::wipe(kx_previous->sk);
        if (kx.pk != KxPublicKey{}) kx_previous = kx;
        crypto.random(kx.sk);
        kx.pk = crypto.kx_public(kx.sk);
        kx_next_rotation = now + cfg.kx_rotation;
    }

    const KxKeys* kx_for(const KxPublicKey& pk) const {
        if (pk == kx.pk) return &kx;
        if (kx_previous && pk == kx_previous->pk) return &*kx_previous;
        return nullptr;
    }

    bool is_self(std::string_view user, const SessionId& s) const { return user == id.user && s == id.session; }

    const User* me = nullptr;  // our own entry in users (set by the constructor; map nodes stay put)

    bool is_contact(const User& u) const {
        if (&u == me) return false;
        return u.rec.contact || u.lists_us;
    }

    // Users whose sessions we watch: contacts and our own user.
    bool watched(const User& u) const { return &u == me || is_contact(u); }

    // Users we remember at all.
    bool relevant(const std::string& name) const {
        if (cfg.super_client || name == id.user) return true;
        auto it = users.find(name);
        if (it != users.end() && watched(it->second)) return true;
        return listed_by_contact(name);
    }

    bool listed_by_contact(const std::string& name) const {
        if (two_hop_dirty) {
            two_hop_names.clear();
            for (auto& [n, u] : users)
                if (is_contact(u))
                    for (auto l : u.links) two_hop_names.emplace_back(l);
            std::sort(two_hop_names.begin(), two_hop_names.end());
            two_hop_names.erase(std::unique(two_hop_names.begin(), two_hop_names.end()), two_hop_names.end());
            two_hop_names.shrink_to_fit();
            two_hop_dirty = false;
        }
        return std::binary_search(two_hop_names.begin(), two_hop_names.end(), name);
    }

    // Who lists whom: name -> users whose newest declaration lists it. Kept by
    // super-clients only, who know whole networks; an ordinary node knows a
    // few hundred users and looks through them instead (the index would cost
    // it about as much memory again as everything else it keeps).
    std::map<std::string, std::set<std::string>, std::less<>> listed_by;

    void set_links(User& u, NameList links) {
        if (!cfg.super_client) {
            u.links = std::move(links);
            u.lists_us = u.links.contains(id.user);
            return;
        }
        for (auto l : u.links) {
            auto it = listed_by.find(l);
            if (it == listed_by.end()) continue;
            it->second.erase(u.rec.name);
            if (it->second.empty()) listed_by.erase(it);
        }
        u.links = std::move(links);
        u.lists_us = u.links.contains(id.user);
        for (auto l : u.links) listed_by[std::string(l)].insert(u.rec.name);
    }

    // Calls f with the name of every user whose declaration lists `name`, in name order.
    template <typename F>
    void for_each_listing(const std::string& name, F f) const {
        if (!cfg.super_client) {
            for (auto& [n, u] : users)
                if (u.links.contains(name)) f(n);
            return;
        }
        if (auto it = listed_by.find(name); it != listed_by.end())
            for (auto& n : it->second) f(n);
    }

    // Links or contact flags changed: who is watched and who is two hops away may have too.
    void links_moved() {
        two_hop_dirty = true;
        wake_dirty = true;
        contacts_dirty = true;
    }

    // Our edges: users we linked, and users that linked us (links are symmetric,
    // so both ends declare them and two-hop views agree). Kept until links move.
    mutable std::vector<std::string> contacts_cache;
    mutable bool contacts_dirty = true;

    const std::vector<std::string>& contacts() const {
        if (contacts_dirty) {
            contacts_cache.clear();
            for (auto& [n, u] : users)
                if (is_contact(u)) contacts_cache.push_back(n);
            contacts_dirty = false;
        }
        return contacts_cache;
    }

    std::size_t contact_count() const { return contacts().size(); }

    std::vector<std::string> my_links() const {
        auto& c = contacts();
        return {c.begin(), c.begin() + static_cast<std::ptrdiff_t>(std::min(c.size(), wire::kMaxLinks))};
    }

    Addr self_addr() const {
        Addr a = cfg.bind_addr;
        a.port = cfg.port;
        return a;
    }

    void event(Event e) { events_out.push_back(std::move(e)); }
    void store(StoreOp op) { store_out.push_back(std::move(op)); }

    void send(const Addr& to, wire::MsgType type, const Bytes& payload) {
        auto sealed = env.seal(to, type, payload);
        if (!sealed) return;
        Transmit& t = *sealed;
        // No amplification: what we answer a sender we cannot authenticate is
        // never larger than its request over UDP (TCP needs a handshake first).
        if (request && !request->authenticated && to.ip == request->from.ip && t.data.size() > request->size)
            t.stream = true;
        tx_out.push_back(Out{std::move(t), depends_on});
        ++stats.sent;
    }

    // The packet being handled, while it is handled.
    struct Request {
        Addr from;
        std::size_t size = 0;
        bool authenticated = false;  // a known session, at the address we know it by
    };
    std::optional<Request> request;

    // ---- budgets -------------------------------------------------------------
    SenderBudgets budgets;

    bool within_budget(const wire::Header& h, const Addr& from, bool authenticated, bool stream) {
        if (authenticated)
            return budgets.known(now, h.from_user, h.from_session, stream, cfg.known_rate, cfg.known_burst);
        return env.ip_budget(now, from) && budgets.strangers(now, cfg.stranger_rate, cfg.stranger_burst);
    }

    // Returns false when it was remembered already.
    bool remember_handled(const SessionId& s, std::uint64_t seq, std::uint64_t n) { return handled.insert(s, seq, n); }

    void expire_pending() {
        for (auto it = pending.begin(); it != pending.end();) {
            if (it->second.expires <= now) it = pending.erase(it);
            else ++it;
        }
    }

    std::uint64_t add_pending(PendingKind kind) {
        if (pending.size() >= kMaxPending) expire_pending();
        if (pending.size() >= kMaxPending) pending.erase(pending.begin());
        auto n = nonce();
        pending[n] = Pending{kind, now + kPendingLifetime, 0, {}};
        return n;
    }

    // ---- our own declaration -------------------------------------------------

    // Signs a new declaration of this session (after a change of status or links).
    void redeclare(bool online_now) {
        online = online_now;
        self_seq = std::max<std::uint64_t>(self_seq + 1, static_cast<std::uint64_t>(now) * 1000);
        wire::Declaration d;
        d.user = id.user;
        d.key = id.pk;
        d.session = id.session;
        d.seq = self_seq;
        d.online = online_now;
        d.super_client = cfg.super_client;
        d.addr = self_addr();
        d.issued = now;
        d.links = my_links();
        d.kx = kx.pk;
        self_decl = env.sign(wire::encode(d));
        SessionRecord r;
        r.user = id.user;
        r.session = id.session;
        r.decl = self_decl;
        r.seq = self_seq;
        r.addr = d.addr;
        r.online = online_now;
        r.last_seen = now;
        store(store_op::PutSession{r});
    }

    Bytes declare_payload(std::uint8_t hops, bool reply, bool explode, std::uint64_t n) const {
        wire::Declare p;
        p.decl = self_decl;
        p.hops = hops;
        p.reply = reply;
        p.explode = explode;
        p.nonce = n;
        return wire::encode(p);
    }

    wire::MsgType declare_type() const {
        return online ? wire::MsgType::declare_online : wire::MsgType::declare_offline;
    }

    // Where we declare ourselves: every session of our contacts and of our own
    // user (unless it declared itself offline, when `all` is false), and the servers.
    std::vector<Addr> declaration_targets(bool all) const {
        std::vector<Addr> out;
        for (auto& [n, u] : users) {
            if (!watched(u)) continue;
            for (auto& [sid, s] : u.sessions) {
                if (is_self(n, sid)) continue;
                if (all || s.online() || s.lost) out.push_back(s.rec.addr);
            }
        }
        for (auto& a : cfg.servers) out.push_back(a);
        std::sort(out.begin(), out.end());
        out.erase(std::unique(out.begin(), out.end()), out.end());
        return out;
    }

    // With reply, the answers echo a fresh challenge, so they prove their senders alive.
    void declare_to_all(bool all, bool reply) {
        auto payload = declare_payload(1, reply, false, reply ? add_pending(PendingKind::probe) : 0);
        for (auto& a : declaration_targets(all)) send(a, declare_type(), payload);
    }

    // A contact's session: what it knows matters enough to ask again if the answer does not come.
    void ask_list_of(Session& s, std::vector<std::string> want = {}) {
        s.list_asked = now;
        ask_user_list(s.rec.addr, std::move(want));
    }

    void ask_user_list(const Addr& to, std::vector<std::string> want = {}) {
        wire::RequestUserList r;
        r.nonce = add_pending(PendingKind::user_list);
        r.want = std::move(want);
        send(to, wire::MsgType::request_user_list, wire::encode(r));
    }

    // ---- sessions ------------------------------------------------------------

    User& user_entry(const std::string& name, const PublicKey& key) {
        auto [it, inserted] = users.try_emplace(name);
        User& u = it->second;
        if (inserted) {
            u.rec.name = name;
            u.rec.first_seen = now;
        }
        if (!u.key_known) {
            u.rec.key = key;
            u.key_known = true;
            store(store_op::PutUser{u.rec});
        }
        return u;
    }

    // Keeps at most max_sessions_per_user: online sessions first, then the most recently seen.
    void prune(User& u) {
        if (u.sessions.size() <= cfg.max_sessions_per_user) return;
        std::vector<const Session*> order;
        for (auto& [sid, s] : u.sessions) order.push_back(&s);
        std::sort(order.begin(), order.end(), [&](const Session* a, const Session* b) {
            bool self_a = is_self(u.rec.name, a->rec.session), self_b = is_self(u.rec.name, b->rec.session);
            if (self_a != self_b) return self_a;
            if (a->online() != b->online()) return a->online();
            return a->rec.last_seen > b->rec.last_seen;
        });
        std::vector<SessionId> drop;
        for (std::size_t i = cfg.max_sessions_per_user; i < order.size(); ++i) drop.push_back(order[i]->rec.session);
        for (auto& sid : drop) {
            u.sessions.erase(sid);
            store(store_op::DeleteSession{u.rec.name, sid});
        }
    }

    // user: the name of the user the session belongs to (the key of its entry).
    void persist(const std::string& user, const Session& s) {
        store(store_op::PutSession{SessionRecord{s.rec, user}});
    }

    void presence(const User& u, const Session& s, const std::string& why) {
        if (!watched(u) || is_self(u.rec.name, s.rec.session)) return;
        event(ev::Presence{u.rec.name, s.rec.session, s.rec.addr, s.online(), why});
    }

    // The links a session declared: those of the declaration just accepted
    // (fresh), the user's (when they came from this session), or read again
    // from the declaration we hold.
    static NameList links_of(const User& u, const Session& s, const Session* fresh,
                             const std::vector<std::string>* fresh_links) {
        if (&s == fresh && fresh_links) return NameList(*fresh_links);
        if (u.links_from == s.rec.session) return u.links;
        auto d = wire::decode_declaration(s.rec.decl.body);
        return d ? NameList(d->links) : NameList{};
    }

    void recompute_links(User& u, const Session* fresh = nullptr, const std::vector<std::string>* fresh_links = nullptr) {
        const Session* newest = nullptr;
        for (auto& [sid, s] : u.sessions)
            if (!newest || s.decl.issued > newest->decl.issued) newest = &s;
        bool was_linked = u.links.contains(id.user);
        auto links = newest ? links_of(u, *newest, fresh, fresh_links) : NameList{};
        u.links_from = newest ? std::optional<SessionId>(newest->rec.session) : std::nullopt;
        if (links != u.links) {
            bool contact_before = is_contact(u);
            set_links(u, std::move(links));
            // Only a contact's links make our two-hop set, and who we watch.
            if (contact_before || is_contact(u) || &u == me) links_moved();
        }
        u.super_client = newest && newest->decl.super_client;
        // With symmetric declarations the user we linked lists us too: only a link
        // we did not make is news.
        if (!was_linked && u.links.contains(id.user) && u.rec.name != id.user && !u.rec.contact) {
            event(ev::Linked{u.rec.name, true});
            links_changed = !u.rec.contact;  // a new edge we did not make: declare it too
        }
    }

    // A verified packet arrived from this session: it is alive.
    void heard_from(const std::string& user, const SessionId& sid) {
        auto it = users.find(user);
        if (it == users.end()) return;
        auto st = it->second.sessions.find(sid);
        if (st == it->second.sessions.end()) return;
        Session& s = st->second;
        liveness.heard(s.live, now);
        s.unconfirmed = false;
        s.rec.last_seen = now;
        if (watched(it->second)) wake_dirty = true;
        // Our question (after its return or ours) or its answer was lost: ask again.
        if (s.list_asked && now - s.list_asked >= cfg.probe_interval_max && s.decl.online && !s.lost && s.rec.online)
            ask_list_of(s);
        // Alive, and its newest declaration says online: online again (after a
        // lost probe, a restart of ours, or a super-client's ageing).
        if (s.decl.online && (s.lost || !s.rec.online)) {
            s.lost = false;
            s.rec.online = true;
            liveness.back(s.live);
            persist(user, s);
            presence(it->second, s, "answered");
            // Back after a restart or a partition: what changed around it meanwhile?
            if (is_contact(it->second)) {
                ask_list_of(s);
                tell_contacts(it->second, s);
            }
            flush_outbox(user);
        }
    }

    // A contact's session changed status by what our probes found (no
    // declaration says so): tell our other contacts, for whom it is two hops
    // away. It is our belief, not the user's word: a deliverKnownList with no
    // nonce and the session's signed declaration, read only from contacts.
    void tell_contacts(const User& x, const Session& s) {
        if (!online) return;
        wire::DeliverKnownList list;
        list.sessions.push_back(known(s));
        auto payload = wire::encode(list);
        std::set<Addr> done;
        for (auto& [n, u] : users) {
            if (n == x.rec.name || !watched(u)) continue;
            // Lost ones too: we may be the side that has not heard from them yet.
            for (auto& [sid, o] : u.sessions)
                if ((o.online() || o.lost) && !is_self(n, sid) && done.insert(o.rec.addr).second)
                    send(o.rec.addr, wire::MsgType::deliver_known_list, payload);
        }
    }

    // A contact's belief about a two-hop session of the same declaration: shown
    // offline once every contact of ours that is linked with it and online
    // has said it lost it; online as soon as one says it sees it.
    void believe(User& u, Session& s, const std::string& contact, bool seen_online) {
        if (watched(u) || is_self(u.rec.name, s.rec.session)) return;  // we look for ourselves
        if (seen_online) {
            std::erase(s.lost_by, contact);
            s.lost = false;
            return;
        }
        if (!s.lost_by_has(contact)) s.lost_by.push_back(contact);
        for (auto l : u.links) {
            if (s.lost_by_has(l)) continue;
            auto c = users.find(l);
            if (c == users.end() || !is_contact(c->second)) continue;
            for (auto& [sid, cs] : c->second.sessions)
                if (cs.online() && !is_self(l, sid)) return;  // another contact may still see it
        }
        s.lost = true;
    }

    // Accepts a verified declaration. Returns true when it was newer than what we had.
    bool accept_declaration(const wire::Declaration& d, const wire::SignedBlob& blob, Addr addr) {
        if (is_self(d.user, d.session)) return false;
        if (addr.unspecified_ip()) return false;  // nowhere to reach it
        User& u = user_entry(d.user, d.key);
        auto it = u.sessions.find(d.session);
        if (it != u.sessions.end() && it->second.rec.seq >= d.seq) {
            ++stats.stale;
            return false;
        }
        bool fresh = it == u.sessions.end();
        bool was_online = !fresh && it->second.online();
        Session& ns = u.sessions[d.session];
        ns.decl = declared(d);
        ns.rec.session = d.session;
        ns.rec.decl = blob;
        ns.rec.seq = d.seq;
        ns.rec.addr = addr;
        ns.rec.online = d.online;
        ns.rec.last_seen = now;
        ns.lost = false;
        ns.unconfirmed = false;
        ns.lost_by.clear();
        liveness.declared(ns.live, now, fresh);
        bool links_before = is_contact(u);
        auto old_links = u.links;
        recompute_links(u, &ns, &d.links);
        if (watched(u)) wake_dirty = true;
        persist(d.user, ns);
        prune(u);
        // Pruning moves the sessions it keeps: find this one again.
        auto kept = u.sessions.find(d.session);
        if (kept == u.sessions.end()) return true;  // pruned at once (offline, old)
        Session& s = kept->second;
        if (fresh || was_online != s.online()) presence(u, s, d.online ? "declared online" : "declared offline");
        if (u.rec.name == id.user) adopt_links(d.links);
        if (is_contact(u) && s.online()) {
            // A new contact, a contact with new links, or one back online (it
            // restarted, we did, or a partition healed): learn its neighbourhood.
            std::vector<std::string> added;
            for (auto l : u.links)
                if (!old_links.contains(l) && l != id.user) added.emplace_back(l);
            if (!links_before || !added.empty() || !was_online) ask_list_of(s, added);
        }
        if (s.online()) flush_outbox(d.user);
        return true;
    }

    // Another session of our own user lists contacts we lack: links are per user, not per device.
    void adopt_links(const std::vector<std::string>& links) {
        bool changed = false;
        for (auto& name : links) {
            if (name == id.user || !valid_user_name(name)) continue;
            auto& u = users[name];
            if (u.rec.name.empty()) {
                u.rec.name = name;
                u.rec.first_seen = now;
            }
            if (!u.rec.contact) {
                u.rec.contact = true;
                changed = true;  // silently: the link was made on another device
                links_moved();
                store(store_op::PutUser{u.rec});
            }
        }
        if (changed && online) {
            redeclare(true);
            declare_to_all(false, false);
        }
    }

    // ---- incoming packets ------------------------------------------------------

    // The pinned key for a name must match; an unknown name is not yet pinned.
    Trust trust_;

    bool key_ok(const std::string& user, const PublicKey& key) {
        auto it = users.find(user);
        const PublicKey* pinned = it != users.end() && it->second.key_known ? &it->second.rec.key : nullptr;
        if (trust_.key_ok(pinned, user, key, now)) return true;
        ++stats.wrong_key;
        return false;
    }

    // A chat message signed by a key other than the pinned one: shown, marked,
    // never stored, acked or mirrored; the first one from that key warns.
    void on_untrusted_chat(const wire::Header& h, const wire::ChatMessage& m, const wire::SignedBlob& msg) {
        if (m.from != h.from_user || m.to != id.user || !env.verify(msg, h.from_key)) {
            ++stats.bad_signature;
            return;
        }
        auto u = trust_.untrusted_message(m.from, h.from_key, m.id, now);
        if (u.warn) event(ev::KeyWarning{m.from, users[m.from].rec.key, h.from_key});
        if (u.show) event(ev::Message{HistoryRecord{m.id, m.from, m.to, m.sent, now, m.text}, false, true});
    }

    void trust(const std::string& name, const std::string& fingerprint) {
        auto u = users.find(name);
        auto key = trust_.accept(name, fingerprint, u != users.end());
        if (!key) {
            event(ev::Problem{key.error()});
            return;
        }
        // Re-pin. Sessions signed by the old key are forgotten; the new key's
        // sessions come with its next declarations, so ask where it is.
        User& usr = u->second;
        for (auto& [sid, sess] : usr.sessions) store(store_op::DeleteSession{name, sid});
        usr.sessions.clear();
        set_links(usr, NameList{});
        links_moved();
        usr.rec.key = *key;
        usr.key_known = true;
        store(store_op::PutUser{usr.rec});
        event(ev::Notice{name + "'s key is now " + crypto::fingerprint(usr.rec.key)});
        for (auto& a : cfg.servers) ask_user_list(a, {name});
        for (auto& [n, o] : users)
            if (is_contact(o))
                for (auto& [sid, sess] : o.sessions)
                    if (sess.online()) ask_user_list(sess.rec.addr, {name});
    }

    std::optional<wire::Declaration> open_declaration(const wire::SignedBlob& blob) {
        auto d = wire::decode_declaration(blob.body);
        if (!d) {
            ++stats.malformed;
            return std::nullopt;
        }
        if (!env.verify(blob, d->key)) {
            ++stats.bad_signature;
            return std::nullopt;
        }
        if (!key_ok(d->user, d->key)) return std::nullopt;
        return std::move(d).value();
    }

    void on_packet(const Addr& from, ByteView data, bool stream) {
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
        if (is_self(h.from_user, h.from_session)) return;
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

    // A datagram's source is the sender's socket: it is a known session only
    // if it comes from exactly the address that session declared, never
    // because of the port its header claims. A TCP frame comes from an
    // ephemeral port; its source ip took a handshake to prove, so the ip
    // must match, and it spends its own budget (see within_budget).
    bool is_known_sender(const wire::Header& h, const Addr& from, bool stream) const {
        auto it = users.find(h.from_user);
        if (it == users.end() || it->second.rec.key != h.from_key) return false;
        auto st = it->second.sessions.find(h.from_session);
        if (st == it->second.sessions.end()) return false;
        const Addr& known = st->second.rec.addr;
        return known.ip == from.ip && known.port == h.from_port && (stream || known.port == from.port);
    }

    // A verified packet from a sender whose key is the pinned one: by type to its handler.
    void dispatch(const wire::Header& h, const Addr& back, const Bytes& body) {
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
                    } else if (online) {
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
            default:
                break;  // not a core type (32..63 are the role machines'): malformed here
        }
        ++stats.malformed;
    }

    // Only a pong echoing the challenge we sent that session proves it alive.
    void on_pong(const wire::Header& h, std::uint64_t n) {
        auto it = users.find(h.from_user);
        if (it == users.end()) return;
        auto st = it->second.sessions.find(h.from_session);
        bool steady = false;
        if (st == it->second.sessions.end() || !liveness.pong(st->second.live, n, steady)) {
            ++stats.unsolicited;
            return;
        }
        heard_from(h.from_user, h.from_session);
        liveness.after_pong(st->second.live, steady);
    }

    bool known_session(const wire::Header& h) const {
        auto it = users.find(h.from_user);
        return it != users.end() && it->second.sessions.count(h.from_session);
    }

    void on_declare(const wire::Header& h, const Addr& back, const wire::Declare& p, bool online_type) {
        auto d = open_declaration(p.decl);
        if (!d) return;
        if (d->online != online_type) {
            ++stats.malformed;
            return;
        }
        bool direct = h.from_user == d->user && h.from_session == d->session;
        if (direct && h.from_key != d->key) {
            ++stats.wrong_key;
            return;
        }
        Addr addr = d->addr;
        if (addr.unspecified_ip()) {
            if (direct) {
                auto port = addr.port;
                addr = back;
                addr.port = port ? port : back.port;
            } else if (p.seen.valid()) {
                addr = p.seen;
            }
        }
        // Answers to our own requests are welcome whoever sends them.
        // A challenge of ours is answered once per session: a replayed answer is stale.
        bool solicited = false;
        if (p.nonce) {
            auto pe = pending.find(p.nonce);
            if (pe != pending.end() && pe->second.first_answer(h.from_user, h.from_session)) {
                solicited = true;
                Pending& pd = pe->second;
                if (pd.kind == PendingKind::explode) {
                    ++pd.answers;
                    event(ev::Explored{pd.answers});
                } else if (pd.kind == PendingKind::ping) {
                    event(ev::Notice{"ping: " + d->user + " answered from " + addr.to_string()});
                }
            }
        }
        bool is_own_explode = p.explode && d->user == id.user && d->session == id.session;
        if (is_own_explode) return;
        // A declaration that lists us makes its author a contact (links are edges).
        bool new_edge = !relevant(d->user) && has(d->links, id.user);
        if (new_edge && contact_count() >= wire::kMaxLinks) new_edge = false;  // no room for more edges
        bool keep = solicited || relevant(d->user) || new_edge || (p.explode && p.hops == 0);
        if (keep && users.size() >= cfg.max_users && !users.count(d->user)) keep = false;
        if (keep) {
            bool newer = accept_declaration(*d, p.decl, addr);
            // An answer to our challenge proves its sender alive; a repeated
            // declaration alone does not (it could be a replay).
            if (solicited) heard_from(h.from_user, h.from_session);
            // A watched session we heard of through someone else may not know
            // where we are; a contact's session that does not list us (it
            // answered a \\ping made before we linked it) does not know we
            // linked it, and would not take our chat or answer our probes.
            auto du = users.find(d->user);
            if (newer && online && d->online && du != users.end() && watched(du->second) &&
                !is_self(d->user, d->session) &&
                (!direct || (is_contact(du->second) && !has(d->links, id.user))))
                send(addr, declare_type(), declare_payload(0, false, false, 0));
            // News of a contact that will not be forwarded otherwise (it came with
            // no hops left): pass it on, so our contacts' two-hop view stays whole.
            if (newer && p.hops == 0 && !p.explode && du != users.end() && is_contact(du->second))
                spread(*d, p.decl, addr);
        } else {
            ++stats.unsolicited;
        }

        if (!remember_handled(d->session, d->seq, p.nonce)) return;  // acted on already

        // Forward along the declarer's links: its status reaches everyone within two hops.
        auto du = users.find(d->user);
        bool from_contact = du != users.end() && (watched(du->second));
        if (p.hops > 0 && (from_contact || p.explode)) forward_declaration(*d, p, addr);

        if (p.explode && !is_self(d->user, d->session)) {
            // \explode: everyone reached answers the originator directly.
            send(addr, declare_type(), declare_payload(0, false, false, p.nonce));
        } else if (p.reply && direct && online) {
            send(addr, declare_type(), declare_payload(0, false, false, p.nonce));
            // A node that wants an answer has just (re)started: tell it what we know.
        }
    }

    void forward_declaration(const wire::Declaration& d, const wire::Declare& p, const Addr& addr) {
        wire::Declare f = p;
        f.hops = static_cast<std::uint8_t>(p.hops - 1);
        f.reply = false;
        f.seen = addr;
        auto payload = wire::encode(f);
        auto type = d.online ? wire::MsgType::declare_online : wire::MsgType::declare_offline;
        std::set<Addr> done;
        for (auto& [n, u] : users) {
            if (!watched(u)) continue;
            for (auto& [sid, s] : u.sessions) {
                if (is_self(n, sid) || (n == d.user && sid == d.session)) continue;
                if (!s.online()) continue;
                if (done.insert(s.rec.addr).second) send(s.rec.addr, type, payload);
            }
        }
    }

    // Passes a contact's declaration one hop on, to our other contacts.
    void spread(const wire::Declaration& d, const wire::SignedBlob& blob, const Addr& addr) {
        if (!online) return;
        remember_handled(d.session, d.seq, 0);
        wire::Declare p;
        p.decl = blob;
        p.hops = 1;  // forward_declaration takes one off
        forward_declaration(d, p, addr);
    }

    void on_request_ping(const wire::Header& h, const Addr& back, const wire::RequestPing& p) {
        bool for_me = p.target_user.empty() || (p.target_user == id.user &&
                                                (p.target_session == kAnySession || p.target_session == id.session));
        if (p.hops == 0 || for_me) {
            if (!for_me || !online) return;
            // Deliver a declareOnline to the requester. A request made directly is
            // answered at its source address; a forwarded one at the address the
            // requester gave to the common neighbour.
            Addr to = h.from_user == p.requester_user ? back : p.requester_addr;
            send(to, wire::MsgType::declare_online, declare_payload(0, false, false, p.nonce));
            // To an address only claimed (passed on by a neighbour): no reflection either.
            if (to != back && !tx_out.empty()) tx_out.back().t.stream = true;
            return;
        }
        // We are the common neighbour: pass the request on to the target's sessions,
        // and tell the requester where we know the target to be.
        auto it = users.find(p.target_user);
        if (it == users.end()) return;
        wire::RequestPing f = p;
        f.hops = 0;
        if (h.from_user == p.requester_user) f.requester_addr = back;
        wire::DeliverKnownList list;
        list.nonce = p.nonce;
        for (auto& [sid, s] : it->second.sessions) {
            if (p.target_session != kAnySession && sid != p.target_session) continue;
            if (s.online()) send(s.rec.addr, wire::MsgType::request_ping, wire::encode(f));
            list.sessions.push_back(known(s));
        }
        if (!list.sessions.empty()) send(back, wire::MsgType::deliver_known_list, wire::encode(list));
    }

    wire::KnownSession known(const Session& s) const {
        return wire::KnownSession{s.rec.decl, s.rec.addr, s.online() || s.unconfirmed, s.rec.last_seen};
    }

    void on_request_user_list(const wire::Header& h, const Addr& back, const wire::RequestUserList& p) {
        // Who the requester is linked to: from its own declaration, if we have it.
        std::set<std::string> names;
        names.insert(h.from_user);  // its other sessions
        auto req = users.find(h.from_user);
        if (req != users.end())
            for (auto l : req->second.links) names.emplace(l);
        for (auto& w : p.want)
            if (valid_user_name(w)) names.insert(w);
        names.insert(id.user);
        // ... and who those are linked to: the requester's two-hop neighbourhood.
        std::set<std::string> all = names;
        for (auto& n : names) {
            if (n == id.user) {
                for (auto& l : my_links()) all.insert(l);
                continue;
            }
            auto it = users.find(n);
            if (it == users.end()) continue;
            for (auto l : it->second.links) all.emplace(l);
        }
        // Users who list the requester are linked to it too.
        for_each_listing(h.from_user, [&](const std::string& n) { all.insert(n); });
        wire::DeliverKnownList out;
        out.nonce = p.nonce;
        out.complete = cfg.super_client;
        // A byte budget as well as a count: the answer must fit in one TCP frame.
        std::size_t bytes = kListOverhead;
        auto fits = [&](const wire::KnownSession& k) {
            std::size_t b = known_size(k);
            if (out.sessions.size() >= wire::kMaxListEntries || bytes + b > cfg.max_list_bytes) return false;
            bytes += b;
            return true;
        };
        if (online) {
            wire::KnownSession me{self_decl, self_addr(), true, now};
            if (fits(me)) out.sessions.push_back(std::move(me));
        }
        bool full = false;
        for (auto it = all.begin(); it != all.end() && !full; ++it) {
            auto u = users.find(*it);
            if (u == users.end()) continue;
            for (auto& [sid, s] : u->second.sessions) {
                if (is_self(*it, sid) || (*it == h.from_user && sid == h.from_session)) continue;
                auto k = known(s);
                if (!fits(k)) {
                    full = true;
                    out.complete = false;  // what did not fit is left out, and we say so
                    break;
                }
                out.sessions.push_back(std::move(k));
            }
        }
        send(back, wire::MsgType::deliver_known_list, wire::encode(out));
    }

    // An upper bound of the bytes a KnownSession adds to an encoded
    // deliverKnownList ([[body, sig], [family, ip, port], online, last_seen]
    // in msgpack, each number at its widest).
    static constexpr std::size_t kListOverhead = 512;  // the packet's header, signature, framing
    static std::size_t known_size(const wire::KnownSession& k) {
        auto bin = [](std::size_t n) { return n + (n < 256 ? 2 : n < 65536 ? 3 : 5); };
        std::size_t ip = k.addr.family == 4 ? 4 : k.addr.family == 6 ? 16 : 0;
        return 1 + 1 + bin(k.decl.body.size()) + bin(sizeof(Signature)) + (1 + 2 + bin(ip) + 3) + 1 + 9;
    }

    // A contact's belief about a session it watches (tell_contacts): only for
    // users two hops away through it, and only for the declaration we hold.
    void on_belief(const wire::Header& h, const wire::DeliverKnownList& p) {
        auto c = users.find(h.from_user);
        if (!request || !request->authenticated || c == users.end() || !is_contact(c->second) ||
            p.sessions.size() != 1) {
            ++stats.unsolicited;
            return;
        }
        auto& ks = p.sessions.front();
        auto d = open_declaration(ks.decl);
        if (!d) return;
        auto u = users.find(d->user);
        if (u == users.end() || !c->second.links.contains(d->user)) {
            ++stats.unsolicited;
            return;
        }
        auto st = u->second.sessions.find(d->session);
        if (st == u->second.sessions.end() || st->second.rec.seq < d->seq) {
            Addr addr = d->addr.unspecified_ip() ? ks.addr : d->addr;
            accept_declaration(*d, ks.decl, addr);
            st = u->second.sessions.find(d->session);
            if (st == u->second.sessions.end()) return;
        }
        if (st->second.rec.seq == d->seq) believe(u->second, st->second, h.from_user, ks.online);
    }

    void on_known_list(const wire::Header& h, const Addr& back, const wire::DeliverKnownList& p) {
        if (p.nonce == 0) {
            on_belief(h, p);
            return;
        }
        auto pe = pending.find(p.nonce);
        if (pe == pending.end() || !pe->second.first_answer(h.from_user, h.from_session)) {
            ++stats.unsolicited;
            return;
        }
        auto from = users.find(h.from_user);
        if (from != users.end())
            if (auto fs = from->second.sessions.find(h.from_session); fs != from->second.sessions.end())
                fs->second.list_asked = 0;
        heard_from(h.from_user, h.from_session);
        // A contact's answer also says which of our two-hop users it sees online.
        bool from_contact = from != users.end() && is_contact(from->second);
        for (auto& ks : p.sessions) {
            auto d = open_declaration(ks.decl);
            if (!d) continue;
            Addr addr = d->addr.unspecified_ip() ? ks.addr : d->addr;
            if (d->addr.unspecified_ip() && d->user == h.from_user && d->session == h.from_session) addr = back;
            // We keep what concerns our neighbourhood, and the answering node itself.
            if (!relevant(d->user) && d->user != h.from_user && !has(d->links, id.user)) continue;
            if (users.size() >= cfg.max_users && !users.count(d->user)) continue;
            bool newer = accept_declaration(*d, ks.decl, addr);
            auto& u = users[d->user];
            auto st = u.sessions.find(d->session);
            if (st == u.sessions.end()) continue;
            Session& s = st->second;
            // A session we watch and have not heard from ourselves: introduce ourselves.
            if (watched(u) && newer && s.rec.online && !is_self(d->user, d->session) && online)
                send(s.rec.addr, declare_type(), declare_payload(0, true, false, add_pending(PendingKind::probe)));
            if (newer && is_contact(u)) spread(*d, ks.decl, s.rec.addr);
            if (from_contact && s.rec.seq == d->seq && from->second.links.contains(d->user))
                believe(u, s, h.from_user, ks.online);
        }
    }

    // ---- chat ----------------------------------------------------------------

    void on_chat(const wire::Header& h, const Addr& back, const wire::Chat& c, bool trusted_sender = true) {
        const KxKeys* keys = kx_for(c.kx);
        std::optional<Bytes> plain;
        if (keys) plain = crypto.open(c.sealed, keys->pk, keys->sk);
        if (!plain) {
            // Sealed to a key we no longer hold (we restarted or rotated): tell the
            // sender our current declaration, at most once per rotation per session.
            ++stats.undecryptable;
            if (known_session(h) && told_new_key.insert({h.from_session, kx.pk}).second)
                send(back, declare_type(), declare_payload(0, false, false, 0));
            return;
        }
        auto blob = wire::decode_signed_blob(*plain);
        if (!blob) {
            ++stats.malformed;
            return;
        }
        auto m = wire::decode_chat_message(blob->body);
        if (!m) {
            ++stats.malformed;
            return;
        }
        const wire::SignedBlob& msg = *blob;
        if (!trusted_sender) {
            on_untrusted_chat(h, *m, msg);
            return;
        }
        // The author signed the message; the sender may be the author or one of
        // the author's or recipient's other sessions mirroring it.
        PublicKey author_key{};
        if (m->from == h.from_user) {
            author_key = h.from_key;
        } else {
            auto a = users.find(m->from);
            if (a == users.end() || !a->second.key_known) {
                ++stats.unsolicited;
                return;
            }
            author_key = a->second.rec.key;
        }
        if (!key_ok(m->from, author_key)) return;
        if (!env.verify(msg, author_key)) {
            ++stats.bad_signature;
            return;
        }
        bool to_me = m->to == id.user, from_me = m->from == id.user;
        bool sender_ok = h.from_user == m->from || h.from_user == id.user;
        if ((!to_me && !from_me) || !sender_ok || !users.count(h.from_user)) {
            ++stats.unsolicited;
            return;
        }
        if (seen.contains(m->from, m->sent, m->id)) {
            ++stats.duplicate;
            send(back, wire::MsgType::chat_ack, wire::encode(wire::ChatAck{m->id}));
            return;
        }
        // A numbered message sent by its author comes from the session that
        // numbered it (mirrors come from other sessions): no made-up streams.
        if (m->seq != 0 && h.from_user == m->from && m->session != h.from_session) {
            ++stats.malformed;
            return;
        }
        heard_from(h.from_user, h.from_session);  // a new message: fresh, not a replay
        HeldChat x{*m, msg, h.from_user, h.from_session, back};
        if (m->seq == 0) {  // unnumbered: shown as it comes
            show_chat(std::move(x));
            return;
        }
        StreamKey k{m->session, m->to};
        if (order.place(k, m->seq, c.base) != ChatOrder::Place::wait) {
            show_chat(std::move(x));
            return;
        }
        // An earlier one of this stream is still on its way: wait for it. The
        // sender keeps this one (it is not delivered) and is told which one we
        // wait for, so that it resends that one now rather than at its next retry.
        ++stats.out_of_order;
        if (order.hold(k, m->seq, std::move(x), now)) {
            wire::ChatAck held{m->id, true, order.last_shown(k) + 1};
            send(back, wire::MsgType::chat_ack, wire::encode(held));
        }
        wake_dirty = true;  // a hold has a deadline
    }

    // Shows a message that is due, and every held one that it lets follow: each
    // is stored (with its stream's new number) before it is shown and acknowledged.
    void show_chat(HeldChat&& first) {
        std::vector<HeldChat> due;
        due.push_back(std::move(first));
        for (std::size_t i = 0; i < due.size(); ++i) {
            HeldChat x = std::move(due[i]);
            const wire::ChatMessage& m = x.msg;
            depends_on = m.id;
            if (!seen.insert(m.from, m.sent, m.id)) {
                ++stats.duplicate;
                send(x.back, wire::MsgType::chat_ack, wire::encode(wire::ChatAck{m.id}));
                depends_on.reset();
                continue;
            }
            wire::ChatAck ack{m.id};
            Tentative t{m.id, m.from, m.sent, false, {}, std::nullopt, 0};
            HistoryRecord rec{m.id, m.from, m.to, m.sent, now, m.text};
            store(store_op::PutHistory{rec});
            if (m.seq != 0) {
                StreamKey k{m.session, m.to};
                t.stream = k;
                t.prev_seq = order.last_shown(k);
                store(store_op::PutChatSeq{ChatSeqRecord{k.session, k.peer, std::max(t.prev_seq, m.seq)}});
                auto next = order.shown(k, m.seq, now);
                // Later ones wait, and the next one is missing: say which we want.
                if (next.empty() && order.waiting(k)) ack.want = order.last_shown(k) + 1;
                for (auto& n : next) due.push_back(std::move(n));
            }
            send(x.back, wire::MsgType::chat_ack, wire::encode(ack));
            // Mirror what we received to our other sessions (seed 001, 2.2); a copy
            // that came from one of them needs no mirroring.
            if (x.sender_user != id.user) queue(x.blob, m, id.user);
            depends_on.reset();
            event(ev::Message{rec, m.from == id.user});
            tentative.push_back(std::move(t));
        }
    }

    // Held messages whose gap did not fill in time: shown, the gap skipped.
    void release_overdue() {
        for (auto& x : order.overdue(now)) show_chat(std::move(x));
    }

    // Takes back what rested on store ops that could not be applied.
    std::vector<StoreOp> store_failed(std::vector<StoreOp> ops) {
        std::set<MessageId> gone;
        std::set<StreamKey> streams;
        for (auto it = tentative.rbegin(); it != tentative.rend(); ++it) {
            const Tentative& t = *it;
            gone.insert(t.id);
            seen.forget(t.author, t.sent, t.id);
            outbox.erase(t.id, id.user);
            if (t.typed) {
                outbox.erase(t.id, t.to);
                send_seq[t.to] = t.prev_seq;
                streams.insert(StreamKey{id.session, t.to});
                event(ev::Problem{"not sent to " + t.to + ": it could not be saved (nothing was sent)"});
            } else if (t.stream) {
                order.set_last_shown(*t.stream, t.prev_seq);
                streams.insert(*t.stream);
            }
        }
        tentative.clear();
        if (gone.empty()) return ops;
        std::erase_if(events_out, [&](const Event& e) {
            if (auto* m = std::get_if<ev::Message>(&e)) return gone.count(m->msg.id) > 0;
            if (auto* q = std::get_if<ev::Queued>(&e)) return gone.count(q->id) > 0;
            return false;
        });
        std::erase_if(tx_out, [&](const Out& o) { return o.dep && gone.count(*o.dep) > 0; });
        std::erase_if(ops, [&](const StoreOp& op) {
            if (auto* h = std::get_if<store_op::PutHistory>(&op)) return gone.count(h->entry.id) > 0;
            if (auto* o = std::get_if<store_op::PutOutbox>(&op)) return gone.count(o->entry.id) > 0;
            if (auto* c = std::get_if<store_op::PutChatSeq>(&op))
                return streams.count(StreamKey{c->seq.session, c->seq.peer}) > 0;
            return false;
        });
        wake_dirty = true;
        return ops;
    }

    void on_chat_ack(const wire::Header& h, const wire::ChatAck& p) {
        OutEntry* e = outbox.find(p.id, h.from_user);
        if (!e) return;
        heard_from(h.from_user, h.from_session);  // acks a message still outstanding: fresh
        if (p.held) {
            // Not delivered: held until the one it waits for comes.
            outbox.held(*e, now);
            wake_dirty = true;
            resend_wanted(*e, p.want);
            return;
        }
        if (p.want != 0) resend_wanted(*e, p.want);
        bool mirror = h.from_user == id.user;
        std::string to = e->msg.to;
        store(store_op::DeleteOutbox{p.id, h.from_user});
        outbox.erase(p.id, h.from_user);
        if (!mirror) event(ev::Delivered{p.id, to});
    }

    // The receiver of e misses number `want` of e's stream while it holds later ones.
    void resend_wanted(const OutEntry& e, std::uint64_t want) {
        if (OutEntry* o = outbox.wanted(e, want, now)) try_send(*o);
    }

    std::vector<Addr> online_sessions(const std::string& user) const {
        std::vector<Addr> v;
        auto it = users.find(user);
        if (it == users.end()) return v;
        for (auto& [sid, s] : it->second.sessions)
            if (s.online() && !is_self(user, sid)) v.push_back(s.rec.addr);
        return v;
    }

    // Puts a message in the outbox for target (a user, or our own user for mirroring).
    void queue(const wire::SignedBlob& blob, const wire::ChatMessage& m, const std::string& target) {
        if (target == id.user && online_sessions(id.user).empty()) return;  // no other device to mirror to
        if (outbox.contains(m.id, target)) return;
        OutboxRecord rec{m.id, target, blob, now};
        store(store_op::PutOutbox{rec});
        bool behind = false;
        auto& added = outbox.add(std::move(rec), m, now, behind);
        if (behind) soon(now);
        else try_send(added);
    }

    // Sends an outbox entry to every online session of its target, sealed to
    // each session's current key, unless the pacer holds it back (false).
    bool try_send(OutEntry& e) {
        bool sent = outbox.try_send(e, now, [&](const OutEntry& x) {
            auto it = users.find(x.rec.target);
            if (it == users.end()) return;
            Bytes plain = wire::encode(x.rec.msg);
            std::uint64_t base = outbox.base_of(x);
            for (auto& [sid, s] : it->second.sessions) {
                if (!s.online() || is_self(x.rec.target, sid) || s.decl.kx == KxPublicKey{}) continue;
                wire::Chat c;
                c.kx = s.decl.kx;
                c.base = base;
                c.sealed = crypto.seal(plain, c.kx);
                send(s.rec.addr, wire::MsgType::chat, wire::encode(c));
            }
        });
        soon(sent ? e.next_try : outbox.pace_ready());
        return sent;
    }

    void flush_outbox(const std::string& user) {
        for (auto* e : outbox.flush(user, now))
            if (!try_send(*e)) break;
    }

    void send_chat(const cmd::Chat& c) {
        if (!valid_user_name(c.to)) {
            event(ev::Problem{"not a user name: " + c.to});
            return;
        }
        // A user we know of, even one whose key we have not seen yet (just
        // added, still being looked for), gets the message in the outbox: it is
        // signed now and sealed to each session once that session is known.
        auto it = users.find(c.to);
        if (it == users.end() || (!it->second.key_known && !it->second.rec.contact)) {
            event(ev::Problem{"not sent: unknown user " + c.to + " (\\add " + c.to + " to look for it first)"});
            return;
        }
        std::size_t waiting = outbox.waiting_for(c.to);
        if (waiting >= cfg.max_outbox_per_peer) {
            event(ev::Problem{"outbox for " + c.to + " is full (" + std::to_string(waiting) +
                              " messages waiting); nothing was sent"});
            return;
        }
        if (c.text.size() > wire::kMaxText) {
            event(ev::Problem{"message too long (" + std::to_string(c.text.size()) + " bytes, at most " +
                              std::to_string(wire::kMaxText) + ")"});
            return;
        }
        wire::ChatMessage m;
        m.id = message_id();
        m.from = id.user;
        m.to = c.to;
        m.sent = std::max(now, last_sent + 1);
        last_sent = m.sent;
        m.text = c.text;
        std::uint64_t& numbered = send_seq[c.to];
        Tentative t{m.id, m.from, m.sent, true, c.to, std::nullopt, numbered};
        m.session = id.session;
        m.seq = ++numbered;
        store(store_op::PutChatSeq{ChatSeqRecord{id.session, c.to, m.seq}});
        auto blob = env.sign(wire::encode(m));
        seen.insert(m.from, m.sent, m.id);
        store(store_op::PutHistory{HistoryRecord{m.id, m.from, m.to, m.sent, now, m.text}});
        bool recipient_online = !online_sessions(c.to).empty();
        event(ev::Queued{m.id, c.to, recipient_online});
        depends_on = m.id;
        queue(blob, m, c.to);
        queue(blob, m, id.user);
        depends_on.reset();
        tentative.push_back(std::move(t));
    }

    // ---- liveness --------------------------------------------------------------

    // Common neighbours of a user: online sessions of our contacts linked with it,
    // and the servers.
    std::vector<Addr> common_neighbours(const User& target) {
        std::vector<Addr> v;
        for (auto& [n, u] : users) {
            if (n == target.rec.name || !watched(u)) continue;
            if (!u.links.contains(target.rec.name) && !target.links.contains(n) && !u.super_client) continue;
            for (auto& [sid, s] : u.sessions)
                if (s.online() && !is_self(n, sid)) v.push_back(s.rec.addr);
        }
        for (auto& a : cfg.servers) v.push_back(a);
        return liveness.pick_neighbours(std::move(v));
    }

    // requestPing through common neighbours: they pass it on to the session and
    // tell us where they know it to be.
    void ask_neighbours_to_reach(const User& u, const Session& s) {
        wire::RequestPing rp;
        rp.target_user = u.rec.name;
        rp.target_session = s.rec.session;
        rp.requester_user = id.user;
        rp.requester_session = id.session;
        rp.requester_addr = self_addr();
        rp.nonce = add_pending(PendingKind::probe);
        rp.hops = 1;
        auto payload = wire::encode(rp);
        for (auto& a : common_neighbours(u))
            if (a != s.rec.addr) send(a, wire::MsgType::request_ping, payload);
    }

    // A probe round (liveness.hpp); what it finds, we act on.
    void probe(User& u, Session& s) {
        if (!s.online()) return;
        unsigned step = liveness.step(s.live, s.rec.session, now, [&] { return nonce(); });
        if (step & Liveness::lost) {
            s.lost = true;
            presence(u, s, "no answer");
            if (is_contact(u)) tell_contacts(u, s);
            return;
        }
        if (step & Liveness::ping) send(s.rec.addr, wire::MsgType::ping, wire::encode(wire::Ping{s.live.nonce}));
        if (step & Liveness::ask_neighbours) ask_neighbours_to_reach(u, s);
    }

    // A lost session (a fragmented network, a crashed node): keep knocking, with backoff.
    void reconnect(User& u, Session& s) {
        if (!s.lost || !liveness.retry_due(s.live, now)) return;
        send(s.rec.addr, declare_type(), declare_payload(0, true, false, add_pending(PendingKind::probe)));
        ask_neighbours_to_reach(u, s);
        liveness.back_off(s.live, now);
        // Not back since our start, after as long as a probe round: lost for good.
        if (s.unconfirmed && now - started_at >= cfg.indirect_timeout) {
            s.unconfirmed = false;
            if (is_contact(u)) tell_contacts(u, s);
        }
    }

    void tick() {
        wake_dirty = true;  // whatever is due moves on
        if (!online) return;
        if (now >= kx_next_rotation) {
            new_kx_key();
            redeclare(true);
            declare_to_all(false, false);
        }
        for (auto& [n, u] : users) {
            if (!watched(u)) continue;
            for (auto& [sid, s] : u.sessions) {
                if (is_self(n, sid)) continue;
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
                    if (fresh) it->second = !online_sessions(e.rec.target).empty();
                    return it->second;
                },
                outbox.pace_budget(now));
            for (auto* e : due)
                if (!try_send(*e)) break;  // the rest wait for the pacer, in order
        }
        release_overdue();
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
                if (!is_contact(u)) continue;
                for (auto& [sid, s] : u.sessions)
                    if (s.online()) {
                        ask_list_of(s);
                        break;
                    }
            }
        }
        expire_pending();
    }

    // A super-client does not probe the whole network; every node re-declares
    // itself to its servers each refresh_interval, so a session silent for three
    // intervals is taken for offline in the super-client's complete answers.
    void age_sessions() {
        for (auto& [n, u] : users) {
            if (watched(u)) continue;
            for (auto& [sid, s] : u.sessions) {
                if (!s.rec.online || now - s.rec.last_seen <= 3 * cfg.refresh_interval) continue;
                s.rec.online = false;
                persist(n, s);
            }
        }
    }

    std::optional<TimeMs> next_wakeup() const {
        if (!online) return std::nullopt;
        if (!wake_dirty && wake_cache) return wake_cache;
        TimeMs t = std::min(next_refresh, kx_next_rotation);
        auto earlier = [&](TimeMs x) { t = std::min(t, x); };
        for (auto& [n, u] : users) {
            if (!watched(u)) continue;
            for (auto& [sid, s] : u.sessions) {
                if (is_self(n, sid)) continue;
                if (s.lost) earlier(s.live.retry_at);
                else if (s.online()) earlier(liveness.wakeup(s.live, s.rec.session));
            }
        }
        for (auto& [k, e] : outbox.entries())
            if (TimeMs due = std::max(e.next_try, outbox.pace_ready()); due < t && !online_sessions(e.rec.target).empty())
                earlier(due);
        if (auto d = order.next_deadline()) earlier(*d);
        wake_cache = t;
        wake_dirty = false;
        return t;
    }

    // ---- commands --------------------------------------------------------------

    void add(const std::string& name) {
        if (!valid_user_name(name)) {
            event(ev::Problem{"not a user name: " + name});
            return;
        }
        if (name == id.user) {
            event(ev::Problem{"you cannot add yourself"});
            return;
        }
        auto& u = users[name];
        if (u.rec.name.empty()) {
            u.rec.name = name;
            u.rec.first_seen = now;
        }
        if (u.rec.contact) {
            event(ev::Notice{name + " is already a contact"});
            return;
        }
        u.rec.contact = true;
        links_moved();
        store(store_op::PutUser{u.rec});
        event(ev::Linked{name, false});
        redeclare(true);
        declare_to_all(false, true);
        for (auto& [sid, s] : u.sessions)
            if (s.online()) presence(u, s, "already known");
        // Known already (say, from \\ping): learn its neighbourhood now.
        for (auto& [sid, s] : u.sessions)
            if (s.online()) {
                ask_user_list(s.rec.addr);
                break;
            }
        if (online_sessions(name).empty()) {
            // Ask everyone we can reach where the new contact is.
            std::set<Addr> asked;
            for (auto& a : cfg.servers)
                if (asked.insert(a).second) ask_user_list(a, {name});
            // Contacts first, then anyone else we know to be online (a node
            // bootstrapped with \ping may know no contact yet).
            for (int pass = 0; pass < 2; ++pass)
                for (auto& [n, o] : users) {
                    if (watched(o) != (pass == 0)) continue;
                    for (auto& [sid, s] : o.sessions)
                        if (s.online() && !is_self(n, sid) && asked.size() < kMaxLookups &&
                            asked.insert(s.rec.addr).second)
                            ask_user_list(s.rec.addr, {name});
                }
            event(ev::Notice{"looking for " + name + " (asked " + std::to_string(asked.size()) + " nodes)"});
        }
    }

    void ping(const Addr& to) {
        wire::RequestPing rp;
        rp.requester_user = id.user;
        rp.requester_session = id.session;
        rp.requester_addr = self_addr();
        rp.nonce = add_pending(PendingKind::ping);
        rp.hops = 0;
        send(to, wire::MsgType::request_ping, wire::encode(rp));
        ask_user_list(to);
        event(ev::Notice{"ping sent to " + to.to_string()});
    }

    void explode() {
        auto n = add_pending(PendingKind::explode);
        auto payload = declare_payload(1, false, true, n);
        remember_handled(id.session, self_seq, n);
        auto targets = declaration_targets(false);
        for (auto& a : targets) send(a, declare_type(), payload);
        event(ev::Notice{"explode: declaration pushed to " + std::to_string(targets.size()) +
                         " sessions and their neighbours"});
    }

    void quit() {
        if (!online) {
            quitting = true;
            return;
        }
        redeclare(false);
        declare_to_all(false, false);
        quitting = true;
    }
};

// ---- Node ---------------------------------------------------------------------

Node::Node(Config config, Identity identity, Snapshot snap, Crypto& crypto, std::uint64_t rng_seed)
    : s_(std::make_unique<State>(std::move(config), std::move(identity), crypto, rng_seed)) {
    auto& s = *s_;
    // Our own name is pinned to our own key, whatever anyone declares.
    auto& me = s.users[s.id.user];
    s.me = &me;
    me.rec.name = s.id.user;
    me.rec.key = s.id.pk;
    me.key_known = true;
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
            s.self_seq = std::max(s.self_seq, r.seq);
            continue;
        }
        auto d = wire::decode_declaration(r.decl.body);
        if (!d) continue;
        auto& u = s.users[r.user];
        if (u.rec.name.empty()) u.rec.name = r.user;
        Session sess;
        sess.rec = r;  // the SessionState part
        sess.decl = declared(*d);
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
    s.tentative.clear();
    s.started_at = now;
    s.wake_dirty = true;
    s.new_kx_key();  // a new sealing key every run: what was sealed to the old one stays unreadable
    s.redeclare(true);
    for (auto& [n, u] : s.users)
        for (auto& [sid, sess] : u.sessions) s.liveness.restart(sess.live, now);
    s.event(ev::Ready{s.id.user, s.self_addr(), s.id.session});
    // Reach everyone we remember, wherever they were last seen, and ask what changed.
    s.declare_to_all(true, true);
    for (auto& a : s.cfg.servers) s.ask_user_list(a);
    s.next_refresh = now + s.cfg.refresh_interval;
    s.outbox.all_due(now);
}

void Node::handle_datagram(TimeMs now, const Addr& from, ByteView data) { handle_packet(now, from, data, false); }

void Node::handle_frame(TimeMs now, const Addr& from, ByteView data) { handle_packet(now, from, data, true); }

void Node::handle_packet(TimeMs now, const Addr& from, ByteView data, bool stream) {
    s_->now = now;
    s_->tentative.clear();
    if (s_->quitting) return;
    s_->on_packet(from, data, stream);
    if (s_->links_changed) {
        s_->links_changed = false;
        if (s_->online) {
            s_->redeclare(true);
            s_->declare_to_all(false, false);
        }
    }
}

void Node::handle_timeout(TimeMs now) {
    s_->now = now;
    s_->tentative.clear();
    s_->tick();
}

void Node::handle_command(TimeMs now, const Command& c) {
    auto& s = *s_;
    s.now = now;
    s.tentative.clear();
    s.wake_dirty = true;
    if (s.quitting) return;
    std::visit(
        [&](auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, cmd::Chat>) s.send_chat(x);
            else if constexpr (std::is_same_v<T, cmd::Add>) s.add(x.user);
            else if constexpr (std::is_same_v<T, cmd::Ping>) s.ping(x.addr);
            else if constexpr (std::is_same_v<T, cmd::Explode>) s.explode();
            else if constexpr (std::is_same_v<T, cmd::Quit>) s.quit();
            else if constexpr (std::is_same_v<T, cmd::Trust>) s.trust(x.user, x.fingerprint);
        },
        c);
}

std::vector<StoreOp> Node::handle_store_failed(TimeMs now, std::vector<StoreOp> ops) {
    s_->now = now;
    return s_->store_failed(std::move(ops));
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

std::optional<Transmit> Node::poll_transmit() {
    if (s_->tx_out.empty()) return std::nullopt;
    auto t = std::move(s_->tx_out.front().t);
    s_->tx_out.pop_front();
    return t;
}

std::optional<TimeMs> Node::poll_timeout() const {
    if (s_->quitting) return std::nullopt;
    return s_->next_wakeup();
}

std::vector<UserView> Node::users() const {
    std::vector<UserView> out;
    for (auto& [n, u] : s_->users)
        if (auto v = user(n)) out.push_back(std::move(*v));
    return out;
}

std::optional<UserView> Node::user(const std::string& name) const {
    auto& s = *s_;
    auto it = s.users.find(name);
    if (it == s.users.end()) return std::nullopt;
    const User& u = it->second;
    UserView v;
    v.name = name;
    v.contact = u.rec.contact;
    v.linked_us = u.links.contains(s.id.user) && !u.rec.contact;  // they made a link we did not
    for (auto& n : s.contacts())
        if (auto o = s.users.find(n); o != s.users.end() && o->second.links.contains(name)) {
            v.two_hop = true;
            v.via.push_back(n);
        }
    for (auto& [sid, sess] : u.sessions) {
        if (s.is_self(name, sid)) continue;
        v.sessions.push_back(SessionView{sid, sess.rec.addr, sess.online(), sess.rec.last_seen, sess.decl.super_client});
    }
    return v;
}

std::vector<KeyView> Node::keys(const std::string& name) const {
    std::vector<KeyView> out;
    for (auto& [n, u] : s_->users) {
        if (!name.empty() && n != name) continue;
        KeyView k;
        k.user = n;
        if (u.key_known) k.pinned = u.rec.key;
        if (auto* other = s_->trust_.other_key(n)) k.other = *other;
        out.push_back(k);
    }
    return out;
}

const Identity& Node::identity() const { return s_->id; }
const Stats& Node::stats() const { return s_->stats; }
bool Node::quitting() const { return s_->quitting; }
std::size_t Node::outbox_size() const { return s_->outbox.size(); }
std::size_t Node::seen_size() const { return s_->seen.size(); }

}  // namespace dc::core
