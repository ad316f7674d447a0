// A relay: hosts rooms and forwards their lines and acks between joined members.
// It sees who is in which room, when and how much they write, but not what: every line
// is encrypted under a key sealed to each member's key and signed by its author (darkchat-rooms(7)).
//
// Admission, the one place that decides it: a join needs a ticket
//  - signed by the directory whose key the relay pinned at the directory's first
//    answer (when the relay has a directory), or
//  - without a directory, signed by its issuer, who is one of the members it lists;
// naming this relay (its key), naming the joiner with the key the join is signed with,
// and for a room the relay already hosts, listing the same members as the first ticket
// it saw (so a member cannot add people later). The joiner's sealing key must be signed
// by the joiner for this room.
//
// A conversation group's room (a ticket with group set) is the exception: its ticket is
// signed by the group's coordinator, a member it lists, also on a relay with a
// directory, and its members follow the group's records: a ticket of a later epoch,
// signed by a member of the list the relay holds, replaces the list (members no longer
// in it are dropped from the room). darkchat-groups(7), RELAYS.

#include "envelope.hpp"
#include "hop.hpp"

#include <set>

namespace dc::roles {

using namespace detail;

namespace {

struct Member {
    std::string user;
    PublicKey key{};
    Addr addr;
    TimeMs last = 0;
    wire::SignedBlob member_key;
    std::optional<Hop> hop;  // lines and acks to it go as AEAD packets under this
};

// A member's tagged ack to an author, held by the relay until it goes with the others'.
struct HeldAck {
    wire::TaggedAck ack;
    std::uint64_t run = 0, upto = 0;  // from its body: a later ack of the member replaces it
};

// The acks to one author in one room that the relay holds, one per acker (its latest),
// since the first came.
struct AckGather {
    TimeMs since = 0;
    std::size_t bytes = 0;
    std::map<std::string, HeldAck> by;
};

struct Room {
    RoomId id{};
    std::uint32_t epoch = 0;
    std::vector<wire::TicketMember> members;  // fixed by the first ticket (a group's: by its newest)
    bool group = false;
    std::map<std::string, Member> joined;
    TimeMs last_activity = 0;
    std::uint64_t forwarded = 0;
};

}  // namespace

struct Relay::State {
    RelayConfig cfg;
    Envelope env;
    TimeMs now = 0;
    bool started = false;
    TimeMs next_heartbeat = 0;
    TimeMs next_sweep = 0;
    std::uint64_t hb_seq = 0;
    std::optional<PublicKey> dir_key;
    std::uint64_t dir_boot = 0;
    TimeMs dir_last = 0;
    bool dir_alive = false;
    std::map<RoomId, Room> rooms;
    // Every joined member's key at the address it is served at, once per room: a packet
    // from one of them spends that member's budget, not its ip's.
    std::multiset<std::pair<PublicKey, Addr>> seated;
    std::deque<RelayEvent> events;
    // Lines forwarded per second: the count of the current second and the last full one.
    TimeMs second_start = 0;
    std::uint32_t this_second = 0, last_second = 0;
    CpuUse cpu;  // as the driver last measured it

    // This run's X25519 key, announced in every roster: each member's hop is made from it.
    KxSecretKey kx_sk{};
    KxPublicKey kx_pk{};
    // Which joined member a hop index is (two members may share one: each is tried).
    // Added at every join, made again from the rooms at every sweep; a stale entry is
    // passed over (hop_member checks that the member still has that hop).
    std::multimap<std::uint32_t, std::pair<RoomId, std::string>> hops;
    HopFloor hop_floor;  // past every counter a dropped member's hop used (hop.hpp)
    // Acks gathered per room and author (darkchat-rooms(7), DELIVERY): they go to the
    // author as one packet once every other joined member's is in, when the next would
    // not fit, or kAckHold after the first.
    std::map<std::pair<RoomId, std::string>, AckGather> gathered;
    static constexpr TimeMs kAckHold = 10;
    static constexpr std::size_t kAckPacking = 900;  // bytes of acks in one packet, well under a datagram

    State(RelayConfig c, Identity id, core::Crypto& crypto, std::uint64_t)
        : cfg(std::move(c)), env(std::move(id), crypto, cfg.port, cfg.ip_rate, cfg.ip_burst) {
        env.known_budget(cfg.member_rate, cfg.member_burst);
        crypto.random(kx_sk);
        kx_pk = crypto.kx_public(kx_sk);
    }
    ~State() { crypto::wipe(kx_sk); }
    State(const State&) = delete;
    State& operator=(const State&) = delete;

