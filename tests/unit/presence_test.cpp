// Presence alone: users, sessions, links, contacts, two hops and beliefs, time passed in.
#include "core/presence.hpp"

#include <doctest/doctest.h>

using namespace dc;
using core::Presence;
using core::Session;
using core::User;

namespace {

SessionId sid(std::uint8_t b) {
    SessionId s{};
    s[0] = b;
    return s;
}

PublicKey key(std::uint8_t b) {
    PublicKey k{};
    k.fill(b);
    return k;
}

Identity me() { return Identity{"me", key(1), {}, sid(1), std::nullopt}; }

// A user with one session whose newest declaration lists `links`.
User& declare(Presence& p, const std::string& name, std::uint8_t session, std::vector<std::string> links,
              bool online = true, TimeMs at = 100) {
    bool pinned = false;
    User& u = p.user_entry(name, key(static_cast<std::uint8_t>(name.size() + 10)), at, pinned);
    Session& s = u.sessions[sid(session)];
    s.rec.session = sid(session);
    s.rec.online = online;
    s.rec.last_seen = at;
    s.decl.online = online;
    s.decl.issued = at;
    p.recompute_links(u, &s, &links);
    return u;
}

}  // namespace

TEST_CASE("our own entry exists from the start, pinned to our key, watched but not a contact") {
    core::Config cfg;
    Identity id = me();
    Presence p(cfg, id);
    REQUIRE(p.users().count("me"));
    CHECK(p.me().key_known);
    CHECK(p.me().rec.key == key(1));
    CHECK(p.watched(p.me()));
    CHECK_FALSE(p.is_contact(p.me()));
    CHECK(p.is_self("me", sid(1)));
    CHECK_FALSE(p.is_self("me", sid(2)));
}

TEST_CASE("the first key seen for a name is pinned, once") {
    core::Config cfg;
    Identity id = me();
    Presence p(cfg, id);
    bool pinned = false;
    User& a = p.user_entry("alice", key(7), 5, pinned);
    CHECK(pinned);
    CHECK(a.rec.first_seen == 5);
    p.user_entry("alice", key(8), 9, pinned);
    CHECK_FALSE(pinned);
    CHECK(a.rec.key == key(7));
}

TEST_CASE("a declaration that lists us makes its author a contact; its links are our two hops") {
    core::Config cfg;
    Identity id = me();
    Presence p(cfg, id);
    CHECK(p.take_moved() == false);
    User& bob = declare(p, "bob", 2, {"me", "carol"});
    CHECK(p.is_contact(bob));
    CHECK(p.take_moved());
    CHECK_FALSE(p.take_moved());
    CHECK(p.contacts() == std::vector<std::string>{"bob"});
    CHECK(p.my_links() == std::vector<std::string>{"bob"});
    CHECK(p.listed_by_contact("carol"));
    CHECK(p.relevant("carol"));
    CHECK_FALSE(p.relevant("dave"));
    std::vector<std::string> listing;
    p.for_each_listing("carol", [&](const std::string& n) { listing.push_back(n); });
    CHECK(listing == std::vector<std::string>{"bob"});
    auto v = p.view("carol");
    CHECK_FALSE(v);  // known only by name, no entry
    auto b = p.view("bob");
    REQUIRE(b);
    CHECK(b->linked_us);
    CHECK(b->online());
    CHECK(p.online_sessions("bob").size() == 1);
    CHECK(p.known_session("bob", sid(2)));
}

TEST_CASE("a new edge made by them is news once; one we made is not") {
    core::Config cfg;
    Identity id = me();
    Presence p(cfg, id);
    bool pinned = false;
    User& bob = p.user_entry("bob", key(3), 0, pinned);
    Session& s = bob.sessions[sid(2)];
    s.decl.issued = 1;
    std::vector<std::string> links{"me"};
    CHECK(p.recompute_links(bob, &s, &links));
    CHECK_FALSE(p.recompute_links(bob, &s, &links));
    User& carol = p.user_entry("carol", key(4), 0, pinned);
    carol.rec.contact = true;  // we linked carol
    Session& c = carol.sessions[sid(3)];
    c.decl.issued = 1;
    CHECK_FALSE(p.recompute_links(carol, &c, &links));
}

