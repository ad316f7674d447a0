// Files shared in a room between real darkchat processes on 127.0.0.1, by the macros of
// darkchat(1), FILES IN ROOMS: a directory and a relay, three users who know each other
// only through the room (no super-client, no \add). alice shares a file with \send while
// the room is current; bob, in the room, is told and takes it from her; alice is killed
// with kill -9; carol, invited with bob but accepting only now, asks for it by name
// (\fetch), is served by bob, and then stops serving it herself (\unhold). Every copy
// is byte for byte the file that was shared.
#include "rooms.hpp"

using namespace dc::it;

TEST_CASE("a file shared in a room: announced, taken by a member, then served by that member after its author is killed") {
    Rooms r(1, {}, {"alice", "bob", "carol"}, true);
    Proc &alice = r.net.proc("alice"), &bob = r.net.proc("bob"), &carol = r.net.proc("carol");

    // alice asks for a room with bob and carol; bob accepts now, carol later.
    std::size_t am = 0, bm = 0, cm = 0;
    request_of_three(alice, bob, carol, am, bm, cm);
    const Room room = parse_room(alice.wait_for(re(kRoomLine), 5, am));
    bob.wait_for(exactly("* lines now go to room " + room.id + " (\\chat <user> for a direct chat)"), 5, bm);
    alice.wait_for(exactly("* lines now go to room " + room.id + " (\\chat <user> for a direct chat)"), 5, am);
    alice.send("hello");  // bob has it: both are joined on the relay
    bob.wait_for(exactly("[" + room.id + "] <alice> hello"), 5, bm);

    // alice shares a file: bob hears of it.
    const std::string src = r.net.tmp.sub("src") + "/plan.bin";
    const std::string data = random_file(src, 2 * 1024 * 1024 + 777, 9);
    am = alice.mark();
    bm = bob.mark();
    alice.send("\\send " + src);
    const std::string shared = alice.wait_for(
        re("^\\* file [0-9a-f]{8} shared with room " + room.id + " \\(to 2 members\\): plan\\.bin \\(" +
           std::to_string(data.size()) + " bytes\\)$"),
        10, am);
    const std::string id = shared.substr(7, 8);
    bob.wait_for(exactly("* file " + id + " shared by alice in room " + room.id + ": plan.bin (" +
                         std::to_string(data.size()) + " bytes, application/octet-stream)"),
                 10, bm);

    // bob takes it from alice.
    bob.send("\\accept " + id);
    const std::string bob_copy = r.net.tmp.sub("bob-dl") + "/plan.bin";
    bob.wait_for(exactly("* file " + id + " received from alice: " + bob_copy), 30, bm);
    alice.wait_for(exactly("* file " + id + " delivered to bob"), 10, am);
    CHECK(read_file(bob_copy) == data);

    // alice is gone for good; carol accepts only now and asks for the file by name.
    r.net.kill9("alice");
    cm = carol.mark();
    carol.send("\\accept alice");
    carol.wait_for(exactly("* lines now go to room " + room.id + " (\\chat <user> for a direct chat)"), 10, cm);
    carol.send("\\fetch plan.bin");
    const std::string carol_copy = r.net.tmp.sub("carol-dl") + "/plan.bin";
    carol.wait_for(exactly("* file " + id + " received from bob: " + carol_copy), 40, cm);
    CHECK(read_file(carol_copy) == data);

    // What each holds for the room, and a name nobody holds.
    cm = carol.mark();
    carol.send("\\files");
    carol.wait_for(exactly("  " + id + " held for room " + room.id + " plan.bin " + std::to_string(data.size()) + " bytes"),
                   5, cm);
    // carol stops serving it; the file stays.
    carol.send("\\unhold " + id);
    carol.wait_for(exactly("* file " + id + " no longer held for room " + room.id + ": plan.bin (the file itself stays)"), 5,
                   cm);
    carol.send("\\files");
    carol.wait_for(exactly("* 0 transfers"), 5, cm);
    CHECK(read_file(carol_copy) == data);
    carol.send("\\fetch nothing.bin");
    carol.wait_for(exactly("! file: no member holds 'nothing.bin'"), 60, cm);
}