    // A room's packet of type t to a joined member: under its hop, or signed.
    void to_member(Member& m, wire::MsgType t, ByteView payload) {
        if (m.hop) env.push(m.addr, hop_seal(env.crypto(), *m.hop, t, payload));
        else env.send(m.addr, t, Bytes(payload.begin(), payload.end()));
    }

    // Every member dropped, moved or joining again passes here first.
    void unseat(const Member& m) {
        if (auto it = seated.find({m.key, m.addr}); it != seated.end()) seated.erase(it);
        hop_floor.retire(m.hop);
    }
    void seat(Member& m, const Addr& at) {
        unseat(m);
        m.addr = at;
        seated.insert({m.key, at});
    }

    void event(RelayEvent e) { events.push_back(std::move(e)); }

    Load load() const {
        Load l;
        l.rooms = static_cast<std::uint32_t>(rooms.size());
        for (auto& [id, r] : rooms) l.members += static_cast<std::uint32_t>(r.joined.size());
        l.messages_per_second = now - second_start < 2000 ? last_second : 0;
        l.cpu = cpu;
        return l;
    }

    void count_line() {
        if (now - second_start >= 1000) {
            last_second = now - second_start < 2000 ? this_second : 0;
            this_second = 0;
            second_start = now;
        }
        ++this_second;
    }

    void heartbeat() {
        if (!cfg.directory) return;
        const Load l = load();
        wire::RelayHeartbeat hb{++hb_seq, l.rooms, l.members, l.messages_per_second, {},
                                l.cpu.self, l.cpu.machine, l.cpu.cores};
        hb.addr.family = cfg.directory->family;  // unspecified ip: the directory fills in what it sees
        hb.addr.port = cfg.port;
        env.send(*cfg.directory, wire::MsgType::relay_heartbeat, wire::encode(hb));
    }

    void start(TimeMs t) {
        if (started) return;
        started = true;
        second_start = t;
        next_heartbeat = t;
        next_sweep = t + 1000;
    }

    void refuse(const Incoming& in, const RoomId& room, const char* why) {
        ++env.stats().refused;
        env.send(in.reply, wire::MsgType::room_refused, wire::encode(wire::RoomRefused{room, why}));
    }

    // The joined members' keys, and where each is served (members send a room's files
    // straight to each other there).
    wire::RoomRoster roster_of(const Room& r) const {
        wire::RoomRoster roster{r.id, r.epoch, {}, kx_pk, true, {}};
        for (auto& [n, m] : r.joined) {
            roster.member_keys.push_back(m.member_key);
            roster.addrs.push_back(m.addr);
        }
        return roster;
    }

    void send_roster(const Room& r) {
        std::vector<Addr> to;
        for (auto& [n, m] : r.joined) to.push_back(m.addr);
        env.send_all(to, wire::MsgType::room_roster, wire::encode(roster_of(r)));
    }

    // ---- handlers ---------------------------------------------------------------------

    void on_relay_ack(const Incoming& in, const wire::RelayAck& a) {
        if (!cfg.directory || in.from.ip != cfg.directory->ip) {
            ++env.stats().unsolicited;
            return;
        }
        // Trust on first use: the key of the directory's first answer is pinned; tickets
        // must be signed by it from then on.
        if (!dir_key) dir_key = in.pkt.header.from_key;
        if (*dir_key != in.pkt.header.from_key) {
            ++env.stats().wrong_key;
            return;
        }
        dir_last = now;
        if (!dir_alive || a.boot != dir_boot) {
            dir_alive = true;
            event(relay_ev::DirectoryUp{*cfg.directory, *dir_key});
        }
        dir_boot = a.boot;
    }

