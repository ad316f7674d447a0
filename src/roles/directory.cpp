// The directory (seed 000's "Central"): relays and clients register with it, it runs
// the chat request flow, places every chat on a relay and moves it when its relay dies
// or a clearly better one appears. See roles.hpp and darkchat-rooms(7). Which relay a
// chat goes to, and when it moves, is decided in placement.hpp; this file keeps the
// registrations, the request flow and the state it sends every client.
//
// State sync: everything the directory knows about a client goes out as one
// ClientState (versioned per client) in answer to each heartbeat and at once after any
// change (dirty clients are flushed at the end of every handle_* call). A lost packet is
// healed by the next heartbeat, so no message of the flow needs its own retransmission.

#include "placement.hpp"

#include <set>

namespace dc::roles {

using namespace detail;

namespace {

struct ClientRec {
    std::string name;
    PublicKey key{};  // pinned on first registration
    Addr addr;
    TimeMs last_seen = 0;
    bool alive = false;
    DelayVector delays;
    std::uint64_t version = 0;        // of its ClientState; +1 on every change
    std::uint64_t acked_version = 0;  // the newest the client says it applied
    std::uint64_t report_seen = 0;    // the newest delay report applied
    TimeMs pushed = 0;                // when its state was last sent
};

struct Invitee {
    std::string user;
    Stage stage = Stage::ack_conn;
    std::uint64_t added_version = 0;  // invitee's state version that first listed the invite
    std::uint32_t reminders = 0;
    TimeMs next_remind = 0;
    std::string detail;
};

struct Request {
    std::string from;
    std::uint64_t client_id = 0;  // the requester's id for it
    std::vector<Invitee> invitees;
    TimeMs created = 0;
    std::optional<RoomId> room;  // created at the first accept
    std::uint64_t final_version = 0;  // requester's version when every invitee was final
};

}  // namespace

// A relay or client that is heard from at a new address while it was heard at its known
// one less than this ago is not moved (a replayed heartbeat cannot redirect its traffic).
constexpr TimeMs kMoveQuiet = 2000;

struct Directory::State {
    DirectoryConfig cfg;
    Envelope env;
    Placement placement;
    std::uint64_t boot = 0;
    TimeMs now = 0;
    TimeMs next_pass = 0;
    bool started = false;

    RelayTable relays;
    std::map<std::string, ClientRec> clients;
    std::map<std::uint64_t, Request> requests;  // by the directory's id (also the invitee's IncomingRequest id)
    std::uint64_t next_request_id = 1;
    ChatTable chats;
    std::set<std::string> dirty;  // clients whose state changed: push at the end of the call
    std::deque<DirectoryEvent> events;

    State(DirectoryConfig c, Identity id, core::Crypto& crypto, std::uint64_t seed)
        : cfg(std::move(c)), env(std::move(id), crypto, cfg.port, cfg.ip_rate, cfg.ip_burst), placement(cfg, seed) {
        boot = env.nonce();
    }

    void event(DirectoryEvent e) { events.push_back(std::move(e)); }

    void touch(const std::string& name) {
        auto it = clients.find(name);
        if (it == clients.end()) return;
        ++it->second.version;
        dirty.insert(name);
    }
    void touch_all() {
        for (auto& [n, c] : clients)
            if (c.alive) touch(n);
    }

    void start(TimeMs t) {
        if (started) return;
        started = true;
        next_pass = t + cfg.pass_interval;
    }

    // ---- relays ---------------------------------------------------------------------

