// The terminal session: every macro and every output form of darkchat(1), with
// real hosts on a network in virtual time and stores in memory (no process, no
// socket). Lines are compared whole: scripts and tests parse them.
#include "../support/host_net.hpp"

#include <doctest/doctest.h>

#include <regex>

using namespace dc;
using namespace dc::test;

namespace {


}  // namespace

TEST_CASE("\\help lists every macro, one line each") {
    HostNet net;
    auto& alice = net.add("alice");
    net.start(alice);
    CHECK(count_matching(alice.lines, R"(\* ready: alice at 127\.0\.0\.1:7300 \(session [0-9a-f]{8}\))") == 1);
    std::size_t m = alice.mark();
    net.type(alice, "\\help");
    std::string expect = cli::help_text();
    CHECK(joined(alice.since(m)) == expect);
    for (auto macro : {"\\help", "\\chat", "\\users", "\\online", "\\offline", "\\add", "\\ping", "\\explode", "\\keys",
                       "\\trust", "\\request", "\\accept", "\\decline", "\\rooms", "\\room ", "\\leave", "\\relays",
                       "\\quit"})
        CHECK(expect.find(macro) != std::string::npos);
}

TEST_CASE("wrong lines are refused with one line that says why") {
    HostNet net;
    auto& alice = net.add("alice");
    net.start(alice);
    std::size_t m = alice.mark();
    net.type(alice, "\\frobnicate");
    net.type(alice, "\\chat b@d");
    net.type(alice, "\\ping 127.0.0.1 port");
    net.type(alice, "\\users now");
    net.type(alice, "hello?");
    net.type(alice, "   ");
    alice.session->handle_overlong(70000);
    while (auto l = alice.session->poll_line()) alice.lines.push_back(*l);
    CHECK(alice.since(m) == std::vector<std::string>{
                                "! unknown macro \\frobnicate (\\help lists them)",
                                "! not a user name: b@d",
                                "! not a port number: port",
                                "! usage: \\users",
                                "! no chat partner: \\chat <username> first",
                                "! line too long (70000 bytes, at most 65536): nothing of it was sent",
                            });
}

TEST_CASE("\\chat picks the partner; plain lines go to it; queued, delivered and received lines") {
    HostNet net;
    auto& alice = net.add("alice");
    auto& bob = net.add("bob");
    net.start(alice);
    net.start(bob);
    std::size_t m = alice.mark();
    net.type(alice, "\\chat");
    net.type(alice, "\\chat bob");
    net.type(alice, "\\chat");
    net.type(alice, "too early");
    {
        LINES(alice, m);
        CHECK(alice.since(m) == std::vector<std::string>{
                                    "* no chat partner yet: \\chat <username>",
                                    "* chatting with bob (not known yet: \\add bob to find it)",
                                    "* chatting with bob",
                                    "! not sent: unknown user bob (\\add bob to look for it first)",
                                });
    }
    CHECK(alice.session->partner() == "bob");

    m = alice.mark();
    std::size_t mb = bob.mark();
    net.link(alice, bob);
    {
        LINES(alice, m);
        CHECK(alice.shown("* ping sent to " + bob.addr.to_string(), m));
        CHECK(count_matching(alice.since(m), R"(\* online bob 127\.0\.0\.2:7300 session [0-9a-f]{8} \(.*\))") >= 1);
        CHECK(alice.shown("* linked bob", m));
    }
    {
        LINES(bob, mb);
        CHECK(bob.shown("* linked alice", mb));
    }

    m = alice.mark();
    mb = bob.mark();
    net.type(alice, "\\chat bob");
    net.type(alice, "hello bob");
    net.run_for(300);
    {
        LINES(alice, m);
        CHECK(alice.since(m).at(0) == "* chatting with bob (online)");
        CHECK(count_matching(alice.since(m), R"(\* queued [0-9a-f]{8} to bob)") == 1);
        CHECK(count_matching(alice.since(m), R"(\* delivered [0-9a-f]{8} to bob)") == 1);
    }
    {
        LINES(bob, mb);
        CHECK(bob.since(mb) == std::vector<std::string>{"<alice> hello bob"});
    }

    // What a peer sends never acts on the terminal.
    net.type(bob, "\\chat alice");
    mb = bob.mark();
    m = alice.mark();
    net.type(bob, "\x1b[2J bell\x07 C:\\Users");
    net.run_for(300);
    CHECK(alice.since(m) == std::vector<std::string>{"<bob> \\x1b[2J bell\\x07 C:\\\\Users"});

    // bob leaves: alice sees it go, and what she writes waits.
    m = alice.mark();
    net.type(bob, "\\quit");
    net.run_for(300);
    {
        LINES(alice, m);
        CHECK(count_matching(alice.since(m), R"(\* offline bob 127\.0\.0\.2:7300 session [0-9a-f]{8} \(.*\))") == 1);
    }
    CHECK(bob.host->quitting());
    m = alice.mark();
    net.type(alice, "\\chat bob");
    net.type(alice, "later then");
    {
        LINES(alice, m);
        CHECK(alice.since(m).at(0) == "* chatting with bob (offline: messages wait in the outbox)");
        CHECK(count_matching(alice.since(m), R"(\* queued [0-9a-f]{8} to bob \(offline: sent when bob is back\))") == 1);
    }
}

