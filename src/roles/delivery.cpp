// The room client's delivery (delivery.hpp).

#include "delivery.hpp"

#include <limits>

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

// ---- on the relay -------------------------------------------------------------------------

bool Delivery::missing_keys(const Room& r) {
    return std::any_of(r.required.begin(), r.required.end(), [&](auto& m) { return !r.kx.count(m); });
}

void Delivery::join(TimeMs now, Room& r) {
    wire::MemberKey mk{r.id, ctx_.me(), kx_pk_};
    wire::RoomJoin j{r.ticket_blob, ctx_.env.sign(wire::encode(mk))};
    ctx_.env.send(r.ticket.relay, wire::MsgType::room_join, wire::encode(j));
    r.next_join = now + ctx_.cfg.rejoin_interval;
}

Outbox::iterator Delivery::transmit(TimeMs now, Room& r, Outbox::iterator first,
                                   const std::function<bool(const OutLine&)>& due) {
    // What a Line's encoding adds to its texts, at most: the fixed fields, and per further line.
    constexpr std::size_t kFixed = 120, kPerNext = 48, kPerCopy = 8;
    auto& cr = ctx_.env.crypto();
    if (r.line_key == core::SymmetricKey{}) cr.random(r.line_key);
    // Each text encrypted once under the line key, its seq as the counter.
    auto seal_text = [&](const OutLine& l, std::uint64_t seq) {
        const Bytes text(l.text.begin(), l.text.end());
        Bytes out(text.size() + 16);
        cr.aead_seal(out.data(), text, {}, seq, r.line_key);
        return out;
    };
    wire::LineBody b;
    b.room = r.id;
    b.author = ctx_.me();
    b.seq = first->first;
    b.first_kept = r.outbox.begin()->first;
    b.id = first->second.id;
    b.sent = first->second.sent;
    b.run = r.run;
    b.text = seal_text(first->second, b.seq);
    // The key sealed once to each member's sealing key; a resend carries every copy, so
    // that a member who lost the key (a restart) has it again.
    const bool resent = first->second.last_tx != 0;
    std::size_t size = kFixed + b.author.size() + b.text.size();
    std::vector<std::string> to;
    for (auto& [user, kx] : r.kx)
        if (user != ctx_.me() && ticket_member(r.ticket, user)) {
            auto& copy = r.key_copies[user];
            if (copy.sealed.empty() || copy.kx != kx) copy = KeyCopy{kx, cr.seal(ByteView(r.line_key), kx), false};
            b.copies.push_back({user, copy.held && !resent ? Bytes{} : copy.sealed});
            size += kPerCopy + user.size() + b.copies.back().sealed.size() + wire::kMemberTag;
            to.push_back(user);
        }
    first->second.last_tx = now;
    auto it = std::next(first);
    // A new line joins only a packet whose copies it can do with; a resent one any.
    for (std::uint64_t seq = b.seq + 1; it != r.outbox.end() && it->first == seq && b.next.size() < wire::kMaxNextLines &&
                                        (resent || it->second.last_tx == 0) && due(it->second);
         ++it, ++seq) {
        if (size + kPerNext + it->second.text.size() + 16 > kLinePacking) break;
        b.next.push_back({it->second.id, it->second.sent, seal_text(it->second, seq)});
        size += kPerNext + b.next.back().text.size();
        it->second.last_tx = now;
    }
    wire::RoomLine line{r.id, {}, wire::encode(b), {}};
    if (to.empty()) line.line = ctx_.env.sign(std::move(line.tagged));
    else line.tags = tags_for(r, line.tagged, to);
    to_relay(r, wire::MsgType::room_line, wire::encode(line));
    return it;
}

void Delivery::to_relay(Room& r, wire::MsgType t, const Bytes& payload) {
    if (r.hop && r.hop_up) ctx_.env.push(r.ticket.relay, hop_seal(ctx_.env.crypto(), *r.hop, t, payload, HopEnd::member));
    else ctx_.env.send(r.ticket.relay, t, payload);
}

Room* Delivery::by_hop(std::uint32_t index) {
    for (auto& [id, room] : rooms_)
        if (room.hop && room.hop->index == index) return &room;
    return nullptr;
}