    void on_relay_heartbeat(const Incoming& in, const wire::RelayHeartbeat& hb) {
        const PublicKey& key = in.pkt.header.from_key;
        auto it = relays.find(key);
        if (it == relays.end()) {
            if (relays.size() >= cfg.max_relays) {
                // Make room by forgetting a relay out of service; refuse if all are alive.
                auto dead = std::find_if(relays.begin(), relays.end(), [](auto& p) { return !p.second.alive; });
                if (dead == relays.end()) {
                    ++env.stats().refused;
                    return;
                }
                relays.erase(dead);
            }
            it = relays.emplace(key, RelayRec{key, {}, 0, {}, false}).first;
        }
        RelayRec& r = it->second;
        Addr addr = hb.addr;
        if (!addr.valid() || addr.unspecified_ip()) {
            addr = in.from;
            if (hb.addr.port) addr.port = hb.addr.port;
        }
        if (addr.port == 0) addr.port = in.reply.port;
        if (r.alive && r.addr != addr && now - r.last < kMoveQuiet) {  // a replay, see client_of
            ++env.stats().unsolicited;
            return;
        }
        const bool changed = !r.alive || r.addr != addr;
        r.addr = addr;
        r.last = now;
        r.load = Load{hb.rooms, hb.members, hb.messages_per_second, CpuUse{hb.cpu_self, hb.cpu_machine, hb.cores}};
        if (!r.alive) event(dir_ev::RelayUp{key, addr});
        r.alive = true;
        if (changed) touch_all();  // every client measures the relays in service
        env.send(in.reply, wire::MsgType::relay_ack, wire::encode(wire::RelayAck{hb.seq, boot}));
    }

    // ---- clients --------------------------------------------------------------------

    // The client record of the sender, registering it (name pinned to key on first
    // registration); none if the name is pinned to another key or the table is full.
    ClientRec* client_of(const Incoming& in) {
        const auto& h = in.pkt.header;
        auto it = clients.find(h.from_user);
        if (it != clients.end()) {
            if (it->second.key != h.from_key) {
                ++env.stats().wrong_key;
                return nullptr;
            }
        } else {
            if (clients.size() >= cfg.max_clients) {
                // Forget the longest-silent client that is gone (its pin with it); refuse
                // when every client is alive: made-up names cannot grow the table.
                auto victim = clients.end();
                for (auto c = clients.begin(); c != clients.end(); ++c)
                    if (!c->second.alive && (victim == clients.end() || c->second.last_seen < victim->second.last_seen))
                        victim = c;
                if (victim == clients.end()) {
                    ++env.stats().refused;
                    return nullptr;
                }
                clients.erase(victim);
            }
            ClientRec c;
            c.name = h.from_user;
            c.key = h.from_key;
            c.version = 1;
            it = clients.emplace(c.name, std::move(c)).first;
        }
        ClientRec& c = it->second;
        // A signed packet can be replayed from elsewhere: a live client's address changes
        // only after it has been quiet at the old one for kMoveQuiet.
        if (c.alive && c.addr != in.reply && now - c.last_seen < kMoveQuiet) {
            ++env.stats().unsolicited;
            return nullptr;
        }
        c.last_seen = now;
        if (!c.alive || c.addr != in.reply) {
            if (!c.alive) event(dir_ev::ClientUp{c.name, in.reply});
            c.alive = true;
            c.addr = in.reply;
            touch(c.name);
        }
        return &c;
    }

    void on_client_heartbeat(const Incoming& in, const wire::ClientHeartbeat& hb) {
        ClientRec* c = client_of(in);
        if (!c) return;
        // A report is repeated until report_seen says it arrived; applying a repeat again is
        // harmless (and a client that restarted counts from 1 again).
        if (hb.has_delays) {
            c->delays.clear();
            for (auto& d : hb.delays) c->delays[d.relay] = d.rtt_ms;
            c->report_seen = hb.report;
        }
        if (hb.seen_boot == boot && hb.seen_version > c->acked_version && hb.seen_version <= c->version) {
            c->acked_version = hb.seen_version;
            mark_received(*c);
        }
        for (auto& h : hb.held) adopt(*c, h);
        place_groups(*c, hb.groups);
        // Answer every heartbeat: the full state if the client lacks this version.
        if (!dirty.count(c->name) && hb.seen_boot == boot && hb.seen_version == c->version) {
            wire::ClientState s;
            s.version = c->version;
            s.boot = boot;
            s.unchanged = true;
            s.report_seen = c->report_seen;
            env.send(c->addr, wire::MsgType::client_state, wire::encode(s));
        } else {
            dirty.insert(c->name);
        }
    }

