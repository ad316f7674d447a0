// The node: chat in and out, acknowledgements, and undoing what a failed store rested on.
#include "core/node_state.hpp"

namespace dc::core {

bool Node::State::key_ok(const std::string& user, const PublicKey& key) {
    auto it = users.find(user);
    const PublicKey* pinned = it != users.end() && it->second.key_known ? &it->second.rec.key : nullptr;
    if (trust.key_ok(pinned, user, key, now)) return true;
    ++stats.wrong_key;
    return false;
}

void Node::State::on_untrusted_chat(const wire::Header& h, const wire::ChatMessage& m, const wire::SignedBlob& msg) {
    if (m.from != h.from_user || m.to != id.user || !env.verify(msg, h.from_key)) {
        ++stats.bad_signature;
        return;
    }
    if (!m.group.empty()) return;  // a group message under a key not pinned: not for the group machine
    auto u = trust.untrusted_message(m.from, h.from_key, m.id, now);
    if (u.warn) event(ev::KeyWarning{m.from, users[m.from].rec.key, h.from_key});
    if (u.show) event(ev::Message{HistoryRecord{m.id, m.from, m.to, m.sent, now, m.text}, false, true});
}

void Node::State::on_chat(const wire::Header& h, const Addr& back, const wire::Chat& c, bool trusted_sender) {
    // On a channel the message needs no box of its own: the channel's keys
    // already hide it from everyone but the session at its other end.
    const bool on_channel = request && request->channel;
    std::optional<Bytes> plain;
    if (c.kx == KxPublicKey{}) {
        if (!on_channel) {  // a box that names no key is no box: nothing to open
            ++stats.malformed;
            return;
        }
        plain = c.sealed;
    } else if (const SealingKeys::Pair* keys = kx.find(c.kx)) {
        plain = crypto.open(c.sealed, keys->pk, keys->sk);
    }
    if (!plain) {
        // Sealed to a key we no longer hold (we restarted or rotated): tell the
        // sender our current declaration, at most once per rotation per session.
        ++stats.undecryptable;
        if (known_session(h) && kx.tell(h.from_session))
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
    // Who must be convinced of the author: nobody, when the author's own session
    // handed it to us on a channel (its keys prove it). A copy mirrored by one of
    // our own sessions carries the author's signature, or, for what that session
    // received on a channel, our own key's: it vouches for what it saw.
    bool author_on_channel = on_channel && m->from == h.from_user;
    bool vouched = h.from_user == id.user && m->from != id.user && env.verify(msg, id.pk);
    if (!author_on_channel && !env.verify(msg, author_key) && !vouched) {
        ++stats.bad_signature;
        return;
    }
    bool to_me = m->to == id.user, from_me = m->from == id.user;
    bool sender_ok = h.from_user == m->from || h.from_user == id.user;
    if ((!to_me && !from_me) || !sender_ok || !users.count(h.from_user)) {
        ++stats.unsolicited;
        return;
    }
    // A group message names its author to the group machine by the key pinned
    // for it: until one is (the author's declaration is on its way), it is not
    // taken, nor acknowledged, and its sender tries again.
    if (!m->group.empty() && !users.at(m->from).key_known) {
        ++stats.unsolicited;
        return;
    }
    // A numbered message sent by its author comes from the session that
    // numbered it (mirrors come from other sessions): no made-up streams.
    if (m->seq != 0 && h.from_user == m->from && m->session != h.from_session &&
        !seen.contains(m->from, m->sent, m->id)) {
        ++stats.malformed;
        return;
    }
    take_chat(h, back, *m, msg, c.base);
}

void Node::State::take_chat(const wire::Header& h, const Addr& back, const wire::ChatMessage& m,
                            const wire::SignedBlob& msg, std::uint64_t base) {
    if (seen.contains(m.from, m.sent, m.id)) {
        ++stats.duplicate;
        // Seen may mean shown earlier in this turn and not stored yet: the ack
        // rests on that message's store ops and is taken back with them.
        ack_plain(back, m, h.from_user, h.from_session);
        return;
    }
    heard_from(h.from_user, h.from_session);  // a new message: fresh, not a replay
    HeldChat x{m, msg, h.from_user, h.from_session, back};
    if (m.seq == 0) {  // unnumbered: shown as it comes
        show_chat(std::move(x));
        return;
    }
    StreamKey k{m.session, m.to};
    if (order.place(k, m.seq, base) != ChatOrder::Place::wait) {
        show_chat(std::move(x));
        return;
    }
    // An earlier one of this stream is still on its way: wait for it. The
    // sender keeps this one (it is not delivered) and is told which one we
    // wait for, so that it resends that one now rather than at its next retry.
    ++stats.out_of_order;
    if (order.hold(k, m.seq, std::move(x), now)) {
        wire::ChatAck held{m.id, true, order.last_shown(k) + 1};
        send(back, wire::MsgType::chat_ack, wire::encode(held));
    }
    wake_dirty = true;  // a hold has a deadline
}

void Node::State::show_chat(HeldChat&& first) {
    std::vector<HeldChat> due;
    due.push_back(std::move(first));
    for (std::size_t i = 0; i < due.size(); ++i) {
        HeldChat x = std::move(due[i]);
        const wire::ChatMessage& m = x.msg;
        depends_on = m.id;
        if (!seen.insert(m.from, m.sent, m.id)) {
            ++stats.duplicate;
            ack_plain(x.back, x.msg, x.sender_user, x.sender_session);
            depends_on.reset();
            continue;
        }
        wire::ChatAck ack{m.id};
        const bool group = !m.group.empty();
        Tentative t{m.id, m.from, m.sent, false, group, {}, std::nullopt, 0};
        HistoryRecord rec{m.id, m.from, m.to, m.sent, now, m.text};
        // A group message goes to the group machine, which stores what it keeps
        // of it in this turn's commit; the history is for what people wrote.
        if (!group) store(store_op::PutHistory{rec});
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
        if (ack.want != 0) send(x.back, wire::MsgType::chat_ack, wire::encode(ack));
        else ack_plain(x.back, x.msg, x.sender_user, x.sender_session);
        if (group) {
            // Each device runs its own group machine: no mirroring. Our own user's
            // (from another device) go on too, with the session that wrote each: the
            // Host takes only a file's from them.
            if (auto u = users.find(m.from); u != users.end() && u->second.key_known)
                asides_out.push_back(aside::GroupMessage{m.from, u->second.rec.key, m.group, m.session});
            depends_on.reset();
            tentative.push_back(std::move(t));
            continue;
        }
        // Mirror what we received to our other sessions (seed 001, 2.2); a copy
        // that came from one of them needs no mirroring.
        if (x.sender_user != id.user) queue(x.blob, m, id.user);
        depends_on.reset();
        event(ev::Message{rec, m.from == id.user});
        tentative.push_back(std::move(t));
    }
}

std::vector<StoreOp> Node::State::store_failed(std::vector<StoreOp> ops) {
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
            if (!t.group) event(ev::Problem{"not sent to " + t.to + ": it could not be saved (nothing was sent)"});
        } else if (t.stream) {
            order.set_last_shown(*t.stream, t.prev_seq);
            streams.insert(*t.stream);
        }
    }
    tentative.clear();
    std::set<std::pair<std::string, MessageId>> held_gone;
    for (auto& [to, mid] : held_new) {
        holding.erase(to, mid);
        held_gone.insert({to, mid});
        gone.insert(mid);  // its holdAck rests on it
    }
    held_new.clear();
    if (gone.empty()) return ops;
    std::erase_if(events_out, [&](const Event& e) {
        if (auto* m = std::get_if<ev::Message>(&e)) return gone.count(m->msg.id) > 0;
        if (auto* q = std::get_if<ev::Queued>(&e)) return gone.count(q->id) > 0;
        return false;
    });
    std::erase_if(tx_out, [&](const Out& o) { return o.dep && gone.count(*o.dep) > 0; });
    for (auto& [to, acks] : acks_out) std::erase_if(acks, [&](const AckOut& a) { return gone.count(a.id) > 0; });
    std::erase_if(ops, [&](const StoreOp& op) {
        if (auto* h = std::get_if<store_op::PutHistory>(&op)) return gone.count(h->entry.id) > 0;
        if (auto* o = std::get_if<store_op::PutOutbox>(&op)) return gone.count(o->entry.id) > 0;
        if (auto* c = std::get_if<store_op::PutChatSeq>(&op))
            return streams.count(StreamKey{c->seq.session, c->seq.peer}) > 0;
        if (auto* k = std::get_if<store_op::PutHeld>(&op)) return held_gone.count({k->held.to, k->held.id}) > 0;
        return false;
    });
    wake_dirty = true;
    return ops;
}

