#include "core/presence.hpp"

namespace dc::core {

Presence::Presence(const Config& cfg, const Identity& self) : cfg_(cfg), self_(self) {
    me_ = &users_[self.user];
    me_->rec.name = self.user;
    me_->rec.key = self.pk;
    me_->key_known = true;
}

bool Presence::relevant(const std::string& name) const {
    if (cfg_.super_client || name == self_.user) return true;
    auto it = users_.find(name);
    if (it != users_.end() && watched(it->second)) return true;
    return listed_by_contact(name);
}

bool Presence::listed_by_contact(const std::string& name) const {
    if (two_hop_dirty_) {
        two_hop_names_.clear();
        for (auto& [n, u] : users_)
            if (is_contact(u))
                for (auto l : u.links) two_hop_names_.emplace_back(l);
        std::sort(two_hop_names_.begin(), two_hop_names_.end());
        two_hop_names_.erase(std::unique(two_hop_names_.begin(), two_hop_names_.end()), two_hop_names_.end());
        two_hop_names_.shrink_to_fit();
        two_hop_dirty_ = false;
    }
    return std::binary_search(two_hop_names_.begin(), two_hop_names_.end(), name);
}

void Presence::refresh_contacts() const {
    if (!contacts_dirty_) return;
    contacts_cache_.clear();
    watched_cache_.clear();
    for (auto& e : users_) {
        bool contact = is_contact(e.second);
        if (contact) contacts_cache_.push_back(e.first);
        // Ours to hand out: this is only a const walk to find them.
        if (contact || &e.second == me_) watched_cache_.push_back(const_cast<Entry*>(&e));
    }
    contacts_dirty_ = false;
}

const std::vector<std::string>& Presence::contacts() const {
    refresh_contacts();
    return contacts_cache_;
}

std::vector<std::string> Presence::my_links() const {
    auto& c = contacts();
    return {c.begin(), c.begin() + static_cast<std::ptrdiff_t>(std::min(c.size(), wire::kMaxLinks))};
}

std::vector<Addr> Presence::online_sessions(const std::string& user) const {
    std::vector<Addr> v;
    auto it = users_.find(user);
    if (it == users_.end()) return v;
    for (auto& [sid, s] : it->second.sessions)
        if (s.online() && !is_self(user, sid)) v.push_back(s.rec.addr);
    return v;
}

bool Presence::known_session(const std::string& user, const SessionId& session) const {
    auto it = users_.find(user);
    return it != users_.end() && it->second.sessions.count(session);
}

void Presence::links_moved() {
    two_hop_dirty_ = true;
    contacts_dirty_ = true;
    moved_ = true;
}

User& Presence::user_entry(const std::string& name, const PublicKey& key, TimeMs now, bool& pinned) {
    auto [it, inserted] = users_.try_emplace(name);
    User& u = it->second;
    if (inserted) {
        u.rec.name = name;
        u.rec.first_seen = now;
    }
    pinned = !u.key_known;
    if (pinned) {
        u.rec.key = key;
        u.key_known = true;
    }
    return u;
}

void Presence::set_links(User& u, NameList links) {
    if (!cfg_.super_client) {
        u.links = std::move(links);
        u.lists_us = u.links.contains(self_.user);
        return;
    }
    for (auto l : u.links) {
        auto it = listed_by_.find(l);
        if (it == listed_by_.end()) continue;
        it->second.erase(u.rec.name);
        if (it->second.empty()) listed_by_.erase(it);
    }
    u.links = std::move(links);
    u.lists_us = u.links.contains(self_.user);
    for (auto l : u.links) listed_by_[std::string(l)].insert(u.rec.name);
}

NameList Presence::links_of(const User& u, const Session& s, const Session* fresh,
                            const std::vector<std::string>* fresh_links) {
    if (&s == fresh && fresh_links) return NameList(*fresh_links);
    if (u.links_from == s.rec.session) return u.links;
    auto d = wire::decode_declaration(s.rec.decl.body);
    return d ? NameList(d->links) : NameList{};
}

bool Presence::recompute_links(User& u, const Session* fresh, const std::vector<std::string>* fresh_links) {
    const Session* newest = nullptr;
    for (auto& [sid, s] : u.sessions)
        if (!newest || s.decl.issued > newest->decl.issued) newest = &s;
    bool was_linked = u.links.contains(self_.user);
    auto links = newest ? links_of(u, *newest, fresh, fresh_links) : NameList{};
    u.links_from = newest ? std::optional<SessionId>(newest->rec.session) : std::nullopt;
    if (links != u.links) {
        bool contact_before = is_contact(u);
        set_links(u, std::move(links));
        // Only a contact's links make our two-hop set, and who we watch.
        if (contact_before || is_contact(u) || &u == me_) links_moved();
    }
    u.super_client = newest && newest->decl.super_client;
    // With symmetric declarations the user we linked lists us too: only a link
    // we did not make is news.
    return !was_linked && u.links.contains(self_.user) && u.rec.name != self_.user && !u.rec.contact;
}

std::vector<SessionId> Presence::prune(User& u) {
    std::vector<SessionId> drop;
    if (u.sessions.size() <= cfg_.max_sessions_per_user) return drop;
    std::vector<const Session*> order;
    for (auto& [sid, s] : u.sessions) order.push_back(&s);
    std::sort(order.begin(), order.end(), [&](const Session* a, const Session* b) {
        bool self_a = is_self(u.rec.name, a->rec.session), self_b = is_self(u.rec.name, b->rec.session);
        if (self_a != self_b) return self_a;
        if (a->online() != b->online()) return a->online();
        return a->rec.last_seen > b->rec.last_seen;
    });
    for (std::size_t i = cfg_.max_sessions_per_user; i < order.size(); ++i) drop.push_back(order[i]->rec.session);
    for (auto& sid : drop) {
        u.sessions.erase(sid);
        told_.erase(sid);
    }
    return drop;
}

void Presence::believe(User& u, Session& s, const std::string& contact, bool seen_online) const {
    if (watched(u) || is_self(u.rec.name, s.rec.session)) return;  // we look for ourselves
    if (seen_online) {
        std::erase(s.lost_by, contact);
        s.lost = false;
        return;
    }
    if (!s.lost_by_has(contact)) s.lost_by.push_back(contact);
    if (!still_seen(u, s)) s.lost = true;
}

void Presence::contact_lost(const std::string& contact) {
    for_each_listing(contact, [&](const std::string& name) {
        auto it = users_.find(name);
        if (it == users_.end() || watched(it->second)) return;
        for (auto& [sid, s] : it->second.sessions)
            if (!s.lost && !s.lost_by.empty() && !is_self(name, sid) && !still_seen(it->second, s)) s.lost = true;
    });
}

namespace {

// Of two words of one contact on one session, whether a is newer than b.
bool newer(const Presence::Told& a, const Presence::Told& b) {
    if (a.last_seen != b.last_seen) return a.last_seen > b.last_seen;
    return !a.online && b.online;
}

}  // namespace

void Presence::told_while_asked(const SessionId& contact, const Told& t) {
    auto& v = told_[contact];
    std::erase_if(v, [&](const Told& x) { return x.about == t.about; });
    if (v.size() >= kMaxTold) v.erase(v.begin());
    v.push_back(t);
}

bool Presence::answer_older(const SessionId& contact, const Told& answer) const {
    auto it = told_.find(contact);
    if (it == told_.end()) return false;
    for (auto& t : it->second)
        if (t.about == answer.about) return newer(t, answer);
    return false;
}

// Whether a contact of ours that is linked with u, online, and has not said it lost s
// may still see it.
bool Presence::still_seen(const User& u, const Session& s) const {
    for (auto l : u.links) {
        if (s.lost_by_has(l)) continue;
        auto c = users_.find(l);
        if (c == users_.end() || !is_contact(c->second)) continue;
        for (auto& [sid, cs] : c->second.sessions)
            if (cs.online() && !is_self(l, sid)) return true;
    }
    return false;
}

std::optional<UserView> Presence::view(const std::string& name) const {
    auto it = users_.find(name);
    if (it == users_.end()) return std::nullopt;
    const User& u = it->second;
    UserView v;
    v.name = name;
    v.contact = u.rec.contact;
    v.linked_us = u.links.contains(self_.user) && !u.rec.contact;  // they made a link we did not
    for (auto& n : contacts())
        if (auto o = users_.find(n); o != users_.end() && o->second.links.contains(name)) {
            v.two_hop = true;
            v.via.push_back(n);
        }
    for (auto& [sid, sess] : u.sessions) {
        if (is_self(name, sid)) continue;
        v.sessions.push_back(SessionView{sid, sess.rec.addr, sess.online(), sess.rec.last_seen, sess.decl.super_client});
    }
    return v;
}

}  // namespace dc::core