    // Invites the invitee's client now has: REQ_SENT for their requesters.
    void mark_received(const ClientRec& c) {
        for (auto& [id, r] : requests)
            for (auto& inv : r.invitees)
                if (inv.user == c.name && inv.stage == Stage::ack_conn && inv.added_version &&
                    c.acked_version >= inv.added_version) {
                    set_stage(r, inv, Stage::req_sent);
                    inv.next_remind = now + cfg.awaiting_interval;
                }
    }

    void take_ticket(Chat& ch, const wire::Ticket& t, const wire::SignedBlob& blob) {
        ch.invited = t.members;
        ch.relay_key = t.relay_key;
        ch.relay = t.relay;
        ch.epoch = t.epoch;
        ch.moved = now;
        ch.ticket = blob;
    }

    // A chat the client holds that this directory run does not know (after a restart):
    // taken back if the ticket is ours and names the client, with the members the client
    // knew that the ticket names (so nobody's lines stop waiting for a member who simply
    // has not reported yet).
    void adopt(ClientRec& c, const wire::HeldChat& held) {
        const wire::SignedBlob& blob = held.ticket;
        if (!env.verify(blob, env.id().pk)) {
            ++env.stats().bad_signature;
            return;
        }
        auto t = wire::decode_ticket(blob.body);
        if (!t || !ticket_member(*t, c.name)) return;
        auto it = chats.find(t->room);
        if (it == chats.end()) {
            if (chats.size() >= cfg.max_chats) {
                ++env.stats().refused;
                return;
            }
            Chat ch;
            ch.room = t->room;
            take_ticket(ch, *t, blob);
            it = chats.emplace(ch.room, std::move(ch)).first;
            event(dir_ev::Notice{"chat " + short_id(t->room) + " taken back from " + c.name + "'s ticket"});
        } else if (t->epoch > it->second.epoch) {
            // We issued it, and took it back from an older ticket after a restart: the
            // newer one wins (its relay, if out of service, is left by the next pass).
            Chat& ch = it->second;
            take_ticket(ch, *t, blob);
            for (auto& m : ch.members) touch(m);
            event(dir_ev::Notice{"chat " + short_id(t->room) + " now at epoch " + std::to_string(t->epoch) + ", from " +
                                 c.name + "'s ticket"});
        }
        bool changed = false;
        auto add = [&](const std::string& n) {
            if (ticket_member(*t, n) && !contains(it->second.members, n)) {
                it->second.members.push_back(n);
                changed = true;
            }
        };
        add(c.name);
        for (auto& m : held.members) add(m);
        if (changed)
            for (auto& m : it->second.members) touch(m);
    }

    void set_stage(Request& r, Invitee& inv, Stage s, std::string detail = {}) {
        if (inv.stage == s && s != Stage::awaiting_req) return;
        inv.stage = s;
        if (final_stage(s) && r.room)
            if (auto ch = chats.find(*r.room); ch != chats.end()) {
                auto& p = ch->second.pending;
                p.erase(std::remove(p.begin(), p.end(), inv.user), p.end());
                if (s == Stage::req_accepted && !contains(ch->second.members, inv.user)) ch->second.members.push_back(inv.user);
                for (auto& m : ch->second.members) touch(m);
            }
        inv.detail = std::move(detail);
        event(dir_ev::RequestStage{r.from, inv.user, s});
        touch(r.from);
        touch(inv.user);
        if (std::all_of(r.invitees.begin(), r.invitees.end(), [](auto& i) { return final_stage(i.stage); }))
            if (auto it = clients.find(r.from); it != clients.end()) r.final_version = it->second.version;
    }

    std::size_t chats_of(const std::string& name) const {
        std::size_t n = 0;
        for (auto& [id, ch] : chats) n += contains(ch.members, name);
        return n;
    }

    std::size_t open_requests_of(const std::string& name) const {
        std::size_t n = 0;
        for (auto& [id, r] : requests)
            if (r.from == name && !r.final_version) ++n;
        return n;
    }

