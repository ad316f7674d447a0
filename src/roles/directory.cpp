// The directory (seed 000's "Central"): relays and clients register with it, it runs
// the chat request flow, places every chat on a relay and moves it when its relay dies
// or a clearly better one appears. See roles.hpp and darkchat-rooms(7). Which relay a
// chat goes to, and when it moves, is decided in placement.hpp; this file keeps the
// registrations and the state it sends every client, directory_chats.cpp the request
// flow and the chats (their state: directory_state.hpp).
//
// State sync: everything the directory knows about a client goes out as one
// ClientState (versioned per client) in answer to each heartbeat and at once after any
// change (dirty clients are flushed at the end of every handle_* call). A lost packet is
// healed by the next heartbeat, so no message of the flow needs its own retransmission.

#include "directory_state.hpp"

namespace dc::roles {

// ---- relays ---------------------------------------------------------------------

void Directory::State::on_relay_heartbeat(const Incoming& in, const wire::RelayHeartbeat& hb) {
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
ClientRec* Directory::State::client_of(const Incoming& in) {
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

void Directory::State::on_client_heartbeat(const Incoming& in, const wire::ClientHeartbeat& hb) {
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
void Directory::State::mark_received(const ClientRec& c) {
    for (auto& [id, r] : requests)
        for (auto& inv : r.invitees)
            if (inv.user == c.name && inv.stage == Stage::ack_conn && inv.added_version &&
                c.acked_version >= inv.added_version) {
                set_stage(r, inv, Stage::req_sent);
                inv.next_remind = now + cfg.awaiting_interval;
            }
}

void Directory::State::take_ticket(Chat& ch, const wire::Ticket& t, const wire::SignedBlob& blob) {
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
void Directory::State::adopt(ClientRec& c, const wire::HeldChat& held) {
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

// ---- state pushes -----------------------------------------------------------------

wire::ClientState Directory::State::state_of(const ClientRec& c) const {
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

void Directory::State::flush() {
    for (auto& n : dirty) {
        auto it = clients.find(n);
        if (it == clients.end() || !it->second.alive) continue;
        env.send(it->second.addr, wire::MsgType::client_state, wire::encode(state_of(it->second)));
        it->second.pushed = now;
    }
    dirty.clear();
}

void Directory::State::on_datagram(const Addr& from, ByteView data) {
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

// ---- the Directory ----------------------------------------------------------------

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
