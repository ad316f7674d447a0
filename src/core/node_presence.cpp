// The node: users, their sessions and links, two hops, and what contacts believe.
#include "core/node_state.hpp"

namespace dc::core {

User& Node::State::user_entry(const std::string& name, const PublicKey& key) {
    bool pinned = false;
    User& u = presence.user_entry(name, key, now, pinned);
    if (pinned) store(store_op::PutUser{u.rec});
    return u;
}

void Node::State::heard_from(const std::string& user, const SessionId& sid) {
    auto it = users.find(user);
    if (it == users.end()) return;
    auto st = it->second.sessions.find(sid);
    if (st == it->second.sessions.end()) return;
    Session& s = st->second;
    liveness.heard(s.live, now);
    s.unconfirmed = false;
    s.rec.last_seen = now;
    if (presence.watched(it->second)) wake_dirty = true;
    // Our question (after its return or ours) or its answer was lost: ask again.
    if (s.list_asked && now - s.list_asked >= cfg.probe_interval_max && s.decl.online && !s.lost && s.rec.online)
        ask_list_of(s);
    // Alive, and its newest declaration says online: online again (after a
    // lost probe, a restart of ours, or a super-client's ageing).
    if (s.decl.online && (s.lost || !s.rec.online)) {
        s.lost = false;
        s.rec.online = true;
        liveness.back(s.live);
        persist(user, s);
        show_presence(it->second, s, "answered");
        // Back after a restart or a partition: what changed around it meanwhile?
        if (presence.is_contact(it->second)) {
            ask_list_of(s);
            tell_contacts(it->second, s);
        }
        flush_outbox(user);
    }
}

void Node::State::tell_contacts(const User& x, const Session& s) {
    if (!own.online()) return;
    wire::DeliverKnownList list;
    list.sessions.push_back(known(s));
    auto payload = wire::encode(list);
    std::set<Addr> done;
    for (auto* e : presence.watched_users()) {
        auto& [n, u] = *e;
        if (n == x.rec.name) continue;
        // Lost ones too: we may be the side that has not heard from them yet.
        for (auto& [sid, o] : u.sessions)
            if ((o.online() || o.lost) && !presence.is_self(n, sid) && done.insert(o.rec.addr).second)
                send(o.rec.addr, wire::MsgType::deliver_known_list, payload);
    }
}

bool Node::State::accept_declaration(const wire::Declaration& d, const wire::SignedBlob& blob, Addr addr) {
    if (presence.is_self(d.user, d.session)) return false;
    if (addr.unspecified_ip()) return false;  // nowhere to reach it
    User& u = user_entry(d.user, d.key);
    auto it = u.sessions.find(d.session);
    if (it != u.sessions.end() && it->second.rec.seq >= d.seq) {
        ++stats.stale;
        return false;
    }
    bool fresh = it == u.sessions.end();
    bool was_online = !fresh && it->second.online();
    Session& ns = u.sessions[d.session];
    ns.decl = declared(d);
    if (d.hold_kx != KxPublicKey{}) u.hold_kx = d.hold_kx;
    ns.rec.session = d.session;
    ns.rec.decl = blob;
    ns.rec.seq = d.seq;
    ns.rec.addr = addr;
    ns.rec.online = d.online;
    ns.rec.last_seen = now;
    ns.lost = false;
    ns.unconfirmed = false;
    ns.lost_by.clear();
    liveness.declared(ns.live, now, fresh);
    if (!d.online) forget_channel(d.session);  // it is leaving: its keys go with it
    else if (channel_users.count(d.session)) channels.peer_kx(now, d.session, d.kx);
    channel_address(d.session, addr);
    bool links_before = presence.is_contact(u);
    auto old_links = u.links;
    recompute_links(u, &ns, &d.links);
    if (presence.watched(u)) wake_dirty = true;
    persist(d.user, ns);
    prune(u);
    // Pruning moves the sessions it keeps: find this one again.
    auto kept = u.sessions.find(d.session);
    if (kept == u.sessions.end()) return true;  // pruned at once (offline, old)
    Session& s = kept->second;
    if (fresh || was_online != s.online()) show_presence(u, s, d.online ? "declared online" : "declared offline");
    if (u.rec.name == id.user) adopt_links(d.links);
    if (presence.is_contact(u) && s.online()) {
        // A new contact, a contact with new links, or one back online (it
        // restarted, we did, or a partition healed): learn its neighbourhood.
        std::vector<std::string> added;
        for (auto l : u.links)
            if (!old_links.contains(l) && l != id.user) added.emplace_back(l);
        if (!links_before || !added.empty() || !was_online) ask_list_of(s, added);
    }
    if (s.online() && presence.watched(u)) want_channel(d.user, s);
    if (s.online()) flush_outbox(d.user);
    return true;
}

void Node::State::adopt_links(const std::vector<std::string>& links) {
    bool changed = false;
    for (auto& name : links) {
        if (name == id.user || !valid_user_name(name)) continue;
        auto& u = users[name];
        if (u.rec.name.empty()) {
            u.rec.name = name;
            u.rec.first_seen = now;
        }
        if (!u.rec.contact) {
            u.rec.contact = true;
            changed = true;  // silently: the link was made on another device
            presence.links_moved();
            store(store_op::PutUser{u.rec});
        }
    }
    if (changed && own.online()) {
        redeclare(true);
        declare_to_all(false, false);
    }
}

void Node::State::age_sessions() {
    for (auto& [n, u] : users) {
        if (presence.watched(u)) continue;
        for (auto& [sid, s] : u.sessions) {
            if (!s.rec.online || now - s.rec.last_seen <= 3 * cfg.refresh_interval) continue;
            s.rec.online = false;
            persist(n, s);
        }
    }
}

}  // namespace dc::core