    void on_join(const Incoming& in, const wire::RoomJoin& j) {
        const auto& h = in.pkt.header;
        auto t = wire::decode_ticket(j.ticket.body);
        if (!t) {
            ++env.stats().malformed;
            return;
        }
        const RoomId room = t->room;
        if (cfg.directory && !t->group) {
            if (!dir_key) return refuse(in, room, kDirectoryUnknown);
            if (!env.verify(j.ticket, *dir_key) || !t->issuer.empty()) return refuse(in, room, "ticket not signed by the directory");
        } else {
            const auto* issuer = ticket_member(*t, t->issuer);
            if (t->issuer.empty() || !issuer || !env.verify(j.ticket, issuer->key))
                return refuse(in, room, "ticket not signed by a member");
        }
        if (t->relay_key != PublicKey{} && t->relay_key != env.id().pk) return refuse(in, room, "ticket for another relay");
        const auto* me = ticket_member(*t, h.from_user);
        if (!me || me->key != h.from_key) return refuse(in, room, "not invited");
        auto mk = wire::decode_member_key(j.member_key.body);
        if (!mk || mk->room != room || mk->user != h.from_user || !env.verify(j.member_key, h.from_key))
            return refuse(in, room, "bad member key");
        auto it = rooms.find(room);
        bool relisted = false;
        if (it == rooms.end()) {
            if (rooms.size() >= cfg.max_rooms || t->members.size() > max_members(*t)) return refuse(in, room, "relay full");
            Room r;
            r.id = room;
            r.epoch = t->epoch;
            r.members = t->members;
            r.group = t->group;
            it = rooms.emplace(room, std::move(r)).first;
            std::vector<std::string> names;
            for (auto& m : t->members) names.push_back(m.user);
            event(relay_ev::RoomOpened{room, names});
        } else if (it->second.group != t->group) {
            return refuse(in, room, "ticket lists other members");
        } else if (it->second.members != t->members) {
            if (!t->group) return refuse(in, room, "ticket lists other members");
            if (t->epoch <= it->second.epoch) return refuse(in, room, kTicketOutdated);
            const auto& held = it->second.members;
            auto was = std::find_if(held.begin(), held.end(), [&](auto& m) { return m.user == t->issuer; });
            if (was == held.end() || was->key != ticket_member(*t, t->issuer)->key)
                return refuse(in, room, "ticket not signed by a member");
            if (t->members.size() > max_members(*t)) return refuse(in, room, "relay full");
            relist(it->second, *t);
            relisted = true;
        }
        Room& r = it->second;
        r.epoch = std::max(r.epoch, t->epoch);
        r.last_activity = now;
        auto m = r.joined.find(h.from_user);
        const bool fresh = m == r.joined.end() || m->second.addr != in.reply || m->second.member_key != j.member_key;
        if (fresh) event(relay_ev::MemberJoined{room, h.from_user, in.reply});
        // The hop goes on while the member's key is the same (its counter too: the member
        // refuses counters it has seen).
        std::optional<Hop> hop;
        if (m != r.joined.end()) {
            unseat(m->second);
            if (m->second.hop && m->second.hop->peer_kx == mk->kx) hop = std::move(m->second.hop);
        }
        if (!hop) {
            hop = make_hop(env.crypto(), kx_sk, mk->kx, room, h.from_user);
            hop_floor.start(hop);
        }
        Member& joiner = r.joined[h.from_user] = Member{h.from_user, h.from_key, {}, now, j.member_key, std::move(hop)};
        seat(joiner, in.reply);
        if (joiner.hop) index_hop(r.id, joiner);
        if (fresh || relisted) {
            send_roster(r);
        } else {  // a repeated join: the joiner lost the roster
            env.send(in.reply, wire::MsgType::room_roster, wire::encode(roster_of(r)));
        }
    }

    std::size_t max_members(const wire::Ticket& t) const { return t.group ? cfg.max_group_members : cfg.max_members; }

    // A group's room takes the list of a later ticket: who is no longer in it leaves the
    // room (and hears why), the others get the roster without them.
    void relist(Room& r, const wire::Ticket& t) {
        r.members = t.members;
        r.epoch = t.epoch;
        for (auto m = r.joined.begin(); m != r.joined.end();) {
            const auto* still = ticket_member(t, m->first);
            if (still && still->key == m->second.key) {
                ++m;
                continue;
            }
            env.send(m->second.addr, wire::MsgType::room_refused, wire::encode(wire::RoomRefused{r.id, "not a member"}));
            event(relay_ev::MemberLeft{r.id, m->first});
            unseat(m->second);
            m = r.joined.erase(m);
        }
    }

    // The sender as a joined member of room, or none (then it is told to join again).
    Member* member_of(const Incoming& in, const RoomId& room) {
        auto it = rooms.find(room);
        if (it == rooms.end()) return nullptr;
        auto m = it->second.joined.find(in.pkt.header.from_user);
        if (m == it->second.joined.end() || m->second.key != in.pkt.header.from_key) return nullptr;
        m->second.last = now;
        if (m->second.addr != in.reply) seat(m->second, in.reply);
        it->second.last_activity = now;
        return &m->second;
    }

