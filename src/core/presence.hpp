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

#include <algorithm>
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
    FlatMap<SessionId, Session> sessions;
    // Newest declaration's links (from the session with the highest seq).
    NameList links;
    std::optional<SessionId> links_from;  // the session whose declaration they are
    bool key_known = false;
    bool lists_us = false;  // links has our own name (kept with links: is_contact() is asked often)
    bool super_client = false;
};

}  // namespace dc::core