TEST_CASE("\\history shows the stored messages with a user, as they were shown, with their time, across a restart") {
    HostNet net;
    auto [alice, bob] = net.chatting_pair();
    net.type(bob, "\\chat alice");
    net.type(alice, "hello bob");
    net.run_for(300);
    net.type(bob, "hi \x1b[2J alice");
    net.run_for(300);
    net.type(alice, "bye");
    net.run_for(300);

    std::size_t m = alice.mark();
    net.type(alice, "\\history");
    std::vector<std::string> all = alice.since(m);
    REQUIRE(all.size() == 4);
    std::regex when(R"(\d{4}-\d\d-\d\d \d\d:\d\d .*)");
    for (std::size_t i = 0; i < 3; ++i) CHECK(std::regex_match(all[i], when));
    CHECK(all[0].substr(17) == "<alice -> bob> hello bob");
    CHECK(all[1].substr(17) == "<bob> hi \\x1b[2J alice");  // escaped as when it arrived
    CHECK(all[2].substr(17) == "<alice -> bob> bye");
    CHECK(all[3] == "* 3 messages with bob");

    // The newest n, oldest first; any user by name; the time is UTC.
    m = alice.mark();
    net.type(alice, "\\history bob 2");
    net.type(alice, "\\history 1");
    net.type(alice, "\\history carol");
    CHECK(alice.since(m) == std::vector<std::string>{all[1], all[2], "* 2 messages with bob (\\history bob N shows more)",
                                                     all[2], "* 1 message with bob (\\history bob N shows more)",
                                                     "* 0 messages with carol"});
    CHECK(cli::render_history(HistoryRecord{{}, "bob", "alice", 0, 1733540100000, "x"}, "alice") ==
          "2024-12-07 02:55 <bob> x");

    // Wrong words, no partner, a group or a room: one line each.
    m = alice.mark();
    net.type(alice, "\\history 0");
    net.type(alice, "\\history bob 2 3");
    net.type(alice, "\\history b@d");
    net.type(alice, "\\history bob 1001");
    CHECK(alice.since(m) == std::vector<std::string>{
                                "! usage: \\history [user|group|room] [n] (n from 1 to 1000, default 20)",
                                "! no user, group or room bob 2 (\\users, \\groups and \\rooms list them)",
                                "! no user, group or room b@d (\\users, \\groups and \\rooms list them)",
                                "! usage: \\history [user|group|room] [n] (n from 1 to 1000, default 20)",
                            });
    auto& carol = net.started("carol");
    m = carol.mark();
    net.type(carol, "\\history");
    CHECK(carol.since(m) == std::vector<std::string>{"! no conversation: \\history <user, group or room> [n]"});

    // What was stored is there after a restart.
    net.kill(bob);
    net.start(bob);
    std::size_t mb = bob.mark();
    net.type(bob, "\\history alice");
    auto after = bob.since(mb);
    REQUIRE(after.size() == 4);
    CHECK(after[0].substr(17) == "<alice> hello bob");
    CHECK(after[1].substr(17) == "<bob -> alice> hi \\x1b[2J alice");
    CHECK(after[3] == "* 3 messages with alice");
}