void Node::State::ack_plain(const Addr& back, const wire::ChatMessage& m, const std::string& sender_user,
                            const SessionId& sender_session) {
    bool own_stream = m.seq != 0 && m.to == id.user && sender_user == m.from && sender_session == m.session;
    ack_plain(back, own_stream ? AckOut{m.id, m.seq, m.session} : AckOut{m.id});
}

void Node::State::ack_plain(const Addr& back, const AckOut& a) {
    if (request && !request->authenticated && !request->channel) {
        // From an address we cannot vouch for: answered at once, alone, so that no
        // answer to it is larger than what came (send() holds the rule).
        auto outer = std::exchange(depends_on, a.id);
        send(back, wire::MsgType::chat_ack, wire::encode(wire::ChatAck{a.id}));
        depends_on = outer;
        return;
    }
    acks_out[back].push_back(a);
}

void Node::State::flush_acks() {
    for (auto& [to, acks] : acks_out) {
        // The sender's own stream to us, if the turn brought any of it: all it
        // wrote that our order shows by now (stored: this runs after the turn's
        // store ops are applied) goes as one number with the newest of them.
        const AckOut* own = nullptr;
        for (const AckOut& a : acks)
            if (a.seq != 0) own = &a;
        std::uint64_t upto = own ? order.last_shown(StreamKey{own->session, id.user}) : 0;
        std::vector<MessageId> ids;
        std::optional<MessageId> newest;
        std::uint64_t newest_seq = 0;
        for (const AckOut& a : acks) {
            if (own && a.seq != 0 && a.seq <= upto && a.session == own->session) {
                if (a.seq >= newest_seq) newest = a.id, newest_seq = a.seq;
                continue;
            }
            ids.push_back(a.id);
        }
        if (newest) ids.insert(ids.begin(), *newest);
        for (std::size_t i = 0; i < ids.size(); i += 1 + wire::kMaxAckIds) {
            wire::ChatAck a{ids[i]};
            auto end = std::min(ids.size(), i + 1 + wire::kMaxAckIds);
            a.more.assign(ids.begin() + static_cast<std::ptrdiff_t>(i + 1), ids.begin() + static_cast<std::ptrdiff_t>(end));
            if (i == 0 && newest) a.upto = upto;
            send(to, wire::MsgType::chat_ack, wire::encode(a));
        }
    }
    acks_out.clear();
}

