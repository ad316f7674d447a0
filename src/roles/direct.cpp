// The room client's delivery (delivery.hpp): rooms whose tickets a member signs.
// Without a directory, the issuer moves its rooms when their relay dies and the
// members follow its invite; a conversation group's room (darkchat-groups(7),
// RELAYS) follows the ticket each of the group's records carries.

#include "delivery.hpp"

namespace dc::roles::detail {

// ---- without a directory -------------------------------------------------------------

bool Delivery::on_move_invite(TimeMs now, const Incoming& in, const wire::Invite& iv, const wire::Ticket& t) {
    auto it = rooms_.find(t.room);
    if (it == rooms_.end()) return false;
    Room& r = it->second;
    if (!r.direct || r.ticket.issuer != in.pkt.header.from_user) return true;
    if (t.epoch > r.ticket.epoch) {
        if (t.members != r.ticket.members) return true;
        move(now, r, iv.ticket, t, MoveReason::relay_died, 0, 0);
    }
    ctx_.answer_invite(in.reply, iv.id, t.room, r.ticket.epoch, kInviteAccepted);
    return true;
}

void Delivery::on_move_answer(const Incoming& in, const wire::InviteAnswer& a) {
    auto rit = rooms_.find(a.room);
    if (rit == rooms_.end() || !rit->second.mine) return;
    Room& r = rit->second;
    const std::string& from = in.pkt.header.from_user;
    const auto* m = ticket_member(r.ticket, from);
    if (m && m->key == in.pkt.header.from_key && a.answer == kInviteAccepted && a.epoch >= r.ticket.epoch)
        r.move_acked.insert(from);
}

// Without a directory, the issuer of a room moves it when its relay stops answering
// probes (probe_misses in a row): the next relay of the list that answers, a new
// ticket (epoch + 1) sent to the other members until they confirm.
void Delivery::relocate(TimeMs now, Room& r, Selector& sel) {
    if (!r.mine) return;
    if (measuring_.dead(r.ticket.relay)) {
        auto cands = measuring_.alive_relays(r.ticket.relay);
        if (cands.empty()) return;
        const auto& to = cands[*select_relay(Strategy::client_round_robin, cands, {}, sel)];
        auto blob = ctx_.issue(now, r.id, to, r.ticket.epoch + 1, r.ticket.members);
        auto t = wire::decode_ticket(blob.body);
        move(now, r, blob, *t, MoveReason::relay_died, 0, 0);
        r.move_id = ctx_.env.nonce();
        r.move_acked.clear();
        r.next_move_invite = now;
    }
    if (r.move_id && now >= r.next_move_invite) {
        // The members who accepted (stored with the room), at the address each last
        // answered from and wherever our node knows its sessions now.
        bool all = true;
        for (auto& u : r.required) {
            if (r.move_acked.count(u)) continue;
            all = false;
            std::vector<Addr> to = ctx_.cfg.addresses ? ctx_.cfg.addresses(u) : std::vector<Addr>{};
            if (auto it = r.peer_addrs.find(u); it != r.peer_addrs.end() && !contains_addr(to, it->second))
                to.insert(to.begin(), it->second);
            for (auto& a : to) ctx_.env.send(a, wire::MsgType::invite, wire::encode(wire::Invite{r.move_id, r.ticket_blob}));
        }
        if (all) r.move_id = 0;
        r.next_move_invite = now + ctx_.cfg.invite_interval;
    }
}

// ---- groups' rooms ----------------------------------------------------------------------

void Delivery::carry(TimeMs now, const wire::SignedBlob& blob) {
    auto t = wire::decode_ticket(blob.body);
    if (!t || !t->group) {
        ++ctx_.env.stats().malformed;
        return;
    }
    const auto* issuer = ticket_member(*t, t->issuer);
    const auto* me = ticket_member(*t, ctx_.me());
    if (!issuer || !ctx_.env.verify(blob, issuer->key) || !me || me->key != ctx_.env.id().pk) {
        ++ctx_.env.stats().bad_signature;
        return;
    }
    Room* r = find(t->room);
    if (!r) {
        r = open(now, blob, *t, true);
        if (!r) return;
    } else if (!r->ticket.group || t->epoch <= r->ticket.epoch) {
        return;
    } else {
        move(now, *r, blob, *t, MoveReason::relay_died, 0, 0);
    }
    // Every member of the list, and nobody else: our lines wait for their acks.
    r->members = member_names(*t);
    std::set<std::string> required;
    for (auto& m : t->members)
        if (m.user != ctx_.me() && !r->distrusted.count(m.user)) required.insert(m.user);
    auto gone = [&](const std::string& user) { return !ticket_member(*t, user); };
    std::erase_if(r->acked, [&](auto& e) { return gone(e.first); });
    std::erase_if(r->in, [&](auto& e) { return gone(e.first); });
    std::erase_if(r->kx, [&](auto& e) { return gone(e.first); });
    std::erase_if(r->pairs, [&](auto& e) { return gone(e.first); });
    std::erase_if(r->key_copies, [&](auto& e) { return gone(e.first); });
    r->required = std::move(required);
    touch(*r);
    trim(*r);
}

}  // namespace dc::roles::detail
