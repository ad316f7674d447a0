// Internal to the core: what the node knows of users and their sessions.
//
// Vocabulary used in the node's files:
//   contact   a user we linked with \add, or a user whose declaration lists us
//             (links are edges of an undirected graph: either end makes one)
//   watched   a session we keep track of actively: every session of a contact
//             and of our own user (other devices); we probe these
//   two-hop   a user listed in a contact's declaration; we remember their
//             sessions but do not probe them
//   lost      a watched session that stopped answering; shown offline and
//             re-probed with exponential backoff until it answers again.
//             A two-hop session is lost when the contacts through whom we
//             know it told us they lost it (their belief, see tell_contacts)
//   prober    of two sessions watching each other, the one with the smaller
//             session id: it pings, the other answers and takes the fresh
//             pings as proof of life (probing itself only when they stop)
#pragma once

#include "darkchat/core.hpp"
#include "core/flat_map.hpp"
#include "core/liveness.hpp"
#include "core/names.hpp"
#include "core/session_order.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <utility>
#include <optional>
#include <string>
#include <vector>

namespace dc::core {

// What a session's newest declaration says that we act on. The declaration
// itself is rec.decl; its links are kept once per user (User::links), not
// again per session: a decoded copy with its links would cost more than the
// rest of the session, and a node remembers many sessions.
struct Declared {
    TimeMs issued = 0;
    KxPublicKey kx{};
    bool online = false;
    bool super_client = false;
};

inline Declared declared(const wire::Declaration& d) { return Declared{d.issued, d.kx, d.online, d.super_client}; }

// A session lives in its user's entry, under that name: it keeps the rest of
// what the store keeps of it (persist() adds the name back).
using SessionRec = SessionState;

// A node keeps one for every session of every user it knows, so it keeps
// nothing twice.
struct Session {
    SessionRec rec;
    Declared decl;
    // Probing it (liveness.hpp). The flags below fit in its tail padding.
    [[no_unique_address]] Probe live;
    bool lost = false;         // watched, stopped answering: shown offline, re-probed with backoff
    // Online when we stopped, not heard from since we started: shown offline,
    // but told to others as online (what we last knew) until the first
    // reconnection attempts have failed (see reconnect()).
    bool unconfirmed = false;
    // Two-hop: contacts that told us they lost this session (each once; a
    // handful at most, so a vector rather than a tree).
    std::vector<std::string> lost_by;
    TimeMs list_asked = 0;  // a requestUserList to it not answered yet (asked again on its next sign of life)

    bool online() const { return rec.online && !lost; }
    bool lost_by_has(std::string_view contact) const {
        return std::find(lost_by.begin(), lost_by.end(), contact) != lost_by.end();
    }
};

struct User {
    UserRecord rec;
    // Nearly always one. A sorted vector: a reference to a session does not
    // survive adding or pruning one of the same user (accept_declaration).
    FlatMap<SessionId, Session, SessionIdLess> sessions;
    // Newest declaration's links (from the session with the highest seq).
    NameList links;
    std::optional<SessionId> links_from;  // the session whose declaration they are
    bool key_known = false;
    bool lists_us = false;  // links has our own name (kept with links: is_contact() is asked often)
    bool super_client = false;
    // Online as last told to the parts riding on the node (Node::poll_aside);
    // none: not told. Kept here, in the entry's padding, rather than in a map
    // of names beside the users (a tree node per user known). Mutable: telling
    // is not a change of what we know of the user.
    mutable std::optional<bool> told_online;
    // The user's holding key, from its newest declaration that said one: what
    // we leave with holders for it is sealed to this key (darkchat-protocol(7), HOLDING).
    KxPublicKey hold_kx{};
};

// What the node knows of users and their sessions, and how they relate to us:
// contacts, watched users, two hops, and who lists whom. It owns the users'
// entries; the node's handlers change sessions in them, and tell this part
// when links or contact flags moved (links_moved()). It emits nothing: what
// it changes that the store or the user must know, it returns.
class Presence {
public:
    using Users = std::map<std::string, User, std::less<>>;

    // Creates our own entry (our name is pinned to our own key).
    Presence(const Config& cfg, const Identity& self);

    Users& users() { return users_; }
    const Users& users() const { return users_; }
    User& me() { return *me_; }