// Resends lines not acked by everyone: those not sent for resend_interval, at most
// kResendBurst per room per interval (and what packs with the last), all of them at
// once after a join.
void Delivery::resend(TimeMs now, Room& r, bool all) {
    auto due = [&](const OutLine& l) { return all || now - l.last_tx >= ctx_.cfg.resend_interval; };
    std::size_t n = 0;
    for (auto it = r.outbox.begin(); it != r.outbox.end() && n < kResendBurst;) {
        if (!due(it->second)) {
            ++it;
            continue;
        }
        auto next = transmit(now, r, it, due);
        n += static_cast<std::size_t>(std::distance(it, next));
        it = next;
    }
    r.next_resend = now + ctx_.cfg.resend_interval;
}

void Delivery::send_due_lines() {
    for (auto& [id, when] : lines_due_) {
        auto rit = rooms_.find(id);
        if (rit == rooms_.end() || !rit->second.joined) continue;  // a join sends them all
        Room& r = rit->second;
        // Lines never sent are the outbox's last ones.
        auto it = r.outbox.end();
        while (it != r.outbox.begin() && std::prev(it)->second.last_tx == 0) --it;
        while (it != r.outbox.end()) it = transmit(when, r, it, [](const OutLine& l) { return l.last_tx == 0; });
    }
    lines_due_.clear();
}

// Drops own lines every required member acked; each is echoed once as delivered.
void Delivery::trim(Room& r) {
    std::uint64_t upto = std::numeric_limits<std::uint64_t>::max();
    for (auto& m : r.required) {
        auto it = r.acked.find(m);
        upto = std::min(upto, it == r.acked.end() ? 0 : it->second);
    }
    std::uint64_t dropped = 0;
    while (!r.outbox.empty() && r.outbox.begin()->first <= upto) {
        auto& [seq, l] = *r.outbox.begin();
        show(r, room_ev::Line{r.id, ctx_.me(), l.text, l.sent, l.id, true});
        dropped = seq;
        r.outbox.erase(r.outbox.begin());
    }
    if (dropped) ops_.push_back(store_op::DeleteRoomLines{r.id, dropped});
}

void Delivery::on_roster(TimeMs now, const Incoming& in, const wire::RoomRoster& ro) {
    auto it = rooms_.find(ro.room);
    if (it == rooms_.end()) return;
    Room& r = it->second;
    if (in.pkt.header.from_key != r.ticket.relay_key) {
        ++ctx_.env.stats().unsolicited;
        return;
    }
    const std::string& me = ctx_.me();
    bool in_it = false, newcomer = false;
    std::set<std::string> present;
    std::map<std::string, Addr> served;
    for (std::size_t i = 0; i < ro.member_keys.size(); ++i) {
        const auto& blob = ro.member_keys[i];
        auto mk = wire::decode_member_key(blob.body);
        if (!mk || mk->room != r.id) continue;
        const auto* m = ticket_member(r.ticket, mk->user);
        if (!m || !ctx_.env.verify(blob, m->key)) {
            ++ctx_.env.stats().bad_signature;
            continue;
        }
        if (r.distrusted.count(mk->user)) continue;
        r.kx[mk->user] = mk->kx;
        present.insert(mk->user);
        if (ro.addrs.size() == ro.member_keys.size() && ro.addrs[i].valid() && ro.addrs[i].port != 0)
            served[mk->user] = ro.addrs[i];
        newcomer |= mk->user != me && !r.on_relay.count(mk->user);
        if (mk->user == me) in_it = mk->kx == kx_pk_;
        else if (r.direct && !r.mine && r.required.insert(mk->user).second) touch(r);
    }
    if (!in_it) {
        r.joined = false;
        r.next_join = now;
        return;
    }
    r.on_relay = std::move(present);
    r.served_at = std::move(served);
    if (ro.relay_kx == KxPublicKey{}) r.hop.reset();
    else if (!r.hop || r.hop->peer_kx != ro.relay_kx) r.hop = make_hop(ctx_.env.crypto(), kx_sk_, ro.relay_kx, r.id, me);
    r.hop_up = ro.hop_up;
    const bool was = r.joined;
    r.joined = true;
    if (!r.announced) {
        r.announced = true;
        std::vector<std::string> others;
        for (auto& m : r.members.empty() ? member_names(r.ticket) : r.members)
            if (m != me) others.push_back(m);
        show(r, room_ev::RoomJoined{r.id, r.ticket.relay, others});
    }
    // A member just joined (this relay dropped what we sent before): everything it
    // has not acked goes again now, not at the next resend round.
    if (!was || newcomer || !r.outbox.empty()) resend(now, r, !was || newcomer);
}