TEST_CASE("Tab completes macro names from the parser's table, and after a macro the users we know") {
    HostNet net;
    auto [alice, bob] = net.chatting_pair();
    auto& s = *alice.session;
    CHECK(s.complete("\\hi") == std::vector<std::string>{"\\history"});
    CHECK(s.complete("\\gr") == std::vector<std::string>{"\\group", "\\groups"});
    CHECK(s.complete("  \\ex") == std::vector<std::string>{"\\exit", "\\explode"});
    CHECK(s.complete("\\").size() == cli::macro_names().size());
    CHECK(s.complete("\\nope").empty());
    CHECK(s.complete("\\chat b") == std::vector<std::string>{"bob"});
    CHECK(s.complete("\\history bo") == std::vector<std::string>{"bob"});
    CHECK(s.complete("\\chat ") == std::vector<std::string>{"alice", "bob"});
    CHECK(s.complete("\\chat z").empty());
    CHECK(s.complete("hello b").empty());  // a message: nothing to complete
    CHECK(s.complete("").empty());
}

TEST_CASE("\\users, \\online, \\offline, \\keys, \\trust, \\add and \\explode") {
    HostNet net;
    auto& alice = net.add("alice");
    auto& bob = net.add("bob");
    auto& carol = net.add("carol");
    net.start(alice);
    net.start(bob);
    net.start(carol);
    net.link(alice, bob);
    net.link(bob, carol);

    std::size_t m = alice.mark();
    net.type(alice, "\\users");
    {
        LINES(alice, m);
        auto l = alice.since(m);
        REQUIRE(l.size() == 3);
        CHECK(count_matching({l[0]}, R"(  bob online contact \| 127\.0\.0\.2:7300 online seen \d+s ago)") == 1);
        CHECK(count_matching({l[1]}, R"(  carol online via bob \| 127\.0\.0\.3:7300 online seen \d+s ago)") == 1);
        CHECK(l[2] == "* 2 users");
    }
    m = alice.mark();
    net.type(alice, "\\offline");
    CHECK(alice.since(m) == std::vector<std::string>{"* 0 users"});
    m = alice.mark();
    net.type(alice, "\\online");
    CHECK(alice.since(m).size() == 3);
    CHECK(alice.since(m).back() == "* 2 users");

    m = alice.mark();
    net.type(alice, "\\keys");
    net.type(alice, "\\keys bob");
    net.type(alice, "\\keys nobody");
    {
        LINES(alice, m);
        auto l = alice.since(m);
        CHECK(l.at(0) == "  alice " + crypto::fingerprint(alice.id.pk) + " (you)");
        CHECK(std::count(l.begin(), l.end(), "  bob " + crypto::fingerprint(bob.id.pk)) == 2);
        CHECK(l.back() == "! unknown user nobody");
    }

    m = alice.mark();
    net.type(alice, "\\trust bob " + crypto::fingerprint(bob.id.pk));
    net.type(alice, "\\trust bob");
    net.type(alice, "\\add alice");
    net.type(alice, "\\add bob");
    {
        LINES(alice, m);
        CHECK(alice.since(m) == std::vector<std::string>{
                                    "! no new key seen for bob (\\keys bob shows its keys)",
                                    "! usage: \\trust <username> <fingerprint>",
                                    "! you cannot add yourself",
                                    "* bob is already a contact",
                                });
    }

    m = alice.mark();
    net.type(alice, "\\explode");
    net.run_for(500);
    {
        LINES(alice, m);
        CHECK(alice.shown_prefix("* explode: declaration pushed to ", m));
        CHECK(count_matching(alice.since(m), R"(\* explode: \d+ answers?)") >= 1);
    }

    // \add links a user two hops away; one nobody knows is looked for.
    m = alice.mark();
    net.type(alice, "\\add carol");
    net.type(alice, "\\add dave");
    net.run_for(1000);
    {
        LINES(alice, m);
        CHECK(alice.shown("* linked carol", m));
        CHECK(alice.shown_prefix("* looking for dave (asked ", m));
    }
    m = alice.mark();
    net.type(alice, "\\users");
    CHECK(count_matching(alice.since(m), R"(  carol online contact via bob \| .*)") == 1);
}