    void on_line(const Incoming& in, const wire::RoomLine& l) {
        Member* from = member_of(in, l.room);
        if (!from) return refuse(in, l.room, kNotJoined);
        forward_line(rooms.at(l.room), *from, in.pkt.payload);
    }

    // A member's line (its payload as the member sent it) to every other joined member.
    void forward_line(Room& r, const Member& from, const Bytes& payload) {
        std::vector<Addr> signed_to;  // members without a hop: the same signed bytes to each
        for (auto& [n, m] : r.joined)
            if (n == from.user) continue;
            else if (m.hop) to_member(m, wire::MsgType::room_line, payload);
            else signed_to.push_back(m.addr);
        env.send_all(signed_to, wire::MsgType::room_line, payload);
        ++r.forwarded;
        count_line();
    }

    void on_ack(const Incoming& in, const wire::RoomAck& a) {
        Member* from = member_of(in, a.room);
        if (!from) return refuse(in, a.room, kNotJoined);
        forward_ack(rooms.at(a.room), *from, a);
    }

    // A member's ack to an author: a signed one goes on at once, a tagged one is gathered
    // with the other members' acks to that author. Only the member's own ack is taken
    // (its _more_ is the relay's to fill).
    void forward_ack(Room& r, const Member& from, const wire::RoomAck& a) {
        auto to = r.joined.find(a.author);
        if (to == r.joined.end()) return;
        if (a.tagged.empty()) {
            wire::RoomAck alone{a.room, a.author, a.ack, {}, {}, {}};
            return to_member(to->second, wire::MsgType::room_ack, wire::encode(alone));
        }
        auto body = wire::decode_ack_body(a.tagged);
        if (!body || body->room != r.id || body->from != from.user || body->author != a.author) {
            ++env.stats().malformed;
            return;
        }
        const std::size_t size = a.tagged.size() + a.tags.size() + 8;
        auto key = std::make_pair(r.id, a.author);
        auto g = gathered.find(key);
        if (g != gathered.end()) {
            if (auto was = g->second.by.find(from.user); was != g->second.by.end()) {
                // Acks are cumulative: one that says less than the member's last is dropped.
                if (was->second.run == body->run && was->second.upto > body->upto) return;
                g->second.bytes -= was->second.ack.tagged.size() + was->second.ack.tags.size() + 8;
                g->second.by.erase(was);
            }
            if (g->second.bytes + size > kAckPacking) {
                send_acks(key, g->second);
                gathered.erase(g);
                g = gathered.end();
            }
        }
        if (g == gathered.end()) g = gathered.emplace(key, AckGather{now, 0, {}}).first;
        g->second.by[from.user] = HeldAck{{a.tagged, a.tags}, body->run, body->upto};
        g->second.bytes += size;
        if (all_in(r, a.author, g->second)) {
            send_acks(key, g->second);
            gathered.erase(g);
        }
    }

    // Every joined member but the author has an ack in g.
    static bool all_in(const Room& r, const std::string& author, const AckGather& g) {
        return std::all_of(r.joined.begin(), r.joined.end(),
                           [&](auto& m) { return m.first == author || g.by.count(m.first); });
    }

    // The acks of g to their author, as one packet (dropped if the author is gone).
    void send_acks(const std::pair<RoomId, std::string>& key, AckGather& g) {
        auto r = rooms.find(key.first);
        if (r == rooms.end() || g.by.empty()) return;
        auto to = r->second.joined.find(key.second);
        if (to == r->second.joined.end()) return;
        auto it = g.by.begin();
        wire::RoomAck out{key.first, key.second, {}, std::move(it->second.ack.tagged), std::move(it->second.ack.tags), {}};
        for (++it; it != g.by.end(); ++it) out.more.push_back(std::move(it->second.ack));
        to_member(to->second, wire::MsgType::room_ack, wire::encode(out));
    }

    // Gathers held kAckHold go out.
    void send_held_acks() {
        for (auto g = gathered.begin(); g != gathered.end();)
            if (now - g->second.since >= kAckHold) {
                send_acks(g->first, g->second);
                g = gathered.erase(g);
            } else {
                ++g;
            }
    }

    void index_hop(const RoomId& room, const Member& m) {
        for (auto [it, end] = hops.equal_range(m.hop->index); it != end; ++it)
            if (it->second.first == room && it->second.second == m.user) return;
        hops.emplace(m.hop->index, std::make_pair(room, m.user));
    }