    void on_chat_request(const Incoming& in, const wire::ChatRequest& req) {
        ClientRec* c = client_of(in);
        if (!c) return;
        for (auto& [id, r] : requests)
            if (r.from == c->name && r.client_id == req.id) return;  // a repeat: the state already says
        // The table of requests is bounded: past max_clients entries (one per client on
        // average) a request is dropped unanswered; the client shows SERVER_ERR when the
        // state never lists it.
        if (requests.size() >= cfg.max_clients) {
            ++env.stats().refused;
            return;
        }
        Request r;
        r.from = c->name;
        r.client_id = req.id;
        r.created = now;
        for (auto& u : req.users)
            if (u != c->name && std::none_of(r.invitees.begin(), r.invitees.end(), [&](auto& i) { return i.user == u; }))
                {
                Invitee inv;
                inv.user = u;
                r.invitees.push_back(std::move(inv));
            }
        if (r.invitees.empty()) return;
        // Over a bound, or no relay at all: every invitee ends at once with SERVER_ERR.
        std::string err;
        if (open_requests_of(c->name) >= cfg.max_requests_per_client)
            err = "too many open requests";
        else if (chats_of(c->name) >= cfg.max_chats_per_client)
            err = "too many chats";
        else if (r.invitees.size() + 1 > cfg.max_members)
            err = "too many members";
        else if (candidates(relays).empty())
            err = "no relay alive";
        if (!err.empty()) ++env.stats().refused;
        auto& rr = requests.emplace(next_request_id++, std::move(r)).first->second;
        for (auto& inv : rr.invitees) {
            auto it = clients.find(inv.user);
            if (!err.empty()) {
                set_stage(rr, inv, Stage::server_err, err);
            } else if (it == clients.end() || !it->second.alive) {
                set_stage(rr, inv, Stage::user_not_found);
            } else {
                event(dir_ev::RequestStage{rr.from, inv.user, Stage::ack_conn});
                touch(inv.user);
                inv.added_version = it->second.version;
            }
        }
        touch(rr.from);
    }

    void on_chat_answer(const Incoming& in, const wire::ChatAnswer& a) {
        ClientRec* c = client_of(in);
        if (!c) return;
        auto it = requests.find(a.id);
        if (it == requests.end()) return;
        Request& r = it->second;
        for (auto& inv : r.invitees) {
            if (inv.user != c->name || final_stage(inv.stage)) continue;
            if (!a.accept) {
                set_stage(r, inv, Stage::declined);
                return;
            }
            if (chats_of(c->name) >= cfg.max_chats_per_client) {
                set_stage(r, inv, Stage::server_err, "too many chats");
                return;
            }
            if (!r.room) {
                auto room = create_chat(r, c->name);
                if (!room) {
                    set_stage(r, inv, Stage::server_err, candidates(relays).empty() ? "no relay alive" : "no relay measured by all");
                    return;
                }
                r.room = *room;
            }
            set_stage(r, inv, Stage::req_accepted);  // moves the accepter from pending to members
            return;
        }
    }

    void on_chat_leave(const Incoming& in, const wire::RoomLeave& l) {
        ClientRec* c = client_of(in);
        if (!c) return;
        auto it = chats.find(l.room);
        if (it == chats.end()) {
            touch(c->name);
            return;
        }
        auto& m = it->second.members;
        m.erase(std::remove(m.begin(), m.end(), c->name), m.end());
        touch(c->name);
        for (auto& x : m) touch(x);
        if (m.empty()) {
            event(dir_ev::ChatEnded{l.room});
            chats.erase(it);
        }
    }

    // ---- groups' rooms -------------------------------------------------------------------

