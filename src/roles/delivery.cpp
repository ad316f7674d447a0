// The room client's delivery (delivery.hpp).

#include "delivery.hpp"

namespace dc::roles::detail {

Delivery::Delivery(RoomContext& ctx, Measuring& measuring) : ctx_(ctx), measuring_(measuring) {
    ctx_.env.crypto().random(kx_sk_);
    kx_pk_ = ctx_.env.crypto().kx_public(kx_sk_);
}

Delivery::~Delivery() {
    crypto::wipe(kx_sk_);
    for (auto& [id, r] : rooms_) crypto::wipe(r.line_key);
}

// ---- what the store keeps -----------------------------------------------------------

RoomRecord Delivery::record(const Room& r) const {
    RoomRecord x;
    x.room = r.id;
    x.ticket = r.ticket_blob;
    x.direct = r.direct;
    x.mine = r.mine;
    x.members = r.members;
    x.required.assign(r.required.begin(), r.required.end());
    x.run = r.run;
    x.next_seq = r.next_seq;
    return x;
}

void Delivery::forget(const RoomId& id) {
    dirty_rooms_.erase(id);
    std::erase_if(dirty_cursors_, [&](auto& k) { return k.first == id; });
    ops_.push_back(store_op::DeleteRoom{id});
}

// Rooms and cursors that changed since the last poll, after the ops queued meanwhile
// (all of them go into one transaction, so the order among them does not matter).
void Delivery::flush() {
    for (auto& id : dirty_rooms_)
        if (auto it = rooms_.find(id); it != rooms_.end()) ops_.push_back(store_op::PutRoom{record(it->second)});
    dirty_rooms_.clear();
    for (auto& [id, author] : dirty_cursors_) {
        auto it = rooms_.find(id);
        if (it == rooms_.end()) continue;
        auto in = it->second.in.find(author);
        if (in == it->second.in.end()) continue;
        ops_.push_back(store_op::PutRoomCursor{RoomCursorRecord{id, author, in->second.run, in->second.expected}});
    }
    dirty_cursors_.clear();
}

std::optional<StoreOp> Delivery::poll_store() {
    flush();
    send_due_lines();
    send_due_acks();  // the cursors they cover are in this batch; they leave after it is stored
    return pop_front(ops_);
}

void Delivery::resume(TimeMs now, std::uint64_t run, RoomSnapshot snap) {
    run_ = run;
    for (auto& rec : snap.rooms) {
        auto t = wire::decode_ticket(rec.ticket.body);
        if (!t || t->room != rec.room || rooms_.size() >= ctx_.cfg.max_rooms) continue;
        Room r;
        r.id = rec.room;
        r.ticket_blob = rec.ticket;
        r.ticket = *t;
        r.direct = rec.direct;
        r.mine = rec.mine;
        r.members = rec.members;
        r.required.insert(rec.required.begin(), rec.required.end());
        r.run = rec.run != 0 ? rec.run : run_;
        r.next_seq = std::max<std::uint64_t>(1, rec.next_seq);
        rooms_.emplace(r.id, std::move(r));
        measuring_.add_room_relay(now, t->relay, t->relay_key);
    }
    for (auto& l : snap.lines) {
        auto it = rooms_.find(l.room);
        if (it == rooms_.end() || l.seq == 0) continue;
        Room& r = it->second;
        r.outbox[l.seq] = OutLine{l.id, l.sent, 0, l.text};
        r.next_seq = std::max(r.next_seq, l.seq + 1);
    }
    for (auto& c : snap.cursors) {
        auto it = rooms_.find(c.room);
        if (it == rooms_.end() || c.author == ctx_.me()) continue;
        Inbound& in = it->second.in[c.author];
        in.run = c.run;
        in.expected = c.next;
    }
    for (auto& [id, r] : rooms_) {
        check_keys(r);
        if (!r.outbox.empty())
            show(r, room_ev::Notice{"room " + short_id(id) + ": " + std::to_string(r.outbox.size()) +
                                    " line(s) from before not yet acked by everyone, sending again"});
    }
}

// ---- rooms and their tickets ----------------------------------------------------------

Room* Delivery::find(const RoomId& id) {
    auto it = rooms_.find(id);
    return it == rooms_.end() ? nullptr : &it->second;
}

const Room* Delivery::find(const RoomId& id) const {
    auto it = rooms_.find(id);
    return it == rooms_.end() ? nullptr : &it->second;
}

Room* Delivery::open(TimeMs now, const wire::SignedBlob& blob, const wire::Ticket& t, bool direct) {
    auto it = rooms_.find(t.room);
    if (it != rooms_.end()) return &it->second;
    if (rooms_.size() >= ctx_.cfg.max_rooms) {
        ctx_.problem("too many rooms: room " + short_id(t.room) + " not joined");
        return nullptr;
    }
    Room r;
    r.id = t.room;
    r.ticket_blob = blob;
    r.ticket = t;
    r.direct = direct;
    r.run = run_;
    r.next_join = now;
    for (auto& m : t.members) r.kx.erase(m.user);
    it = rooms_.emplace(t.room, std::move(r)).first;
    touch(it->second);
    check_keys(it->second);
    return &it->second;
}

void Delivery::join_invited(TimeMs now, const wire::SignedBlob& blob, const wire::Ticket& t,
                            const std::string& inviter) {
    Room* r = open(now, blob, t, true);
    if (!r) return;
    r->members = member_names(t);
    r->required.insert(inviter);
    touch(*r);
}

void Delivery::open_issued(TimeMs now, const wire::SignedBlob& blob, const wire::Ticket& t, const std::string& peer,
                           const Addr& peer_addr) {
    Room* room = open(now, blob, t, true);
    if (!room) return;
    room->mine = true;
    touch(*room);
    if (!room->distrusted.count(peer)) room->required.insert(peer);
    room->peer_addrs[peer] = peer_addr;
    if (!contains(room->members, ctx_.me())) room->members.push_back(ctx_.me());
    if (!contains(room->members, peer)) room->members.push_back(peer);
}

// A ticket member whose key is not the one our node pinned: no line is sealed to it,
// its lines are not shown, ours do not wait for its acks.
void Delivery::check_keys(Room& r) {
    for (auto& m : r.ticket.members)
        if (ctx_.impostor(m) && r.distrusted.insert(m.user).second) {
            ctx_.warn_key(m.user, "room " + short_id(r.id));
            if (r.required.erase(m.user)) touch(r);
            r.kx.erase(m.user);
        }
    trim(r);
}

void Delivery::set_members(Room& r, const std::vector<std::string>& members, const std::vector<std::string>& pending) {
    const std::string& me = ctx_.me();
    for (auto& m : members)
        if (!contains(r.members, m) && r.announced && m != me) ctx_.event(room_ev::MemberChange{r.id, m, true});
    for (auto& m : r.members)
        if (!contains(members, m) && r.announced && m != me) ctx_.event(room_ev::MemberChange{r.id, m, false});
    if (r.members != members) touch(r);
    r.members = members;
    if (!r.direct) {
        std::set<std::string> required;
        for (auto& m : members)
            if (m != me && !r.distrusted.count(m)) required.insert(m);
        for (auto& m : pending)
            if (m != me && ticket_member(r.ticket, m) && !r.distrusted.count(m)) required.insert(m);
        if (required != r.required) touch(r);
        r.required = std::move(required);
        trim(r);
    }
}

// A new ticket for a room we are in: a move to another relay (or the same, later epoch).
void Delivery::move(TimeMs now, Room& r, const wire::SignedBlob& blob, const wire::Ticket& t, MoveReason why,
                    std::uint32_t old_ms, std::uint32_t new_ms) {
    if (r.ticket.relay != t.relay || r.ticket.relay_key != t.relay_key) {
        ctx_.env.send(r.ticket.relay, wire::MsgType::room_leave, wire::encode(wire::RoomLeave{r.id}));
        show(r, room_ev::RoomMoved{r.id, r.ticket.relay, t.relay, why, old_ms, new_ms});
    }
    r.ticket = t;
    r.ticket_blob = blob;
    touch(r);
    r.joined = false;
    r.on_relay.clear();
    r.next_join = now;
    check_keys(r);
    measuring_.add_room_relay(now, t.relay, t.relay_key);
}

// ---- with a directory ------------------------------------------------------------------

bool Delivery::on_chats(TimeMs now, const std::vector<wire::ChatInfo>& chats, const PublicKey& dir_key) {
    std::set<RoomId> now_listed, behind;
    for (auto& ci : chats) {
        now_listed.insert(ci.room);
        if (left_.count(ci.room)) continue;
        if (!ctx_.env.verify(ci.ticket, dir_key)) {
            ++ctx_.env.stats().bad_signature;
            continue;
        }
        auto t = wire::decode_ticket(ci.ticket.body);
        if (!t || t->room != ci.room || !ticket_member(*t, ctx_.me())) {
            ++ctx_.env.stats().malformed;
            continue;
        }
        auto it = rooms_.find(ci.room);
        if (it == rooms_.end()) {
            Room* r = open(now, ci.ticket, *t, false);
            if (r) set_members(*r, ci.members, ci.pending);
            continue;
        }
        Room& r = it->second;
        if (t->epoch > r.ticket.epoch) {
            move(now, r, ci.ticket, *t, move_reason_of(ci.reason), ci.old_ms, ci.new_ms);
        } else if (t->epoch < r.ticket.epoch) {
            behind.insert(ci.room);  // a restarted directory took it back from an older ticket
        }
        set_members(r, ci.members, ci.pending);
    }
    for (auto it = left_.begin(); it != left_.end();) it = now_listed.count(*it) ? std::next(it) : left_.erase(it);
    // A chat listed with an older ticket than ours is held (sent with the heartbeat),
    // as if not listed, until the directory has our newer one.
    for (auto& id : behind) now_listed.erase(id);
    listed_ = std::move(now_listed);
    return !behind.empty();
}

void Delivery::add_held(wire::ClientHeartbeat& hb) const {
    for (auto& [id, r] : rooms_)
        if (!r.direct && !listed_.count(id) && hb.held.size() < wire::kMaxRoleRooms) hb.held.push_back({r.ticket_blob, r.members});
}

void Delivery::repeat_leaves(const Addr& directory) {
    for (auto& id : left_) ctx_.env.send(directory, wire::MsgType::chat_leave, wire::encode(wire::RoomLeave{id}));
}

// ---- commands and timers ------------------------------------------------------------------

void Delivery::send_line(TimeMs now, const room_cmd::Send& c) {
    auto it = rooms_.find(c.room);
    if (it == rooms_.end()) return ctx_.problem("no room " + short_id(c.room));
    if (c.text.empty()) return;
    Room& r = it->second;
    if (c.text.size() > (r.ticket.group ? wire::kMaxRoomPayload : wire::kMaxText))
        return ctx_.problem("line too long (at most 4096 bytes)");
    if (r.outbox.size() >= ctx_.cfg.max_outbox_per_room)
        return ctx_.problem("room " + short_id(r.id) + ": too many lines waiting for acks, not sent");
    const std::uint64_t seq = r.next_seq++;
    OutLine& l = r.outbox[seq];
    l.id = ctx_.env.random_id<16>();
    l.sent = now;
    l.text = c.text;
    // Stored before it is sent (the driver applies store ops first).
    ops_.push_back(store_op::PutRoomLine{RoomLineRecord{r.id, seq, l.id, l.sent, l.text}});
    if (r.joined) lines_due_.try_emplace(r.id, now);
    trim(r);  // alone in the room: delivered at once
}

void Delivery::leave(const RoomId& id) {
    auto it = rooms_.find(id);
    if (it == rooms_.end()) return ctx_.problem("no room " + short_id(id));
    ctx_.env.send(it->second.ticket.relay, wire::MsgType::room_leave, wire::encode(wire::RoomLeave{id}));
    if (!it->second.direct && ctx_.cfg.directory) {
        left_.insert(id);
        ctx_.env.send(*ctx_.cfg.directory, wire::MsgType::chat_leave, wire::encode(wire::RoomLeave{id}));
    }
    const bool group = it->second.ticket.group;
    forget(id);
    hop_floor_.retire(it->second.hop);
    rooms_.erase(it);
    if (!group) ctx_.event(room_ev::RoomLeft{id});
}

// A room whose own lines everyone acked is left (the relay and the directory are told,
// so the others see us go at once); a room with lines still waiting is only left on
// its relay and kept in the store, with them, for next time.
void Delivery::quit() {
    std::vector<RoomId> done;
    for (auto& [id, r] : rooms_) {
        if (r.outbox.empty()) {
            done.push_back(id);
            continue;
        }
        ctx_.env.send(r.ticket.relay, wire::MsgType::room_leave, wire::encode(wire::RoomLeave{id}));
        show(r, room_ev::Notice{"room " + short_id(id) + ": " + std::to_string(r.outbox.size()) +
                                   " line(s) not yet acked by everyone: room kept, they go when darkchat starts again "
                                   "(\\leave drops them)"});
    }
    for (auto& id : done) leave(id);
}

void Delivery::handle_timeout(TimeMs now, Selector& sel) {
    for (auto& [id, r] : rooms_) {
        if (r.direct) relocate(now, r, sel);
        // Joined but some member's key is still unknown (a lost roster): joining again
        // is answered with the roster.
        if ((!r.joined || missing_keys(r)) && now >= r.next_join) join(now, r);
        if (r.joined && !r.outbox.empty() && now >= r.next_resend) resend(now, r, false);
    }
}

void Delivery::next_wakeup(TimeMs now, std::optional<TimeMs>& t) const {
    for (auto& [id, room] : rooms_) {
        if (!room.joined || missing_keys(room)) earliest(t, room.next_join);
        if (room.joined && !room.outbox.empty()) earliest(t, room.next_resend);
        if (room.move_id) earliest(t, room.next_move_invite);
        if (room.mine) earliest(t, now + ctx_.cfg.measure_interval);
    }
}

std::vector<Addr> Delivery::relays() const {
    std::vector<Addr> v;
    for (auto& [id, r] : rooms_) v.push_back(r.ticket.relay);
    return v;
}

bool Delivery::on_relay(const Addr& a) const {
    return std::any_of(rooms_.begin(), rooms_.end(), [&](auto& p) { return p.second.ticket.relay == a; });
}

bool Delivery::relay_of_a_room(const PublicKey& key, const Addr& a) const {
    return std::any_of(rooms_.begin(), rooms_.end(),
                       [&](auto& p) { return p.second.ticket.relay == a && p.second.ticket.relay_key == key; });
}

// ---- a room's files -------------------------------------------------------------------

bool Delivery::send_file(const PublicKey& to, ByteView message) {
    for (auto& [id, r] : rooms_)
        for (auto& m : r.ticket.members) {
            if (m.key != to || m.user == ctx_.me() || r.distrusted.count(m.user)) continue;
            auto at = r.served_at.find(m.user);
            if (at == r.served_at.end()) continue;
            ctx_.env.send(at->second, wire::MsgType::room_file,
                          wire::encode(wire::RoomFile{id, Bytes(message.begin(), message.end())}), true);
            return true;
        }
    return false;
}

// Taken only from a member of the room it names, with the key its ticket names (the
// packet is signed by it), and one our node does not distrust.
void Delivery::on_file(const Incoming& in, const wire::RoomFile& f) {
    const wire::Header& h = in.pkt.header;
    auto it = rooms_.find(f.room);
    const wire::TicketMember* m = it == rooms_.end() ? nullptr : ticket_member(it->second.ticket, h.from_user);
    if (!m || m->key != h.from_key || h.from_user == ctx_.me() || it->second.distrusted.count(h.from_user)) {
        ++ctx_.env.stats().unsolicited;
        return;
    }
    if (file_messages_.size() >= kMaxFileMessages) {
        ++ctx_.env.stats().refused;
        return;
    }
    file_messages_.push_back(RoomFileMessage{f.room, h.from_key, f.message});
}

std::vector<RoomMemberView> Delivery::members(const RoomId& id) const {
    std::vector<RoomMemberView> v;
    const Room* r = find(id);
    if (!r) return v;
    for (auto& m : r->ticket.members) {
        if (r->distrusted.count(m.user)) continue;
        RoomMemberView x{m.user, m.key, std::nullopt};
        if (auto at = r->served_at.find(m.user); at != r->served_at.end()) x.addr = at->second;
        v.push_back(std::move(x));
    }
    return v;
}

std::optional<Addr> Delivery::served_at(const PublicKey& key) const {
    for (auto& [id, r] : rooms_)
        for (auto& m : r.ticket.members)
            if (m.key == key && !r.distrusted.count(m.user))
                if (auto at = r.served_at.find(m.user); at != r.served_at.end()) return at->second;
    return std::nullopt;
}

bool Delivery::member_at(const PublicKey& key, const Addr& a) const {
    for (auto& [id, r] : rooms_)
        for (auto& [user, at] : r.served_at)
            if (at == a)
                if (auto* m = ticket_member(r.ticket, user); m && m->key == key) return true;
    return false;
}

std::vector<RoomView> Delivery::view() const {
    std::vector<RoomView> v;
    for (auto& [id, r] : rooms_) {
        RoomView x;
        x.room = id;
        x.relay_key = r.ticket.relay_key;
        x.relay = r.ticket.relay;
        x.epoch = r.ticket.epoch;
        x.members = r.members.empty() ? member_names(r.ticket) : r.members;
        x.joined = r.joined;
        x.unacked = r.outbox.size();
        x.group = r.ticket.group;
        v.push_back(std::move(x));
    }
    return v;
}

}  // namespace dc::roles::detail