    // The joined members whose hop has this index, with their rooms: one, almost always.
    std::vector<std::pair<Room*, Member*>> hop_members(std::uint32_t index) {
        std::vector<std::pair<Room*, Member*>> found;
        for (auto [it, end] = hops.equal_range(index); it != end; ++it) {
            auto r = rooms.find(it->second.first);
            if (r == rooms.end()) continue;
            auto m = r->second.joined.find(it->second.second);
            if (m != r->second.joined.end() && m->second.hop && m->second.hop->index == index)
                found.emplace_back(&r->second, &m->second);
        }
        return found;
    }

    // A member's line or ack on its hop (darkchat-rooms(7), HOPS): no signature to check.
    // Its budget is charged first, as a signed packet's is; a hop we do not know (we
    // restarted, or forgot the member) is answered, signed and no larger than it came,
    // so that the member joins again.
    void on_hop(const Addr& from, ByteView data) {
        auto& st = env.stats();
        ++st.received;
        auto d = wire::parse_channel_data(data);
        if (!d || d->type != wire::MsgType::room_hop) {
            ++st.malformed;
            return;
        }
        const auto found = hop_members(d->index);
        if (found.empty()) {
            if (!env.take_ip(now, from)) {
                ++st.rate_limited;
                return;
            }
            ++st.refused;
            return env.answer_within(from, wire::MsgType::room_refused,
                                     wire::encode(wire::RoomRefused{{}, kNotJoined, d->index}), data.size());
        }
        Room* r = nullptr;
        Member* m = nullptr;
        Bytes plain;
        std::uint64_t* why = &st.bad_signature;  // what the last member tried says of the packet
        for (auto [room, member] : found) {
            if (!env.take_known(now, member->key, member->addr)) {
                why = &st.rate_limited;
                continue;
            }
            const HopDrop got = hop_open(env.crypto(), *member->hop, HopEnd::relay, data, *d, plain);
            if (got == HopDrop::none) {
                r = room, m = member;
                break;
            }
            why = got == HopDrop::replayed ? &st.replayed : &st.bad_signature;
        }
        if (!m) {
            ++*why;
            return;
        }
        // The member stays where it joined: a hop packet names no port to answer at, and
        // one too big for a datagram comes on a TCP connection from another port.
        m->last = now;
        r->last_activity = now;
        const Bytes payload(plain.begin() + 1, plain.end());
        switch (static_cast<wire::MsgType>(plain[0])) {
        case wire::MsgType::room_line:
            if (auto p = wire::decode_room_line(payload); p && p->room == r->id) return forward_line(*r, *m, payload);
            break;
        case wire::MsgType::room_ack:
            if (auto p = wire::decode_room_ack(payload); p && p->room == r->id) return forward_ack(*r, *m, *p);
            break;
        default: break;
        }
        ++st.malformed;
    }

    void on_leave(const Incoming& in, const wire::RoomLeave& l) {
        if (!member_of(in, l.room)) return;
        Room& r = rooms.at(l.room);
        unseat(r.joined.at(in.pkt.header.from_user));
        r.joined.erase(in.pkt.header.from_user);
        event(relay_ev::MemberLeft{l.room, in.pkt.header.from_user});
        send_roster(r);
    }

    void on_probe(const Incoming& in, const wire::Probe& p) {
        // Never larger than the probe (no padding in the reply): no amplification.
        env.send(in.reply, wire::MsgType::probe_reply, wire::encode(wire::ProbeReply{p.nonce}));
        // Probes keep a member's place in its rooms while it is quiet.
        for (auto& [id, r] : rooms)
            if (auto m = r.joined.find(in.pkt.header.from_user); m != r.joined.end() && m->second.key == in.pkt.header.from_key)
                m->second.last = now;
    }

    void sweep() {
        hops.clear();
        for (auto& [id, r] : rooms)
            for (auto& [n, m] : r.joined)
                if (m.hop) hops.emplace(m.hop->index, std::make_pair(id, n));
        for (auto it = rooms.begin(); it != rooms.end();) {
            Room& r = it->second;
            bool changed = false;
            for (auto m = r.joined.begin(); m != r.joined.end();) {
                if (now - m->second.last > cfg.member_timeout) {
                    event(relay_ev::MemberLeft{r.id, m->first});
                    unseat(m->second);
                    m = r.joined.erase(m);
                    changed = true;
                } else {
                    ++m;
                }
            }
            if (changed) send_roster(r);
            if (r.joined.empty() && now - r.last_activity > cfg.room_idle_timeout) {
                event(relay_ev::RoomClosed{r.id});
                it = rooms.erase(it);
            } else {
                ++it;
            }
        }
    }