    // The groups a coordinator names in its heartbeat: each placed (or kept where it is,
    // with the list it names now); those of its it no longer names are forgotten. A group
    // named by another client is taken over by it: the group's coordinator changed.
    void place_groups(ClientRec& c, const std::vector<wire::GroupWish>& wishes) {
        std::set<RoomId> named;
        for (auto& w : wishes) {
            named.insert(w.room);
            auto it = chats.find(w.room);
            if (it != chats.end() && !it->second.group) continue;  // a chat's room id: not ours to place
            if (it == chats.end()) {
                if (chats.size() >= cfg.max_chats) continue;
                Chat ch;
                ch.room = w.room;
                ch.group = true;
                ch.owner = c.name;
                ch.members = w.members;
                auto relay = placement.choose(relays, delays_of(ch.members), placed(chats));
                if (!relay) continue;  // none in service (yet): named again with the next heartbeat
                ch.relay_key = relay->key;
                ch.relay = relay->addr;
                ch.moved = now;
                event(dir_ev::ChatCreated{ch.room, ch.relay, ch.members, relay->load});
                chats.emplace(w.room, std::move(ch));
                touch(c.name);
                continue;
            }
            Chat& ch = it->second;
            if (ch.owner != c.name || ch.members != w.members) {
                ch.owner = c.name;
                ch.members = w.members;
                touch(c.name);
            }
        }
        for (auto it = chats.begin(); it != chats.end();)
            if (it->second.group && it->second.owner == c.name && !named.count(it->first)) {
                event(dir_ev::ChatEnded{it->first});
                it = chats.erase(it);
            } else {
                ++it;
            }
    }

    // ---- chats ------------------------------------------------------------------------

    std::vector<DelayVector> delays_of(const std::vector<std::string>& members) const {
        std::vector<DelayVector> v;
        for (auto& m : members)
            if (auto it = clients.find(m); it != clients.end()) v.push_back(it->second.delays);
        return v;
    }

    wire::SignedBlob issue(const Chat& ch) {
        wire::Ticket t;
        t.room = ch.room;
        t.relay_key = ch.relay_key;
        t.relay = ch.relay;
        t.epoch = ch.epoch;
        t.members = ch.invited;
        t.issued = now;
        return env.sign(wire::encode(t));
    }

    // A chat is created at the first accept, with the requester and the accepter as
    // members; the ticket names every invitee still open, so later accepters join the
    // same room (rooms of more than two) and nobody else can.
    std::optional<RoomId> create_chat(const Request& r, const std::string& accepter) {
        if (chats.size() >= cfg.max_chats) return std::nullopt;
        Chat ch;
        ch.room = env.random_id<16>();
        ch.members = {r.from, accepter};
        auto member = [&](const std::string& n) {
            if (auto it = clients.find(n); it != clients.end()) ch.invited.push_back({n, it->second.key});
        };
        member(r.from);
        for (auto& inv : r.invitees)
            if (inv.user == accepter || !final_stage(inv.stage)) {
                member(inv.user);
                if (inv.user != accepter) ch.pending.push_back(inv.user);
            }
        auto relay = placement.choose(relays, delays_of(ch.members), placed(chats));
        if (!relay) return std::nullopt;
        ch.relay_key = relay->key;
        ch.relay = relay->addr;
        ch.moved = now;
        ch.ticket = issue(ch);
        event(dir_ev::ChatCreated{ch.room, ch.relay, ch.members, relay->load});
        for (auto& m : ch.members) touch(m);
        const RoomId id = ch.room;
        chats.emplace(id, std::move(ch));
        return id;
    }

    void move(Chat& ch, const Candidate& to, MoveReason why, std::uint32_t old_ms, std::uint32_t new_ms) {
        event(dir_ev::ChatMoved{ch.room, ch.relay, to.addr, why, old_ms, new_ms});
        ch.relay_key = to.key;
        ch.relay = to.addr;
        ++ch.epoch;
        ch.moved = now;
        ch.reason = why;
        ch.ever_moved = true;
        ch.old_ms = old_ms;
        ch.new_ms = new_ms;
        if (ch.group) {
            touch(ch.owner);
            return;
        }
        ch.ticket = issue(ch);
        for (auto& m : ch.members) touch(m);
    }