    bool is_self(std::string_view user, const SessionId& s) const { return user == self_.user && s == self_.session; }
    bool is_contact(const User& u) const {
        if (&u == me_) return false;
        return u.rec.contact || u.lists_us;
    }
    // Users whose sessions we watch: contacts and our own user.
    bool watched(const User& u) const { return &u == me_ || is_contact(u); }
    // Users we remember at all.
    bool relevant(const std::string& name) const;
    bool listed_by_contact(const std::string& name) const;
    // Our edges: users we linked, and users that linked us (links are symmetric,
    // so both ends declare them and two-hop views agree). Kept until links move.
    const std::vector<std::string>& contacts() const;
    // The users we watch (contacts and our own user), in name order, kept with
    // contacts(): the node's per-tick walks go through these few, not through
    // every user it knows. Entries of users() are never erased, so they stay valid.
    using Entry = Users::value_type;
    const std::vector<Entry*>& watched_users() const {
        refresh_contacts();
        return watched_cache_;
    }
    std::size_t contact_count() const { return contacts().size(); }
    // The links we declare.
    std::vector<std::string> my_links() const;
    std::vector<Addr> online_sessions(const std::string& user) const;
    bool known_session(const std::string& user, const SessionId& session) const;

    // Calls f with the name of every user whose declaration lists `name`, in name order.
    template <typename F>
    void for_each_listing(const std::string& name, F f) const {
        if (!cfg_.super_client) {
            for (auto& [n, u] : users_)
                if (u.links.contains(name)) f(n);
            return;
        }
        if (auto it = listed_by_.find(name); it != listed_by_.end())
            for (auto& n : it->second) f(n);
    }

    // Links or contact flags changed: who is watched and who is two hops away may have too.
    void links_moved();
    // Whether links moved since the last call (the node's timers may have too).
    bool take_moved() const { return std::exchange(moved_, false); }

    // The entry for name, made if new; its key pinned if none was. pinned: it was now.
    User& user_entry(const std::string& name, const PublicKey& key, TimeMs now, bool& pinned);
    void set_links(User& u, NameList links);
    // The links of u's newest declaration (fresh: the session whose
    // declaration was just accepted, with its links). True when they now list
    // us and did not, and we did not link them: a new edge made by them.
    bool recompute_links(User& u, const Session* fresh = nullptr,
                         const std::vector<std::string>* fresh_links = nullptr);
    // Keeps at most max_sessions_per_user: online sessions first, then the most
    // recently seen. Returns the sessions dropped.
    std::vector<SessionId> prune(User& u);
    // A contact's belief about a two-hop session of the same declaration: shown
    // offline once every contact of ours that is linked with it and online
    // has said it lost it; online as soon as one says it sees it.
    void believe(User& u, Session& s, const std::string& contact, bool seen_online) const;
    // What a contact says of a two-hop session when it tells us unasked (its belief)
    // while our requestUserList to it is unanswered. Its answer may have been made
    // before, and come after (a long answer goes over TCP, a belief over UDP): of
    // the contact's two words on a session, the one with the later last_seen (its
    // own clock) is newer, and at the same last_seen "lost" is (a session is lost
    // after it was last heard from).
    struct Told {
        SessionId about{};
        TimeMs last_seen = 0;
        bool online = false;
    };
    void told_while_asked(const SessionId& contact, const Told& t);
    // Whether what the contact's answer says of a session is older than what it told
    // us since we asked.
    bool answer_older(const SessionId& contact, const Told& answer) const;
    // The contact answered: what it told us meanwhile is no longer needed.
    void answered(const SessionId& contact) { told_.erase(contact); }

    // A contact of ours went lost: the two-hop sessions that some contact already said
    // it lost, and that only this one might still have seen, are offline now (without
    // this they waited for the next refresh when their last seers crashed together).
    void contact_lost(const std::string& contact);

    // \users and tests: what we know of name.
    std::optional<UserView> view(const std::string& name) const;

private:
    static NameList links_of(const User& u, const Session& s, const Session* fresh,
                             const std::vector<std::string>* fresh_links);

    bool still_seen(const User& u, const Session& s) const;

    const Config& cfg_;
    const Identity& self_;

    Users users_;
    User* me_ = nullptr;  // our own entry in users_ (map nodes stay put)
    // Who lists whom: name -> users whose newest declaration lists it. Kept by
    // super-clients only, who know whole networks; an ordinary node knows a
    // few hundred users and looks through them instead (the index would cost
    // it about as much memory again as everything else it keeps).
    std::map<std::string, std::set<std::string>, std::less<>> listed_by_;
    // Per contact session with a question of ours unanswered: what it told us
    // meanwhile, newest per session, at most kMaxTold (the oldest go first);
    // forgotten with the session when it is pruned.
    static constexpr std::size_t kMaxTold = 1024;
    std::map<SessionId, std::vector<Told>, SessionIdLess> told_;
    // Names listed by our contacts (two-hop users), sorted, without repeats;
    // rebuilt when links change. A flat vector: a tree node per name would cost
    // more than the name.
    mutable std::vector<std::string> two_hop_names_;
    mutable bool two_hop_dirty_ = true;
    void refresh_contacts() const;
    mutable std::vector<std::string> contacts_cache_;
    mutable std::vector<Entry*> watched_cache_;
    mutable bool contacts_dirty_ = true;
    mutable bool moved_ = false;
};

}  // namespace dc::core