TEST_CASE("pruning keeps online sessions first, then the most recently seen") {
    core::Config cfg;
    cfg.max_sessions_per_user = 2;
    Identity id = me();
    Presence p(cfg, id);
    bool pinned = false;
    User& u = p.user_entry("bob", key(3), 0, pinned);
    auto add = [&](std::uint8_t n, bool online, TimeMs seen) {
        Session& s = u.sessions[sid(n)];
        s.rec.session = sid(n);
        s.rec.online = online;
        s.rec.last_seen = seen;
    };
    add(2, false, 50);
    add(3, true, 10);
    add(4, false, 40);
    add(5, false, 90);
    auto dropped = p.prune(u);
    CHECK(dropped.size() == 2);
    CHECK(u.sessions.size() == 2);
    CHECK(u.sessions.count(sid(3)));
    CHECK(u.sessions.count(sid(5)));
}

TEST_CASE("a two-hop session is lost once every online contact linked with it has lost it") {
    core::Config cfg;
    Identity id = me();
    Presence p(cfg, id);
    declare(p, "bob", 2, {"me", "erin"});
    declare(p, "carol", 3, {"me", "erin"});
    User& erin = declare(p, "erin", 4, {"bob", "carol"});
    Session& s = erin.sessions.find(sid(4))->second;
    CHECK_FALSE(p.watched(erin));
    p.believe(erin, s, "bob", false);
    CHECK_FALSE(s.lost);  // carol may still see it
    p.believe(erin, s, "carol", false);
    CHECK(s.lost);
    p.believe(erin, s, "bob", true);
    CHECK_FALSE(s.lost);
    CHECK(s.lost_by == std::vector<std::string>{"carol"});
}

TEST_CASE("of a contact's two words on a session, the one with the later last seen is newer, and lost at the same") {
    core::Config cfg;
    Identity id = me();
    Presence p(cfg, id);
    const SessionId bob = sid(2), erin = sid(4), frank = sid(5);
    CHECK_FALSE(p.answer_older(bob, {erin, 10, false}));  // nothing told since we asked
    p.told_while_asked(bob, {erin, 50, true});           // bob found erin again at 50
    CHECK(p.answer_older(bob, {erin, 40, false}));         // lost before that
    CHECK_FALSE(p.answer_older(bob, {erin, 50, false}));   // lost after it was heard at 50
    CHECK_FALSE(p.answer_older(bob, {erin, 60, true}));
    CHECK_FALSE(p.answer_older(bob, {frank, 10, false}));  // told nothing of frank
    CHECK_FALSE(p.answer_older(sid(3), {erin, 40, false}));  // another contact's answer
    p.told_while_asked(bob, {erin, 50, false});            // then lost it again
    CHECK(p.answer_older(bob, {erin, 50, true}));
    p.answered(bob);
    CHECK_FALSE(p.answer_older(bob, {erin, 40, false}));
}

TEST_CASE("what a contact session told us is forgotten when that session is pruned") {
    core::Config cfg;
    cfg.max_sessions_per_user = 1;
    Identity id = me();
    Presence p(cfg, id);
    User& bob = declare(p, "bob", 2, {"me", "erin"}, false, 10);  // an old device, gone
    p.told_while_asked(sid(2), {sid(4), 50, true});
    REQUIRE(p.answer_older(sid(2), {sid(4), 40, false}));
    Session& now_on = bob.sessions[sid(3)];
    now_on.rec.session = sid(3);
    now_on.rec.online = true;
    now_on.rec.last_seen = 100;
    REQUIRE(p.prune(bob) == std::vector<SessionId>{sid(2)});
    CHECK_FALSE(p.answer_older(sid(2), {sid(4), 40, false}));
}