    // Relocation, the one place that decides it (Placement::relocation): every chat in
    // key order, each move counted on its new relay before the next chat is placed.
    void relocate() {
        auto cands = candidates(relays);
        Placed pl = placed(chats);
        for (auto& [id, ch] : chats) {
            auto m = placement.relocation(now, relays, cands, ch, delays_of(ch.members), pl);
            if (!m) continue;
            place(pl, ch, -1);
            move(ch, m->to, m->reason, m->old_ms, m->new_ms);
            place(pl, ch, +1);
        }
    }

    // The background pass: relays and clients that went silent, request timers, relocation.
    void pass() {
        for (auto& [k, r] : relays)
            if (r.alive && now - r.last > cfg.relay_timeout) {
                r.alive = false;
                event(dir_ev::RelayDown{k, r.addr});
                touch_all();
            }
        for (auto& [n, c] : clients)
            if (c.alive && now - c.last_seen > cfg.client_timeout) {
                c.alive = false;
                event(dir_ev::ClientDown{n});
                // Its groups are placed again by whoever coordinates them next.
                std::erase_if(chats, [&](const auto& e) { return e.second.group && e.second.owner == n; });
            }
        for (auto it = requests.begin(); it != requests.end();) {
            Request& r = it->second;
            for (auto& inv : r.invitees) {
                if (final_stage(inv.stage)) continue;
                if (now - r.created >= cfg.request_timeout) {
                    set_stage(r, inv, Stage::timed_out);
                } else if ((inv.stage == Stage::req_sent || inv.stage == Stage::awaiting_req) && now >= inv.next_remind) {
                    ++inv.reminders;
                    inv.next_remind = now + cfg.awaiting_interval;
                    set_stage(r, inv, Stage::awaiting_req);
                }
            }
            // A finished request is forgotten once its requester has seen the final stages
            // (or is gone).
            auto c = clients.find(r.from);
            if (r.final_version &&
                (c == clients.end() || !c->second.alive || c->second.acked_version >= r.final_version)) {
                it = requests.erase(it);
            } else {
                ++it;
            }
        }
        relocate();
        // A change the client has not confirmed is pushed again at every pass (the
        // heartbeat would heal it too, but only a second later).
        for (auto& [n, c] : clients)
            if (c.alive && c.acked_version < c.version && now - c.pushed >= cfg.pass_interval) dirty.insert(n);
    }

    // ---- state pushes -----------------------------------------------------------------

    wire::ClientState state_of(const ClientRec& c) const {
        wire::ClientState s;
        s.version = c.version;
        s.boot = boot;
        s.report_seen = c.report_seen;
        for (auto& [k, r] : relays)
            if (r.alive && s.relays.size() < wire::kMaxRoleRelays) s.relays.push_back({k, r.addr});
        for (auto& [id, r] : requests) {
            if (r.from == c.name)
                for (auto& inv : r.invitees)
                    if (s.outgoing.size() < wire::kMaxRoleRequests)
                        s.outgoing.push_back({r.client_id, inv.user, static_cast<std::uint8_t>(inv.stage), inv.reminders, inv.detail});
            for (auto& inv : r.invitees)
                if (inv.user == c.name && !final_stage(inv.stage) && s.incoming.size() < wire::kMaxRoleRequests) {
                    wire::IncomingRequest in{id, r.from, {}};
                    for (auto& o : r.invitees)
                        if (o.user != c.name) in.others.push_back(o.user);
                    s.incoming.push_back(std::move(in));
                }
        }
        for (auto& [id, ch] : chats) {
            if (ch.group) {
                if (ch.owner == c.name && s.placements.size() < wire::kMaxRoleRooms)
                    s.placements.push_back({ch.room, ch.relay_key, ch.relay,
                                            static_cast<std::uint8_t>(ch.ever_moved ? ch.reason : MoveReason{}),
                                            ch.old_ms, ch.new_ms});
                continue;
            }
            if (!contains(ch.members, c.name) || s.chats.size() >= wire::kMaxRoleRooms) continue;
            wire::ChatInfo ci;
            ci.room = ch.room;
            ci.relay_key = ch.relay_key;
            ci.relay = ch.relay;
            ci.epoch = ch.epoch;
            ci.members = ch.members;
            ci.ticket = ch.ticket;
            ci.reason = ch.ever_moved ? static_cast<std::uint8_t>(ch.reason) : 0;
            ci.old_ms = ch.old_ms;
            ci.new_ms = ch.new_ms;
            ci.pending = ch.pending;
            s.chats.push_back(std::move(ci));
        }
        return s;
    }