TEST_CASE("another device of ours: listed as (you), and what it sends is mirrored") {
    HostNet net;
    auto& alice = net.add("alice");
    auto& phone = net.add("phone");
    auto& bob = net.add("bob");
    phone.id = alice.id;
    crypto::random_bytes(phone.id.session);
    net.start(alice);
    net.start(phone);
    net.start(bob);
    net.link(alice, bob);
    net.type(phone, "\\ping " + alice.addr.to_string());
    net.run_for(1000);
    std::size_t m = alice.mark();
    net.type(alice, "\\users");
    {
        LINES(alice, m);
        CHECK(count_matching(alice.since(m), R"(  alice online .*\| .*127\.0\.0\.2:7300 online seen \d+s ago.* \(you\))") == 1);
    }
    m = alice.mark();
    net.type(phone, "\\chat bob");
    net.type(phone, "sent from my other device");
    net.run_for(1000);
    LINES(alice, m);
    CHECK(alice.shown("<alice -> bob> sent from my other device", m));
}

TEST_CASE("\\ping takes an address or a host name, which the driver resolves") {
    HostNet net;
    auto& alice = net.add("alice");
    auto& bob = net.add("bob");
    net.start(alice);
    net.start(bob);
    net.names["bob.example"] = Addr::v4(127, 0, 0, 2, 1);
    std::size_t m = alice.mark();
    net.type(alice, "\\ping nowhere.example");
    net.type(alice, "\\ping bob.example 7300");
    net.run_for(300);
    LINES(alice, m);
    auto l = alice.since(m);
    CHECK(l.at(0) == "! cannot resolve nowhere.example: unknown host");
    CHECK(l.at(1) == "* ping sent to 127.0.0.2:7300");  // the port given, not the resolver's
    CHECK(alice.shown("* ping: bob answered from 127.0.0.2:7300", m));

    // A lookup that could not even start says so without a reason.
    m = alice.mark();
    alice.session->handle_resolved(net.now(), {"x.example", 7300}, err(""));
    CHECK(alice.session->poll_line() == "! cannot resolve x.example");
}

TEST_CASE("events hard to cause on a quiet network show as darkchat(1) lists them") {
    HostNet net;
    auto& alice = net.add("alice");
    net.start(alice);
    PublicKey pinned{}, seen{};
    pinned[0] = 1;
    seen[0] = 2;
    HistoryRecord mine;
    mine.from = "alice";
    mine.to = "bob";
    mine.text = "sent from my other device";
    HistoryRecord forged;
    forged.from = "bob";
    forged.to = "alice";
    forged.text = "hi, new phone";
    roles::RoomId room{};
    room[0] = 0x3f, room[1] = 0xa2, room[2] = 0xc1, room[3] = 0xd0;
    auto relay = Addr::v4(127, 0, 0, 1, 7402);
    std::size_t m = alice.mark();
    for (host::Event e : std::vector<host::Event>{
             core::Event{core::ev::Message{mine, true, false}},
             core::Event{core::ev::Message{forged, false, true}},
             core::Event{core::ev::KeyWarning{"bob", pinned, seen}},
             roles::RoomEvent{roles::room_ev::RoomMoved{room, relay, relay, roles::MoveReason::relay_died, 0, 0}},
             roles::RoomEvent{roles::room_ev::InviteGone{"carol"}},
             roles::RoomEvent{roles::room_ev::Invited{"carol", {"dave"}}},
             host::Line{"! cannot save state (disk full); retrying; messages wait with their senders meanwhile"},
         })
        alice.session->handle_event(e);
    while (auto l = alice.session->poll_line()) alice.lines.push_back(*l);
    CHECK(alice.since(m) == std::vector<std::string>{
                                "<alice -> bob> sent from my other device",
                                "<bob?> hi, new phone   [not bob's pinned key]",
                                "! WARNING: a message signed by another key for bob (" + crypto::fingerprint(seen) +
                                    "; pinned " + crypto::fingerprint(pinned) +
                                    "). Its messages are marked bob?. Check the fingerprint with bob in person, then "
                                    "\\trust bob <fingerprint>",
                                "* room 3fa2c1d0 moved to relay 127.0.0.1:7402 (relay died)",
                                "* the chat request of carol is gone (withdrawn or timed out)",
                                "* carol asks for a chat (with dave): \\accept carol or \\decline carol",
                                "! cannot save state (disk full); retrying; messages wait with their senders meanwhile",
                            });
    // A room joined while a chat partner is chosen does not take the lines.
    net.type(alice, "\\chat bob");
    alice.session->handle_event(roles::RoomEvent{roles::room_ev::RoomJoined{room, relay, {"bob"}}});
    CHECK(alice.session->poll_line() == "* room 3fa2c1d0 on relay 127.0.0.1:7402 with bob");
    CHECK(alice.session->poll_line() == std::nullopt);
    CHECK(!alice.session->room());
}