void Node::State::on_chat_ack(const wire::Header& h, const wire::ChatAck& p) {
    for (auto& more : p.more) on_chat_ack(h, wire::ChatAck{more});
    // A message we held for the acknowledging user was handed over (held: it
    // waits there for an earlier one, so we keep it and hand it over again).
    if (!p.held && holding.erase(h.from_user, p.id)) store(store_op::DeleteHeld{h.from_user, p.id});
    if (p.upto != 0 && h.from_user != id.user) {
        // Everything of our stream to that user up to upto: acknowledged as if
        // each were named (the named one below measures the round trip).
        for (OutEntry* e : outbox.upto(h.from_user, id.session, h.from_user, p.upto))
            if (e->rec.id != p.id) delivered(h, *e);
    }
    OutEntry* e = outbox.find(p.id, h.from_user);
    if (!e) return;
    outbox.acked(*e, now);
    if (p.held) {
        heard_from(h.from_user, h.from_session);
        // Not delivered: held until the one it waits for comes.
        outbox.held(*e, now);
        wake_dirty = true;
        resend_wanted(*e, p.want);
        return;
    }
    if (p.want != 0) resend_wanted(*e, p.want);
    delivered(h, *e);
}

void Node::State::delivered(const wire::Header& h, const OutEntry& e) {
    heard_from(h.from_user, h.from_session);  // acks a message still outstanding: fresh
    // Said only of what the user typed: a group message is the group machine's.
    bool say = h.from_user != id.user && e.msg.group.empty();
    MessageId mid = e.rec.id;
    std::string to = e.msg.to;
    store(store_op::DeleteOutbox{mid, h.from_user});
    outbox.erase(mid, h.from_user);
    if (say) event(ev::Delivered{mid, to});
}

void Node::State::queue(const wire::SignedBlob& blob, const wire::ChatMessage& m, const std::string& target) {
    if (target == id.user && presence.online_sessions(id.user).empty()) return;  // no other device to mirror to
    if (outbox.contains(m.id, target)) return;
    // A copy for our other sessions must convince them: signed now if it came
    // unsigned (ours, or the author's on a channel; see on_chat).
    OutboxRecord rec{m.id, target, target == id.user && blob.sig == Signature{} ? env.sign(blob.body) : blob, now};
    store(store_op::PutOutbox{rec});
    bool behind = false;
    auto& added = outbox.add(std::move(rec), m, now, behind);
    if (behind) soon(now);
    else try_send(added);
}

