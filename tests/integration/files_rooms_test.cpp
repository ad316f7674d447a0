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
        re("^\\* file [0-9a-f]{8} shared with room " + room.id + " \\(2 members\\): plan\\.bin \\(" +
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
