// The node: users, their sessions and links, two hops, and what contacts believe.
#include "core/node_state.hpp"

namespace dc::core {

bool Node::State::relevant(const std::string& name) const {
    if (cfg.super_client || name == id.user) return true;
    auto it = users.find(name);
    if (it != users.end() && watched(it->second)) return true;
    return listed_by_contact(name);
}

bool Node::State::listed_by_contact(const std::string& name) const {
    if (two_hop_dirty) {
        two_hop_names.clear();
        for (auto& [n, u] : users)
            if (is_contact(u))
                for (auto l : u.links) two_hop_names.emplace_back(l);
        std::sort(two_hop_names.begin(), two_hop_names.end());
        two_hop_names.erase(std::unique(two_hop_names.begin(), two_hop_names.end()), two_hop_names.end());
        two_hop_names.shrink_to_fit();
        two_hop_dirty = false;
    }
    return std::binary_search(two_hop_names.begin(), two_hop_names.end(), name);
}

void Node::State::set_links(User& u, NameList links) {
    if (!cfg.super_client) {
        u.links = std::move(links);
        u.lists_us = u.links.contains(id.user);
        return;
    }
    for (auto l : u.links) {
        auto it = listed_by.find(l);
        if (it == listed_by.end()) continue;
        it->second.erase(u.rec.name);
        if (it->second.empty()) listed_by.erase(it);
    }
    u.links = std::move(links);
    u.lists_us = u.links.contains(id.user);
    for (auto l : u.links) listed_by[std::string(l)].insert(u.rec.name);
}

void Node::State::links_moved() {
    two_hop_dirty = true;
    wake_dirty = true;
    contacts_dirty = true;
}

const std::vector<std::string>& Node::State::contacts() const {
    if (contacts_dirty) {
        contacts_cache.clear();
        for (auto& [n, u] : users)
            if (is_contact(u)) contacts_cache.push_back(n);
        contacts_dirty = false;
    }
    return contacts_cache;
}

User& Node::State::user_entry(const std::string& name, const PublicKey& key) {
    auto [it, inserted] = users.try_emplace(name);
    User& u = it->second;
    if (inserted) {
        u.rec.name = name;
        u.rec.first_seen = now;
    }
    if (!u.key_known) {
        u.rec.key = key;
        u.key_known = true;
        store(store_op::PutUser{u.rec});
    }
    return u;
}

void Node::State::prune(User& u) {
    if (u.sessions.size() <= cfg.max_sessions_per_user) return;
    std::vector<const Session*> order;
    for (auto& [sid, s] : u.sessions) order.push_back(&s);
    std::sort(order.begin(), order.end(), [&](const Session* a, const Session* b) {
        bool self_a = is_self(u.rec.name, a->rec.session), self_b = is_self(u.rec.name, b->rec.session);
        if (self_a != self_b) return self_a;
        if (a->online() != b->online()) return a->online();
        return a->rec.last_seen > b->rec.last_seen;
    });
    std::vector<SessionId> drop;
    for (std::size_t i = cfg.max_sessions_per_user; i < order.size(); ++i) drop.push_back(order[i]->rec.session);
    for (auto& sid : drop) {
        u.sessions.erase(sid);
        store(store_op::DeleteSession{u.rec.name, sid});
    }
}

NameList Node::State::links_of(const User& u, const Session& s, const Session* fresh,
                         const std::vector<std::string>* fresh_links) {
    if (&s == fresh && fresh_links) return NameList(*fresh_links);
    if (u.links_from == s.rec.session) return u.links;
    auto d = wire::decode_declaration(s.rec.decl.body);
    return d ? NameList(d->links) : NameList{};
}

void Node::State::recompute_links(User& u, const Session* fresh, const std::vector<std::string>* fresh_links) {
    const Session* newest = nullptr;
    for (auto& [sid, s] : u.sessions)
        if (!newest || s.decl.issued > newest->decl.issued) newest = &s;
    bool was_linked = u.links.contains(id.user);
    auto links = newest ? links_of(u, *newest, fresh, fresh_links) : NameList{};
    u.links_from = newest ? std::optional<SessionId>(newest->rec.session) : std::nullopt;
    if (links != u.links) {
        bool contact_before = is_contact(u);
        set_links(u, std::move(links));
        // Only a contact's links make our two-hop set, and who we watch.
        if (contact_before || is_contact(u) || &u == me) links_moved();
    }
    u.super_client = newest && newest->decl.super_client;
    // With symmetric declarations the user we linked lists us too: only a link
    // we did not make is news.
    if (!was_linked && u.links.contains(id.user) && u.rec.name != id.user && !u.rec.contact) {
        event(ev::Linked{u.rec.name, true});
        links_changed = !u.rec.contact;  // a new edge we did not make: declare it too
    }
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
    if (watched(it->second)) wake_dirty = true;
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
        presence(it->second, s, "answered");
        // Back after a restart or a partition: what changed around it meanwhile?
        if (is_contact(it->second)) {
            ask_list_of(s);
            tell_contacts(it->second, s);
        }
        flush_outbox(user);
    }
}

