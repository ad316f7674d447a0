// The room client's lines and acks on the relay (delivery.hpp; the rest of Delivery is in
// delivery.cpp): joining, sending the lines of a turn packed, resending, trimming what
// everyone acked, rosters, every author's lines delivered in order and once, the turn's
// cumulative acks, refusals.

#include "delivery.hpp"

#include <limits>

namespace dc::roles::detail {

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
    if (ro.relay_kx == KxPublicKey{}) {
        hop_floor_.retire(r.hop);
        r.hop.reset();
    } else if (!r.hop || r.hop->peer_kx != ro.relay_kx) {
        hop_floor_.retire(r.hop);
        r.hop = make_hop(ctx_.env.crypto(), kx_sk_, ro.relay_kx, r.id, me);
        hop_floor_.start(r.hop);
    }
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
    wire::RoomAck ra{r.id, author, {}, wire::encode(a), {}, {}};
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
    take_ack(r, ra.tagged, ra.tags, ra.ack);
    // The other members' acks the relay gathered into the same packet.
    for (auto& more : ra.more)
        if (more.tagged.empty()) ++ctx_.env.stats().malformed;
        else take_ack(r, more.tagged, more.tags, {});
    trim(r);
}

void Delivery::take_ack(Room& r, const Bytes& tagged_body, const Bytes& tags, const wire::SignedBlob& signed_ack) {
    const bool tagged = !tagged_body.empty();
    auto a = wire::decode_ack_body(tagged ? tagged_body : signed_ack.body);
    if (!a || a->room != r.id || a->author != ctx_.me()) {
        ++ctx_.env.stats().malformed;
        return;
    }
    if (a->run != r.run) return;  // acks lines of an earlier run of ours in this room
    if (tagged ? !tag_ok(r, a->from, tagged_body, tags, 0) : !authentic(r, a->from, signed_ack)) {
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
    hop_floor_.retire(r.hop);
    rooms_.erase(it);
}

}  // namespace dc::roles::detail
