// The node: holding for users who are offline (darkchat-protocol(7), HOLDING).
// What waits in our outbox for a user none of whose sessions is online is left,
// sealed to that user's holding key, with holders: online contacts linked with
// it, and super-clients. A holder keeps it (holding.hpp) and hands it over when
// the user is back; the user acknowledges it to the holder as it would to us.
// We keep our copy until the user acknowledges it to us too, so a holder that
// never hands it over loses nothing.
#include "core/node_state.hpp"

namespace dc::core {

namespace {
constexpr std::size_t kHoldBatch = 64;           // messages per target (and per recipient) in one round
constexpr TimeMs kRefusedFor = 60000;            // a holder that refused is not asked again before this
constexpr std::string_view kHoldKxContext = "darkchat hold kx";
}  // namespace

void Node::State::make_hold_key() {
    crypto.hash(hold_sk, ByteView(id.sk),
                ByteView(reinterpret_cast<const std::uint8_t*>(kHoldKxContext.data()), kHoldKxContext.size()));
    hold_pk = crypto.kx_public(hold_sk);
}

void Node::State::hold_round() {
    for (auto& r : holding.expire(now)) store(store_op::DeleteHeld{r.to, r.id});
    for (auto& to : holding.recipients()) hand_over(to);
    leave_with_holders();
}

void Node::State::hand_over(const std::string& to) {
    auto addrs = presence.online_sessions(to);
    if (addrs.empty()) return;
    for (const HeldRecord* r : holding.due(to, now, cfg.hold_interval, kHoldBatch)) {
        auto payload = wire::encode(wire::HandOver{r->sealed, r->base});
        for (auto& a : addrs) send(a, wire::MsgType::hand_over, payload);
    }
}

std::vector<std::pair<std::string, Addr>> Node::State::holders_for(const User& target) const {
    std::vector<std::pair<std::string, Addr>> v;
    const std::string& t = target.rec.name;
    for (auto& [n, u] : users) {
        if (n == t || n == id.user || !u.key_known) continue;
        bool linked = presence.is_contact(u) && (u.links.contains(t) || target.links.contains(n));
        if (!linked && !u.super_client) continue;
        if (auto r = hold_refused.find({n, t}); r != hold_refused.end() && now < r->second) continue;
        for (auto& [sid, s] : u.sessions)
            if (s.online() && !presence.is_self(n, sid)) {
                v.emplace_back(n, s.rec.addr);
                break;
            }
    }
    return v;
}

void Node::State::leave_with_holders() {
    std::map<std::string, std::vector<OutEntry*>, std::less<>> waiting;
    for (OutEntry* e : outbox.in_order([&](auto&, const OutEntry& x) {
             return x.rec.target != id.user && x.held_by.size() < cfg.max_holders;
         }))
        waiting[e->rec.target].push_back(e);
    for (auto& [to, entries] : waiting) {
        auto it = users.find(to);
        if (it == users.end() || !it->second.key_known || it->second.hold_kx == KxPublicKey{}) continue;
        if (!presence.online_sessions(to).empty()) continue;  // it is there: the outbox delivers
        auto holders = holders_for(it->second);
        if (holders.empty()) continue;
        const KxPublicKey& key = it->second.hold_kx;
        std::size_t n = 0;
        for (OutEntry* e : entries) {
            if (n++ == kHoldBatch) break;
            Bytes sealed;
            std::size_t want = cfg.max_holders - e->held_by.size();
            for (auto& [name, addr] : holders) {
                if (want == 0) break;
                if (has(e->held_by, name)) continue;
                if (sealed.empty()) {
                    // A holder hands it to the recipient: it must prove its author on its own.
                    if (e->rec.msg.sig == Signature{}) e->rec.msg = env.sign(e->rec.msg.body);
                    sealed = crypto.seal(wire::encode(e->rec.msg), key);
                }
                send(addr, wire::MsgType::hold, wire::encode(wire::Hold{to, e->rec.id, sealed, outbox.base_of(*e)}));
                --want;
            }
        }
    }
}

void Node::State::on_hold(const wire::Header& h, const Addr& back, const wire::Hold& p) {
    auto su = users.find(h.from_user);
    if (su == users.end() || !su->second.key_known || su->second.rec.key != h.from_key) {
        ++stats.unsolicited;
        return;
    }
    auto refuse = [&](std::string why) {
        send(back, wire::MsgType::hold_ack, wire::encode(wire::HoldAck{p.to, p.id, false, std::move(why)}));
    };
    if (!cfg.hold_for_others) return refuse("it holds nothing for others");
    if (!cfg.super_client && !presence.is_contact(su->second)) return refuse("not a contact");
    if (p.to == id.user || p.to == h.from_user) return refuse("not for another user");
    auto tu = users.find(p.to);
    if (tu == users.end() || !tu->second.key_known || (!cfg.super_client && !presence.is_contact(tu->second)))
        return refuse("it does not know " + p.to);
    HeldRecord rec{p.to, p.id, h.from_user, now, p.base, p.sealed};
    bool fresh = false;
    if (auto why = holding.keep(rec, fresh); !why.empty()) return refuse(std::move(why));
    // Said only once it is stored: the ack rests on the op like a chat's.
    auto outer = depends_on;
    if (fresh) {
        store(store_op::PutHeld{std::move(rec)});
        held_new.emplace_back(p.to, p.id);
        depends_on = p.id;
        wake_dirty = true;  // a holding round has work now
    }
    send(back, wire::MsgType::hold_ack, wire::encode(wire::HoldAck{p.to, p.id, true, {}}));
    depends_on = outer;
    if (fresh) hand_over(p.to);  // it may be back already
}

void Node::State::on_hold_ack(const wire::Header& h, const wire::HoldAck& p) {
    auto hu = users.find(h.from_user);
    OutEntry* e = outbox.find(p.id, p.to);
    if (!e || hu == users.end() || !hu->second.key_known || h.from_user == p.to) {
        ++stats.unsolicited;
        return;
    }
    if (p.kept) {
        hold_refused.erase({h.from_user, p.to});
        if (has(e->held_by, h.from_user)) return;
        e->held_by.push_back(h.from_user);
        if (e->held_by.size() == 1 && e->msg.group.empty()) event(ev::Held{p.id, p.to, h.from_user});
        return;
    }
    auto [it, fresh] = hold_refused.try_emplace({h.from_user, p.to}, 0);
    it->second = now + kRefusedFor;
    if (fresh) event(ev::Problem{h.from_user + " does not hold messages for " + p.to + ": " + p.reason});
}

void Node::State::on_hand_over(const wire::Header& h, const Addr& back, const wire::HandOver& p) {
    auto hu = users.find(h.from_user);
    if (hu == users.end() || !hu->second.key_known || hu->second.rec.key != h.from_key) {
        ++stats.unsolicited;
        return;
    }
    auto plain = crypto.open(p.sealed, hold_pk, hold_sk);
    if (!plain) {
        ++stats.undecryptable;
        return;
    }
    auto blob = wire::decode_signed_blob(*plain);
    auto m = blob ? wire::decode_chat_message(blob->body) : Result<wire::ChatMessage>(err("no blob"));
    if (!m) {
        ++stats.malformed;
        return;
    }
    // Its author must be someone whose key we pinned, and must have signed it:
    // the holder only carried it. Until we know the author, it stays with the holder.
    auto a = users.find(m->from);
    if (m->to != id.user || a == users.end() || !a->second.key_known || m->from == id.user) {
        ++stats.unsolicited;
        return;
    }
    if (!env.verify(*blob, a->second.rec.key)) {
        ++stats.bad_signature;
        return;
    }
    take_chat(h, back, *m, *blob, p.base);
}

}  // namespace dc::core