void Delivery::send_ack(Room& r, const std::string& author, const Inbound& inb) {
    const std::uint64_t upto = inb.expected - 1;
    if (upto == 0) return;
    wire::AckBody a{r.id, ctx_.me(), author, upto, inb.run, {}};
    if (inb.key_copy.size() >= wire::kKeyMark) a.key.assign(inb.key_copy.end() - wire::kKeyMark, inb.key_copy.end());
    wire::RoomAck ra{r.id, author, {}, wire::encode(a), {}};
    if (pair(r, author)) ra.tags = tags_for(r, ra.tagged, {author});
    else ra.ack = ctx_.env.sign(std::move(ra.tagged));
    to_relay(r, wire::MsgType::room_ack, wire::encode(ra));
}

void Delivery::on_line(const wire::RoomLine& rl) {
    auto it = rooms_.find(rl.room);
    if (it == rooms_.end()) return;
    Room& r = it->second;
    auto& env = ctx_.env;
    const bool tagged = !rl.tagged.empty();
    auto b = wire::decode_line_body(tagged ? rl.tagged : rl.line.body);
    if (!b || b->room != r.id || b->author == ctx_.me() || b->seq == 0 || b->run == 0 ||
        (!b->next.empty() && (b->text.empty() || b->seq > std::numeric_limits<std::uint64_t>::max() - b->next.size()))) {
        ++env.stats().malformed;
        return;
    }
    if (r.distrusted.count(b->author)) {
        ++env.stats().wrong_key;
        return;
    }
    std::size_t at = b->copies.size();  // our copy, and our tag at the same place
    for (std::size_t i = 0; i < b->copies.size(); ++i)
        if (b->copies[i].to == ctx_.me()) at = i;
    if (tagged && !r.kx.count(b->author)) return;  // its key not known yet: the line comes again
    if (tagged ? !tag_ok(r, b->author, rl.tagged, rl.tags, at) : !authentic(r, b->author, rl.line)) {
        ++env.stats().bad_signature;
        return;
    }
    Inbound& inb = r.in[b->author];
    const auto before = std::make_pair(inb.run, inb.expected);
    // The author restarted (its seqs start again from 1): what we expected of its
    // earlier run no longer applies. Stragglers of an earlier run are dropped.
    if (b->run != inb.run) {
        if (std::find(inb.retired.begin(), inb.retired.end(), b->run) != inb.retired.end()) return;
        if (inb.run != 0) {
            inb.retired.push_back(inb.run);
            if (inb.retired.size() > kRetiredRuns) inb.retired.erase(inb.retired.begin());
        }
        inb.run = b->run;
        inb.expected = 0;
        inb.buffer.clear();
    }
    if (inb.expected == 0) inb.expected = std::max<std::uint64_t>(1, b->first_kept);
    // Lines before first_kept were acked by everyone the author waited for: they are
    // not coming again (we joined later).
    if (b->first_kept > inb.expected) {
        inb.expected = b->first_kept;
        while (!inb.buffer.empty() && inb.buffer.begin()->first < inb.expected) inb.buffer.erase(inb.buffer.begin());
    }
    // The packet's lines: the body's own, then the next ones, seqs following on. What we
    // cannot open now comes again (what came before it in the packet is taken).
    const wire::SealedCopy* mine = at < b->copies.size() ? &b->copies[at] : nullptr;
    for (std::size_t i = 0; i <= b->next.size(); ++i) {
        const std::uint64_t seq = b->seq + i;
        if (seq < inb.expected || inb.buffer.count(seq)) continue;
        if (!mine) break;  // sealed before the author had our key
        // An empty copy while we hold no key of the author's: the resend carries it.
        if (!b->text.empty() && mine->sealed.empty() && inb.key_copy.empty()) break;
        const MessageId& id = i == 0 ? b->id : b->next[i - 1].id;
        const TimeMs sent = i == 0 ? b->sent : b->next[i - 1].sent;
        auto text = b->text.empty() ? env.crypto().open(mine->sealed, kx_pk_, kx_sk_)
                                    : open_text(inb, seq, i == 0 ? b->text : b->next[i - 1].text, *mine);
        if (!text) {
            ++env.stats().malformed;
            break;
        }
        if (seq == inb.expected || inb.buffer.size() < ctx_.cfg.max_buffered_per_author)
            inb.buffer.emplace(seq, Held{id, sent, std::string(text->begin(), text->end())});
    }
    while (!inb.buffer.empty() && inb.buffer.begin()->first == inb.expected) {
        auto& h = inb.buffer.begin()->second;
        if (r.ticket.group) group_lines_.push_back(GroupRoomLine{r.id, ticket_member(r.ticket, b->author)->key,
                                                                 Bytes(h.text.begin(), h.text.end())});
        else ctx_.event(room_ev::Line{r.id, b->author, h.text, h.sent, h.id, false});
        inb.buffer.erase(inb.buffer.begin());
        ++inb.expected;
    }
    if (std::make_pair(inb.run, inb.expected) != before) dirty_cursors_.insert({r.id, b->author});
    acks_due_.insert({r.id, b->author});
}