    void flush() {
        for (auto& n : dirty) {
            auto it = clients.find(n);
            if (it == clients.end() || !it->second.alive) continue;
            env.send(it->second.addr, wire::MsgType::client_state, wire::encode(state_of(it->second)));
            it->second.pushed = now;
        }
        dirty.clear();
    }

    void on_datagram(const Addr& from, ByteView data) {
        auto in = env.open(now, from, data);
        if (!in) return;
        using wire::MsgType;
        switch (in->pkt.header.type) {
        case MsgType::relay_heartbeat:
            if (auto p = payload<wire::RelayHeartbeat>(env, *in, wire::decode_relay_heartbeat)) on_relay_heartbeat(*in, *p);
            break;
        case MsgType::client_heartbeat:
            if (auto p = payload<wire::ClientHeartbeat>(env, *in, wire::decode_client_heartbeat)) on_client_heartbeat(*in, *p);
            break;
        case MsgType::chat_request:
            if (auto p = payload<wire::ChatRequest>(env, *in, wire::decode_chat_request)) on_chat_request(*in, *p);
            break;
        case MsgType::chat_answer:
            if (auto p = payload<wire::ChatAnswer>(env, *in, wire::decode_chat_answer)) on_chat_answer(*in, *p);
            break;
        case MsgType::chat_leave:
            if (auto p = payload<wire::RoomLeave>(env, *in, wire::decode_room_leave)) on_chat_leave(*in, *p);
            break;
        default: ++env.stats().unsolicited; break;
        }
    }
};

Directory::Directory(DirectoryConfig config, Identity identity, core::Crypto& crypto, std::uint64_t rng_seed)
    : s_(std::make_unique<State>(std::move(config), std::move(identity), crypto, rng_seed)) {}
Directory::~Directory() = default;

void Directory::handle_datagram(TimeMs now, const Addr& from, ByteView data) {
    s_->now = now;
    s_->start(now);
    s_->on_datagram(from, data);
    s_->flush();
}

void Directory::handle_timeout(TimeMs now) {
    s_->now = now;
    s_->start(now);
    if (now >= s_->next_pass) {
        s_->pass();
        s_->next_pass = now + s_->cfg.pass_interval;
    }
    s_->flush();
}

std::optional<DirectoryEvent> Directory::poll_event() { return pop_front(s_->events); }
std::optional<core::Transmit> Directory::poll_transmit() { return s_->env.poll(); }
std::optional<TimeMs> Directory::poll_timeout() const {
    if (!s_->started) return s_->now;
    return s_->next_pass;
}

std::vector<DirRelayView> Directory::relays() const {
    std::vector<DirRelayView> v;
    for (auto& [k, r] : s_->relays) v.push_back({k, r.addr, r.alive, r.last, r.load});
    return v;
}
std::vector<DirClientView> Directory::clients() const {
    std::vector<DirClientView> v;
    for (auto& [n, c] : s_->clients) v.push_back({n, c.key, c.addr, c.last_seen, c.delays});
    return v;
}
std::vector<DirChatView> Directory::chats() const {
    std::vector<DirChatView> v;
    for (auto& [id, ch] : s_->chats) {
        DirChatView x{id, ch.members, {}, ch.relay_key, ch.relay, ch.epoch, ch.moved};
        for (auto& m : ch.invited) x.invited.push_back(m.user);
        v.push_back(std::move(x));
    }
    return v;
}
std::size_t Directory::pending_requests() const {
    std::size_t n = 0;
    for (auto& [id, r] : s_->requests)
        for (auto& inv : r.invitees) n += !final_stage(inv.stage);
    return n;
}
const Identity& Directory::identity() const { return s_->env.id(); }
const RoleStats& Directory::stats() const { return s_->env.stats(); }

}  // namespace dc::roles