    void on_datagram(const Addr& from, ByteView data) {
        if (wire::peek_type(data) == wire::MsgType::room_hop) return on_hop(from, data);
        auto in = env.open(now, from, data, [&](const wire::Header& h, const Addr& a) { return seated.count({h.from_key, a}) > 0; });
        if (!in) return;
        using wire::MsgType;
        switch (in->pkt.header.type) {
        case MsgType::relay_ack:
            if (auto p = payload<wire::RelayAck>(env, *in, wire::decode_relay_ack)) on_relay_ack(*in, *p);
            break;
        case MsgType::probe:
            if (auto p = payload<wire::Probe>(env, *in, wire::decode_probe)) on_probe(*in, *p);
            break;
        case MsgType::room_join:
            if (auto p = payload<wire::RoomJoin>(env, *in, wire::decode_room_join)) on_join(*in, *p);
            break;
        case MsgType::room_line:
            if (auto p = payload<wire::RoomLine>(env, *in, wire::decode_room_line)) on_line(*in, *p);
            break;
        case MsgType::room_ack:
            if (auto p = payload<wire::RoomAck>(env, *in, wire::decode_room_ack)) on_ack(*in, *p);
            break;
        case MsgType::room_leave:
            if (auto p = payload<wire::RoomLeave>(env, *in, wire::decode_room_leave)) on_leave(*in, *p);
            break;
        default: ++env.stats().unsolicited; break;
        }
    }

    void on_timeout() {
        send_held_acks();
        if (now >= next_heartbeat) {
            heartbeat();
            next_heartbeat = now + cfg.heartbeat_interval;
        }
        if (dir_alive && now - dir_last > cfg.directory_timeout) {
            dir_alive = false;
            event(relay_ev::DirectoryLost{*cfg.directory});
        }
        if (now >= next_sweep) {
            sweep();
            next_sweep = now + 1000;
        }
    }
};

Relay::Relay(RelayConfig config, Identity identity, core::Crypto& crypto, std::uint64_t rng_seed)
    : s_(std::make_unique<State>(std::move(config), std::move(identity), crypto, rng_seed)) {}
Relay::~Relay() = default;

void Relay::handle_start(TimeMs now) {
    s_->now = now;
    s_->start(now);
    s_->on_timeout();
}
void Relay::handle_datagram(TimeMs now, const Addr& from, ByteView data) {
    s_->now = now;
    s_->start(now);
    s_->on_datagram(from, data);
}
void Relay::handle_timeout(TimeMs now) {
    s_->now = now;
    s_->start(now);
    s_->on_timeout();
}

std::optional<RelayEvent> Relay::poll_event() { return pop_front(s_->events); }
std::optional<core::Transmit> Relay::poll_transmit() { return s_->env.poll(); }
std::optional<TimeMs> Relay::poll_timeout() const {
    if (!s_->started) return s_->now;
    std::optional<TimeMs> t;
    if (s_->cfg.directory) earliest(t, s_->next_heartbeat);
    if (s_->dir_alive) earliest(t, s_->dir_last + s_->cfg.directory_timeout + 1);
    earliest(t, s_->next_sweep);
    for (auto& [key, g] : s_->gathered) earliest(t, g.since + State::kAckHold);
    return t;
}

std::vector<RelayRoomView> Relay::rooms() const {
    std::vector<RelayRoomView> v;
    for (auto& [id, r] : s_->rooms) {
        RelayRoomView x{id, r.epoch, {}, {}, r.forwarded};
        for (auto& m : r.members) x.members.push_back(m.user);
        for (auto& [n, m] : r.joined) x.joined.push_back(n);
        v.push_back(std::move(x));
    }
    return v;
}
Load Relay::load() const { return s_->load(); }
void Relay::handle_cpu(const CpuUse& use) { s_->cpu = use; }
std::optional<PublicKey> Relay::directory_key() const { return s_->dir_key; }
bool Relay::directory_alive() const { return s_->dir_alive; }
const Identity& Relay::identity() const { return s_->env.id(); }
const RoleStats& Relay::stats() const { return s_->env.stats(); }

}  // namespace dc::roles