TEST_CASE("room macros without --dir or --relays answer with one line") {
    HostNet net;
    auto& alice = net.add("alice");
    net.start(alice);
    std::size_t m = alice.mark();
    for (auto line : {"\\request bob", "\\rooms", "\\room ab", "\\leave", "\\relays"})
        net.type(alice, line);
    auto l = alice.since(m);
    CHECK(l.size() == 5);
    for (auto& x : l)
        CHECK(x == "! rooms need a directory or relays: start darkchat with --dir HOST[:PORT] or --relays H:P,...");
    // \accept and \decline can only mean a file offer then: they say none matches.
    m = alice.mark();
    net.type(alice, "\\accept");
    net.type(alice, "\\decline bob");
    net.type(alice, "\\accept 1a2b");
    CHECK(alice.since(m) == std::vector<std::string>{"! no file offer waiting (\\files lists transfers and offers)",
                                                     "! no file offer starts with bob (\\files lists the offers waiting)",
                                                     "! no file offer starts with 1a2b (\\files lists the offers waiting)"});
}

TEST_CASE("rooms on a relay without a directory: request, accept, lines, \\rooms, \\room, \\chat, \\leave") {
    HostNet net;
    auto [relay, alice, bob] = net.pair_on_relay();

    std::size_t m = alice.mark();
    net.type(alice, "\\rooms");
    net.type(alice, "\\room");
    net.type(alice, "\\leave");
    net.type(alice, "\\room ab");
    net.type(alice, "\\request alice");
    net.type(alice, "\\relays");
    {
        LINES(alice, m);
        auto l = alice.since(m);
        REQUIRE(l.size() == 7);
        CHECK(l[0] == "* 0 rooms");
        CHECK(l[1] == "* no current room: \\room <id-prefix>");
        CHECK(l[2] == "! no rooms yet: \\request <user> asks for one");
        CHECK(l[3] == "! no room ab (\\rooms lists them)");
        CHECK(l[4] == "! you cannot ask yourself for a chat");
        CHECK(count_matching({l[5]}, R"(  127\.0\.0\.1:7300 rtt \d+ ms key .+)") == 1);
        CHECK(l[6] == "* 1 relay, no directory");
    }

    m = alice.mark();
    std::size_t mb = bob.mark();
    net.type(alice, "\\request bob");
    net.run_for(500);
    {
        LINES(bob, mb);
        CHECK(bob.shown("* alice asks for a chat: \\accept alice or \\decline alice", mb));
    }
    net.type(bob, "\\accept alice");
    net.run_for(1000);
    REQUIRE(alice.host->room_client()->rooms().size() == 1);
    auto room = alice.host->room_client()->rooms().front().room;
    std::string id = roles::short_id(room);
    {
        LINES(alice, m);
        CHECK(alice.shown("* request bob: REQ_SENT", m));
        CHECK(alice.shown("* request bob: REQ_ACCEPTED", m));
        // alice chose no partner: the first room becomes the current one.
        CHECK(alice.shown("* room " + id + " on relay 127.0.0.1:7300 with bob", m));
        CHECK(alice.shown("* lines now go to room " + id + " (\\chat <user> for a direct chat)", m));
        CHECK(alice.session->room() == room);
    }
    {
        LINES(bob, mb);
        CHECK(bob.shown("* accepted alice's request: joining the room", mb));
        CHECK(bob.shown("* room " + id + " on relay 127.0.0.1:7300 with alice", mb));
    }

    m = alice.mark();
    mb = bob.mark();
    net.type(alice, "hello room");
    net.run_for(500);
    CHECK(bob.shown("[" + id + "] <alice> hello room", mb));
    CHECK(alice.shown("* delivered to room " + id + ": hello room", m));

    m = alice.mark();
    net.type(alice, "\\rooms");
    net.type(alice, "\\room");
    net.type(alice, "\\chat");
    {
        LINES(alice, m);
        auto l = alice.since(m);
        REQUIRE(l.size() == 4);
        CHECK(count_matching({l[0]}, "  " + id + R"( on relay 127\.0\.0\.1:7300 epoch \d+ with bob \(joined\) \(current\))") == 1);
        CHECK(l[1] == "* 1 room");
        CHECK(l[2] == "* lines go to room " + id);
        CHECK(l[3] == "* lines go to room " + id + " (\\chat <user> for a direct chat)");
    }

    // \chat switches back to a direct chat; \room to the room again.
    m = alice.mark();
    mb = bob.mark();
    net.type(alice, "\\chat bob");
    net.type(alice, "just to you");
    net.type(alice, "\\room " + id.substr(0, 4));
    net.type(alice, "\\room");
    net.run_for(300);
    {
        LINES(alice, m);
        auto l = alice.since(m);
        CHECK(l.at(0) == "* chatting with bob (online)");
        CHECK(count_matching(l, R"(\* lines now go to room )" + id + R"( on relay 127\.0\.0\.1:7300 epoch \d+ with bob \(joined\))") == 1);
        CHECK(alice.shown("* lines go to room " + id, m));
        CHECK(bob.shown("<alice> just to you", mb));
    }

    m = alice.mark();
    mb = bob.mark();
    net.type(alice, "\\leave");
    net.run_for(1000);
    CHECK(alice.shown("* left room " + id, m));
    CHECK(!alice.session->room());
    // Lines go to the direct partner again.
    m = alice.mark();
    net.type(alice, "and now?");
    CHECK(count_matching(alice.since(m), R"(\* queued [0-9a-f]{8} to bob)") == 1);
}