void Node::State::tell_contacts(const User& x, const Session& s) {
    if (!online) return;
    wire::DeliverKnownList list;
    list.sessions.push_back(known(s));
    auto payload = wire::encode(list);
    std::set<Addr> done;
    for (auto& [n, u] : users) {
        if (n == x.rec.name || !watched(u)) continue;
        // Lost ones too: we may be the side that has not heard from them yet.
        for (auto& [sid, o] : u.sessions)
            if ((o.online() || o.lost) && !is_self(n, sid) && done.insert(o.rec.addr).second)
                send(o.rec.addr, wire::MsgType::deliver_known_list, payload);
    }
}

void Node::State::believe(User& u, Session& s, const std::string& contact, bool seen_online) {
    if (watched(u) || is_self(u.rec.name, s.rec.session)) return;  // we look for ourselves
    if (seen_online) {
        std::erase(s.lost_by, contact);
        s.lost = false;
        return;
    }
    if (!s.lost_by_has(contact)) s.lost_by.push_back(contact);
    for (auto l : u.links) {
        if (s.lost_by_has(l)) continue;
        auto c = users.find(l);
        if (c == users.end() || !is_contact(c->second)) continue;
        for (auto& [sid, cs] : c->second.sessions)
            if (cs.online() && !is_self(l, sid)) return;  // another contact may still see it
    }
    s.lost = true;
}

bool Node::State::accept_declaration(const wire::Declaration& d, const wire::SignedBlob& blob, Addr addr) {
    if (is_self(d.user, d.session)) return false;
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
    bool links_before = is_contact(u);
    auto old_links = u.links;
    recompute_links(u, &ns, &d.links);
    if (watched(u)) wake_dirty = true;
    persist(d.user, ns);
    prune(u);
    // Pruning moves the sessions it keeps: find this one again.
    auto kept = u.sessions.find(d.session);
    if (kept == u.sessions.end()) return true;  // pruned at once (offline, old)
    Session& s = kept->second;
    if (fresh || was_online != s.online()) presence(u, s, d.online ? "declared online" : "declared offline");
    if (u.rec.name == id.user) adopt_links(d.links);
    if (is_contact(u) && s.online()) {
        // A new contact, a contact with new links, or one back online (it
        // restarted, we did, or a partition healed): learn its neighbourhood.
        std::vector<std::string> added;
        for (auto l : u.links)
            if (!old_links.contains(l) && l != id.user) added.emplace_back(l);
        if (!links_before || !added.empty() || !was_online) ask_list_of(s, added);
    }
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
            links_moved();
            store(store_op::PutUser{u.rec});
        }
    }
    if (changed && online) {
        redeclare(true);
        declare_to_all(false, false);
    }
}

std::vector<Addr> Node::State::online_sessions(const std::string& user) const {
    std::vector<Addr> v;
    auto it = users.find(user);
    if (it == users.end()) return v;
    for (auto& [sid, s] : it->second.sessions)
        if (s.online() && !is_self(user, sid)) v.push_back(s.rec.addr);
    return v;
}

void Node::State::age_sessions() {
    for (auto& [n, u] : users) {
        if (watched(u)) continue;
        for (auto& [sid, s] : u.sessions) {
            if (!s.rec.online || now - s.rec.last_seen <= 3 * cfg.refresh_interval) continue;
            s.rec.online = false;
            persist(n, s);
        }
    }
}

}  // namespace dc::core
