// The node: acting on what liveness decides (pings, common neighbours, knocking on lost sessions).
#include "core/node_state.hpp"

namespace dc::core {

void Node::State::on_pong(const wire::Header& h, std::uint64_t n) {
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

std::vector<Addr> Node::State::common_neighbours(const User& target) {
    std::vector<Addr> v;
    for (auto* e : presence.watched_users()) {
        auto& [n, u] = *e;
        if (n == target.rec.name) continue;
        if (!u.links.contains(target.rec.name) && !target.links.contains(n) && !u.super_client) continue;
        for (auto& [sid, s] : u.sessions)
            if (s.online() && !presence.is_self(n, sid)) v.push_back(s.rec.addr);
    }
    for (auto& a : cfg.servers) v.push_back(a);
    return liveness.pick_neighbours(std::move(v));
}

void Node::State::ask_neighbours_to_reach(const User& u, const Session& s) {
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

void Node::State::probe(User& u, Session& s) {
    if (!s.online()) return;
    unsigned step = liveness.step(s.live, s.rec.session, now, [&] { return nonce(); });
    if (step & Liveness::lost) {
        s.lost = true;
        show_presence(u, s, "no answer");
        if (presence.is_contact(u)) {
            tell_contacts(u, s);
            presence.contact_lost(u.rec.name);
        }
        return;
    }
    // A ping went unanswered: perhaps the session holds no keys of our channel
    // any more. Until it is heard on it, the rest of the round goes signed.
    if (step & Liveness::ask_neighbours) channels.suspect(now, s.rec.session);
    if (step & Liveness::ping) send(s.rec.addr, wire::MsgType::ping, wire::encode(wire::Ping{s.live.nonce}));
    if (step & Liveness::ask_neighbours) ask_neighbours_to_reach(u, s);
}

void Node::State::reconnect(User& u, Session& s) {
    if (!s.lost || !liveness.retry_due(s.live, now)) return;
    send(s.rec.addr, declare_type(), declare_payload(0, true, false, add_pending(PendingKind::probe)));
    ask_neighbours_to_reach(u, s);
    liveness.back_off(s.live, now);
    // Not back since our start, after as long as a probe round: lost for good.
    if (s.unconfirmed && now - started_at >= cfg.indirect_timeout) {
        s.unconfirmed = false;
        if (presence.is_contact(u)) tell_contacts(u, s);
    }
}

}  // namespace dc::core