std::optional<Bytes> Delivery::open_text(Inbound& inb, std::uint64_t seq, const Bytes& sealed_text,
                                         const wire::SealedCopy& mine) {
    auto& cr = ctx_.env.crypto();
    if (!mine.sealed.empty() && mine.sealed != inb.key_copy) {
        auto key = cr.open(mine.sealed, kx_pk_, kx_sk_);
        if (!key || key->size() != inb.key.size()) return std::nullopt;
        std::copy(key->begin(), key->end(), inb.key.begin());
        crypto::wipe(*key);
        inb.key_copy = mine.sealed;
    }
    if (inb.key_copy.empty() || sealed_text.size() < 16) return std::nullopt;
    Bytes text(sealed_text.size() - 16);
    if (!cr.aead_open(text.data(), sealed_text, {}, seq, inb.key)) return std::nullopt;
    return text;
}

void Delivery::send_due_acks() {
    for (auto& [id, author] : acks_due_) {
        auto it = rooms_.find(id);
        if (it == rooms_.end()) continue;
        auto in = it->second.in.find(author);
        if (in != it->second.in.end()) send_ack(it->second, author, in->second);
    }
    acks_due_.clear();
}

void Delivery::on_ack(const wire::RoomAck& ra) {
    auto it = rooms_.find(ra.room);
    if (it == rooms_.end()) return;
    Room& r = it->second;
    const bool tagged = !ra.tagged.empty();
    auto a = wire::decode_ack_body(tagged ? ra.tagged : ra.ack.body);
    if (!a || a->room != r.id || a->author != ctx_.me()) {
        ++ctx_.env.stats().malformed;
        return;
    }
    if (a->run != r.run) return;  // acks lines of an earlier run of ours in this room
    if (tagged ? !tag_ok(r, a->from, ra.tagged, ra.tags, 0) : !authentic(r, a->from, ra.ack)) {
        ++ctx_.env.stats().bad_signature;
        return;
    }
    auto& acked = r.acked[a->from];
    acked = std::max(acked, std::min(a->upto, r.next_seq - 1));
    // The acker holds our key as sealed to its current room key.
    if (auto kc = r.key_copies.find(a->from); kc != r.key_copies.end() && a->key.size() == wire::kKeyMark &&
                                              kc->second.sealed.size() >= wire::kKeyMark &&
                                              std::equal(a->key.begin(), a->key.end(), kc->second.sealed.end() - wire::kKeyMark))
        kc->second.held = true;
    trim(r);
}

void Delivery::on_refused(TimeMs now, const Incoming& in, const wire::RoomRefused& rf) {
    // A hop the relay does not know names no room: the room is the one of that hop.
    const Room* hopped = rf.hop != 0 ? by_hop(rf.hop) : nullptr;
    auto it = rooms_.find(hopped ? hopped->id : rf.room);
    if (it == rooms_.end() || in.pkt.header.from_key != it->second.ticket.relay_key ||
        (rf.hop != 0 && !retry_after(rf.reason))) {
        ++ctx_.env.stats().unsolicited;
        return;
    }
    Room& r = it->second;
    if (retry_after(rf.reason)) {
        if (r.joined) {
            r.joined = false;
            r.next_join = now;
        }
        return;
    }
    // A group's member the relay no longer lists left the group or was removed: its
    // group machine says so (and has the room left).
    if (!r.ticket.group) ctx_.problem("room " + short_id(r.id) + " refused by relay " + r.ticket.relay.to_string() + ": " + rf.reason);
    else if (rf.reason != "not a member")
        ctx_.problem("group " + short_id(r.id) + ": relay " + r.ticket.relay.to_string() + " refused its lines: " + rf.reason);
    show(r, room_ev::RoomLeft{r.id});
    if (!r.direct) left_.insert(r.id);
    forget(r.id);
    rooms_.erase(it);
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