TEST_CASE("the driver's two questions in a room: a plain line only sends, and the room is full at its limit") {
    HostNet net;
    auto [relay, alice, bob] = net.pair_on_relay();
    std::string id = net.open_room(alice, bob);
    REQUIRE(!id.empty());
    auto& s = *alice.session;
    CHECK(s.only_sends("hello room"));
    CHECK(!s.only_sends("\\rooms"));
    CHECK(!s.outbox_full());

    // bob gone: alice's lines wait for his acks; at the limit the room is full.
    net.kill(bob);
    const std::size_t limit = alice.host->room_client()->config().max_outbox_per_room;
    for (std::size_t i = 1; i < limit; ++i) net.type(alice, "line " + std::to_string(i));
    CHECK(!s.outbox_full());
    net.type(alice, "the last that fits");
    CHECK(s.outbox_full());
    std::size_t m = alice.mark();
    net.type(alice, "one too many");
    CHECK(alice.shown("! room " + id + ": too many lines waiting for acks, not sent", m));
    // A direct chat is not held back by the room.
    net.type(alice, "\\chat bob");
    CHECK(!s.outbox_full());
    net.type(alice, "\\room " + id);
    CHECK(s.outbox_full());

    // bob back: his acks make room again (the resends go 64 a second).
    net.start(bob);
    net.run_for(30000);
    CHECK(alice.host->room_client()->unacked(alice.host->room_client()->rooms().front().room) == 0u);
    CHECK(!s.outbox_full());
}