TEST_CASE("a file shared in a room of 10 on a relay reaches each of the nine other members, byte for byte") {
    std::vector<std::string> users{"alice"};
    for (int i = 1; i <= 9; ++i) users.push_back("m" + std::to_string(i));
    Rooms r(1, {}, users, true);
    Proc& alice = r.net.proc("alice");

    // alice asks for a room with the nine; each accepts. A SERVER_ERR (the delay vectors
    // not at the directory yet) is tried again.
    std::string request = "\\request";
    for (std::size_t i = 1; i < users.size(); ++i) request += " " + users[i];
    std::size_t am = 0;
    std::vector<std::size_t> marks(users.size());
    for (int attempt = 0;; ++attempt) {
        am = alice.mark();
        for (std::size_t i = 1; i < users.size(); ++i) marks[i] = r.net.proc(users[i]).mark();
        alice.send(request);
        for (std::size_t i = 1; i < users.size(); ++i) {
            r.net.proc(users[i]).wait_for(re("^\\* alice asks for a chat \\(with "), 10, marks[i]);
            r.net.proc(users[i]).send("\\accept alice");
        }
        auto i = alice.wait_index(re("^\\* request m1: (REQ_ACCEPTED|SERVER_ERR)"), 10, am);
        REQUIRE_MESSAGE(i.has_value(), "no answer for m1:\n" << alice.tail());
        if (alice.line(*i).find("REQ_ACCEPTED") != std::string::npos) break;
        REQUIRE_MESSAGE(attempt < 4, "SERVER_ERR five times:\n" << alice.tail());
        sleep_for(1);
    }
    const Room room = parse_room(alice.wait_for(re(kRoomLine), 20, am));
    const std::string now_room = "* lines now go to room " + room.id + " (\\chat <user> for a direct chat)";
    alice.wait_for(exactly(now_room), 20, am);
    for (std::size_t i = 1; i < users.size(); ++i) r.net.proc(users[i]).wait_for(exactly(now_room), 20, marks[i]);
    alice.send("hello");  // every member has it: all are joined on the relay
    for (std::size_t i = 1; i < users.size(); ++i)
        r.net.proc(users[i]).wait_for(exactly("[" + room.id + "] <alice> hello"), 20, marks[i]);

    const std::string src = r.net.tmp.sub("src") + "/deck.bin";
    const std::string data = random_file(src, 1024 * 1024 + 321, 11);
    am = alice.mark();
    for (std::size_t i = 1; i < users.size(); ++i) marks[i] = r.net.proc(users[i]).mark();
    alice.send("\\send " + src);
    const std::string shared = alice.wait_for(
        re("^\\* file [0-9a-f]{8} shared with room " + room.id + " \\(to 9 members\\): deck\\.bin \\(" +
           std::to_string(data.size()) + " bytes\\)$"),
        10, am);
    const std::string id = shared.substr(7, 8);
    for (std::size_t i = 1; i < users.size(); ++i) {
        Proc& m = r.net.proc(users[i]);
        m.wait_for(exactly("* file " + id + " shared by alice in room " + room.id + ": deck.bin (" +
                           std::to_string(data.size()) + " bytes, application/octet-stream)"),
                   10, marks[i]);
        m.send("\\accept " + id);
    }
    for (std::size_t i = 1; i < users.size(); ++i) {
        const std::string copy = r.net.tmp.sub(users[i] + "-dl") + "/deck.bin";
        r.net.proc(users[i]).wait_for(re("^\\* file " + id + " received from [a-z0-9]+: " + quote(copy) + "$"), 60,
                                      marks[i]);
        CHECK(read_file(copy) == data);
    }
}