bool Node::State::try_send(OutEntry& e) {
    bool on_channel = false;
    if (auto it = users.find(e.rec.target); it != users.end()) {
        on_channel = true;
        for (auto& [sid, s] : it->second.sessions)
            if (s.online() && !presence.is_self(e.rec.target, sid)) on_channel = on_channel && channels.fresh(sid);
    }
    bool sent = outbox.try_send(e, now, on_channel, [&](const OutEntry& x) {
        auto it = users.find(x.rec.target);
        if (it == users.end()) return;
        std::uint64_t base = outbox.base_of(x);
        std::optional<Bytes> signed_plain;
        // A resend in a later input of the same turn rests on the entry's
        // store op as much as the first send: tagged, it is taken back with it.
        auto outer = std::exchange(depends_on, x.rec.id);
        for (auto& [sid, s] : it->second.sessions) {
            if (!s.online() || presence.is_self(x.rec.target, sid) || s.decl.kx == KxPublicKey{}) continue;
            want_channel(x.rec.target, s);
            wire::Chat c;
            c.base = base;
            if (channels.fresh(sid)) {
                // To the author's recipient on its channel: no box, no signature.
                c.sealed = wire::encode(x.rec.msg);
                if (send_on_channel(s.rec.addr, wire::MsgType::chat, wire::encode(c))) continue;
            }
            // Off a channel the message must prove its author on its own: signed
            // (once, kept in the entry) and sealed to the session's key.
            if (!signed_plain) {
                if (e.rec.msg.sig == Signature{}) e.rec.msg = env.sign(e.rec.msg.body);
                signed_plain = wire::encode(e.rec.msg);
            }
            c.kx = s.decl.kx;
            c.sealed = crypto.seal(*signed_plain, c.kx);
            send_signed(s.rec.addr, wire::MsgType::chat, wire::encode(c));
        }
        depends_on = outer;
    });
    soon(sent ? e.next_try : outbox.pace_ready());
    return sent;
}

void Node::State::send_chat(const std::string& to, const std::string& text, Bytes group) {
    if (!valid_user_name(to)) {
        event(ev::Problem{"not a user name: " + to});
        return;
    }
    // A user we know of, even one whose key we have not seen yet (just
    // added, still being looked for), gets the message in the outbox: it is
    // signed now and sealed to each session once that session is known.
    auto it = users.find(to);
    if (it == users.end() || (!it->second.key_known && !it->second.rec.contact)) {
        event(ev::Problem{"not sent: unknown user " + to + " (\\add " + to + " to look for it first)"});
        return;
    }
    std::size_t waiting = outbox.waiting_for(to);
    if (waiting >= cfg.max_outbox_per_peer) {
        event(ev::Problem{"outbox for " + to + " is full (" + std::to_string(waiting) +
                          " messages waiting); nothing was sent"});
        return;
    }
    if (text.size() > wire::kMaxText || group.size() > wire::kMaxGroupPayload) {
        event(ev::Problem{"message too long (" + std::to_string(std::max(text.size(), group.size())) +
                          " bytes, at most " + std::to_string(group.empty() ? wire::kMaxText : wire::kMaxGroupPayload) +
                          ")"});
        return;
    }
    const bool is_group = !group.empty();
    wire::ChatMessage m;
    m.id = message_id();
    m.from = id.user;
    m.to = to;
    m.sent = std::max(now, last_sent + 1);
    last_sent = m.sent;
    m.text = text;
    m.group = std::move(group);
    std::uint64_t& numbered = send_seq[to];
    Tentative t{m.id, m.from, m.sent, true, is_group, to, std::nullopt, numbered};
    m.session = id.session;
    m.seq = ++numbered;
    store(store_op::PutChatSeq{ChatSeqRecord{id.session, to, m.seq}});
    // Signed only where a copy must convince someone other than a channel's
    // other end (try_send, queue): most messages never are.
    wire::SignedBlob blob{wire::encode(m), {}};
    seen.insert(m.from, m.sent, m.id);
    depends_on = m.id;
    if (is_group) {
        queue(blob, m, to);  // not mirrored: each device runs its own group machine
    } else {
        store(store_op::PutHistory{HistoryRecord{m.id, m.from, m.to, m.sent, now, m.text}});
        bool recipient_online = !presence.online_sessions(to).empty();
        event(ev::Queued{m.id, to, recipient_online});
        queue(blob, m, to);
        queue(blob, m, id.user);
    }
    depends_on.reset();
    tentative.push_back(std::move(t));
}

void Node::State::tell_user_status(const User& u) {
    if (!u.key_known || u.rec.name == id.user) return;
    bool online = !presence.online_sessions(u.rec.name).empty();
    if (u.told_online == online) return;
    u.told_online = online;
    asides_out.push_back(aside::UserStatus{u.rec.name, u.rec.key, online});
    if (online && holding.holds_for(u.rec.name)) hand_over(u.rec.name);  // what we held for it
}

}  // namespace dc::core