TEST_CASE("lines not yet acked keep their room over \\quit and go out after the restart") {
    HostNet net;
    auto [relay, alice, bob] = net.pair_on_relay();
    std::string id = net.open_room(alice, bob);
    REQUIRE(!id.empty());
    net.kill(bob);
    std::size_t m = alice.mark();
    net.type(alice, "are you there?");
    net.type(alice, "\\quit");
    {
        LINES(alice, m);
        CHECK(alice.shown("* room " + id +
                              ": 1 line(s) not yet acked by everyone: room kept, they go when darkchat starts again "
                              "(\\leave drops them)",
                          m));
    }
    net.kill(alice);
    net.start(bob);
    m = alice.mark();
    std::size_t mb = bob.mark();
    net.start(alice);
    net.run_for(3000);
    LINES(alice, m);
    CHECK(alice.shown("* room " + id + ": 1 line(s) from before not yet acked by everyone, sending again", m));
    CHECK(bob.shown("[" + id + "] <alice> are you there?", mb));
}

TEST_CASE("a request nobody answers waits, is repeated, and times out") {
    HostNet net;
    auto [relay, alice, bob] = net.pair_on_relay();
    std::size_t m = alice.mark(), mb = bob.mark();
    net.type(alice, "\\request bob");
    net.run_for(61000);
    LINES(alice, m);
    CHECK(alice.shown("* request bob: AWAITING_REQ", m));
    CHECK(alice.shown("* request bob: TIMED_OUT", m));
    CHECK(bob.shown("* alice asks for a chat: \\accept alice or \\decline alice", mb));
    CHECK(bob.shown("* the chat request of alice is gone (withdrawn or timed out)", mb));
}

TEST_CASE("\\decline, and a request through a directory") {
    HostNet net;
    auto& dir = net.add("directory", directory_role());
    host::RoleOptions rr = relay_role();
    rr.directory = dir.addr;
    auto& relay = net.add("relay", rr);
    auto& alice = net.add("alice", using_directory(dir.addr));
    auto& bob = net.add("bob", using_directory(dir.addr));
    auto& carol = net.add("carol", using_directory(dir.addr));
    net.start(dir);
    net.start(relay);
    net.start(alice);
    net.start(bob);
    net.start(carol);
    net.run_for(3000);
    CHECK(dir.lines.at(0) == "* ready: directory at " + dir.addr.to_string());
    CHECK(alice.shown("* directory " + dir.addr.to_string() + " answers"));

    std::size_t m = alice.mark(), mb = bob.mark();
    net.type(alice, "\\relays");
    net.type(alice, "\\request nobody");
    net.type(alice, "\\request bob");
    net.run_for(1000);
    {
        LINES(alice, m);
        CHECK(alice.shown("* 1 relay, directory answers", m));
        CHECK(alice.shown("* request nobody: USER_NOT_FOUND", m));
        CHECK(alice.shown("* request bob: ACK_CONN", m));
    }
    net.type(bob, "\\decline");
    net.run_for(1000);
    {
        LINES(bob, mb);
        CHECK(bob.shown("* alice asks for a chat: \\accept alice or \\decline alice", mb));
        CHECK(bob.shown("* declined alice's request", mb));
    }
    {
        LINES(alice, m);
        CHECK(alice.shown("* request bob: REQ_SENT", m));
        CHECK(alice.shown("* request bob: DECLINED", m));
    }

    // Asked again with carol, bob accepts, then carol; alice leaves and bob sees it.
    m = alice.mark();
    mb = bob.mark();
    std::size_t mc = carol.mark();
    net.type(alice, "\\request bob carol");
    net.run_for(1000);
    net.type(bob, "\\accept");
    net.run_for(2000);
    net.type(carol, "\\accept alice");
    net.run_for(2000);
    {
        LINES(carol, mc);
        CHECK(carol.shown("* alice asks for a chat (with bob): \\accept alice or \\decline alice", mc));
    }
    REQUIRE(alice.host->room_client()->rooms().size() == 1);
    std::string id = roles::short_id(alice.host->room_client()->rooms().front().room);
    {
        LINES(alice, m);
        CHECK(alice.shown("* request bob: REQ_ACCEPTED", m));
        CHECK(alice.shown("* lines now go to room " + id + " (\\chat <user> for a direct chat)", m));
    }
    {
        LINES(bob, mb);
        CHECK(bob.shown("* room " + id + ": carol joined", mb));
    }
    net.type(alice, "\\leave " + id);
    net.run_for(2000);
    {
        LINES(bob, mb);
        CHECK(bob.shown("* room " + id + ": alice left", mb));
    }

    // The directory goes away: rooms go on, and the user is told.
    m = alice.mark();
    net.kill(dir);
    net.run_for(5000);
    LINES(alice, m);
    CHECK(alice.shown("* directory " + dir.addr.to_string() + " lost (rooms go on on their relays)", m));
}

TEST_CASE("\\quit leaves: the host quits, and no further line is taken") {
    HostNet net;
    auto& alice = net.add("alice");
    net.start(alice);
    CHECK(!alice.host->quitting());
    net.type(alice, "\\exit");
    CHECK(alice.host->quitting());
}

TEST_CASE("the driver's two questions: does a line only send, and is the partner's outbox full") {
    HostNet net;
    core::Config small;
    small.max_outbox_per_peer = 3;
    auto& alice = net.add("alice", {}, small);
    auto& bob = net.add("bob");
    net.start(alice);
    net.start(bob);
    net.link(alice, bob);
    auto& s = *alice.session;
    // No partner yet: a plain line is refused by the session itself.
    CHECK(!s.only_sends("hello"));
    CHECK(!s.outbox_full());
    net.type(alice, "\\chat bob");
    CHECK(s.only_sends("hello"));
    CHECK(!s.only_sends("\\users"));
    CHECK(!s.only_sends("\\chat carol"));

    // bob gone: messages wait; at the limit the outbox is full, and a further line is refused.
    net.kill(bob);
    net.run_for(5000);
    for (auto* text : {"one", "two"}) net.type(alice, text);
    CHECK(!s.outbox_full());
    net.type(alice, "three");
    CHECK(s.outbox_full());
    std::size_t m = alice.mark();
    net.type(alice, "four");
    CHECK(alice.shown("! outbox for bob is full (3 messages waiting); nothing was sent", m));
    // Another partner's outbox is not full.
    net.type(alice, "\\chat carol");
    CHECK(!s.outbox_full());
    net.type(alice, "\\chat bob");
    CHECK(s.outbox_full());

    // bob back: acks make room again.
    net.start(bob);
    net.run_for(35000);
    CHECK(alice.host->node()->outbox_waiting("bob") == 0);
    CHECK(!s.outbox_full());
}

TEST_CASE("\\history of a room shows its lines as they were shown, by id prefix or as the current room, across a restart") {
    HostNet net;
    auto [relay, alice, bob] = net.pair_on_relay();
    std::string id = net.open_room(alice, bob);
    REQUIRE(!id.empty());
    net.type(alice, "\\room " + id);
    net.type(alice, "hello room");
    net.run_for(2000);
    net.type(bob, "\\room " + id);
    net.type(bob, "hi \x1b[2J there");
    net.run_for(2000);

    std::size_t m = alice.mark();
    net.type(alice, "\\history");
    auto all = alice.since(m);
    REQUIRE(all.size() == 3);
    CHECK(all[0].substr(17) == "* delivered to room " + id + ": hello room");
    CHECK(all[1].substr(17) == "[" + id + "] <bob> hi \\x1b[2J there");
    CHECK(all[2] == "* 2 lines of room " + id);

    net.type(alice, "\\chat bob");
    m = alice.mark();
    net.type(alice, "\\history " + id.substr(0, 4) + " 1");
    CHECK(alice.since(m) == std::vector<std::string>{all[1], "* 1 line of room " + id + " (\\history " + id + " N shows more)"});

    net.kill(bob);
    net.start(bob);
    net.run_for(2000);
    std::size_t mb = bob.mark();
    // The count given too: an id of eight decimal digits alone would be read as the count.
    net.type(bob, "\\history " + id + " 20");
    auto after = bob.since(mb);
    REQUIRE(after.size() == 3);
    CHECK(after[0].substr(17) == "[" + id + "] <alice> hello room");
    CHECK(after[1].substr(17) == "* delivered to room " + id + ": hi \\x1b[2J there");
}
