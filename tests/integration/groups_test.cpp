// Conversation groups between real darkchat processes on 127.0.0.1, driven by
// their macros (darkchat(1), GROUPS): asked, answered, invited, lines to every
// member, and kill -9 of the coordinator in the middle of it all.
#include "harness.hpp"

#include <set>

using namespace dc::it;

namespace {

// The number of the request line "* WHO ... \yes N or \no N" that p showed since mark.
std::string request_number(Proc& p, const std::string& who, std::size_t mark) {
    std::string line = p.wait_for(re("^\\* " + quote(who) + " (asks|invites) you into .*: \\\\yes [0-9]+ or \\\\no [0-9]+$"),
                                  8, mark);
    return line.substr(line.rfind(' ') + 1);
}

// "[xxxxxxxx ...] <who> text", as a member shows another's line.
Pattern group_line(const std::string& who, const std::string& text) {
    return re("^\\[[0-9a-f]{8}[^\\]]*\\] <" + quote(who) + "> " + quote(text) + "$");
}

// The lines of `who` with `text` that p showed, over all its runs.
std::size_t times_shown(Net& net, const std::string& p, const std::string& who, const std::string& text) {
    return count_in(net.all_output(p), group_line(who, text));
}

}  // namespace

TEST_CASE("three users make a group by macros; kill -9 of its coordinator; every line reaches every member once") {
    Net net;
    for (auto n : {"alice", "bob", "carol"}) net.start(n, Net::Opts{.server = false});
    link(net, "alice", "bob");
    link(net, "bob", "carol");
    link(net, "alice", "carol");
    Proc& alice = net.proc("alice");
    Proc& bob = net.proc("bob");
    Proc& carol = net.proc("carol");

    // alice asks bob; bob says yes and makes the group (he is its first member: the coordinator).
    std::size_t mb = bob.mark(), ma = alice.mark();
    alice.send("\\connect bob");
    std::string n = request_number(bob, "alice", mb);
    bob.send("\\yes " + n);
    bob.wait_for(re("^\\* joined group [0-9a-f]{8}.* with bob \\(coordinator\\), alice$"), 8, mb);
    std::string joined = alice.wait_for(re("^\\* joined group [0-9a-f]{8}.* with bob \\(coordinator\\), alice$"), 8, ma);
    std::string id = joined.substr(std::string("* joined group ").size(), 8);
    alice.wait_for(re("^\\* lines now go to group " + id + ".*"), 5, ma);

    // bob invites carol; she says yes and enters.
    std::size_t mc = carol.mark();
    bob.send("\\invite carol");
    n = request_number(carol, "bob", mc);
    carol.send("\\yes " + n);
    carol.wait_for(re("^\\* joined group " + id + ".* with bob \\(coordinator\\), alice, carol$"), 10, mc);
    alice.wait_for(re("^\\* group " + id + ".*: carol entered \\(epoch [0-9]+\\)$"), 10, ma);

    // A line from each reaches the two others.
    alice.send("from alice");
    carol.send("from carol");
    bob.wait_for(group_line("alice", "from alice"), 8, mb);
    bob.wait_for(group_line("carol", "from carol"), 8, mb);
    carol.wait_for(group_line("alice", "from alice"), 8, mc);
    alice.wait_for(group_line("carol", "from carol"), 8, ma);

    // kill -9 of the coordinator: alice, next in the list, coordinates; the group goes on.
    ma = alice.mark();
    mc = carol.mark();
    net.kill9("bob");
    alice.wait_for(re("^\\* group " + id + ".*: bob was lost \\(epoch [0-9]+\\)$"), 20, ma);
    carol.wait_for(re("^\\* group " + id + ".*: alice is the coordinator now$"), 20, mc);
    carol.send("while bob is away");
    alice.wait_for(group_line("carol", "while bob is away"), 8, ma);

    // bob comes back from his database: lost, not removed, he enters again.
    net.start("bob", Net::Opts{.server = false});
    Proc& bob2 = net.proc("bob");
    bob2.wait_for(re("^\\* (joined group " + id + "|group " + id + ".*: epoch [0-9]+, 3 members)"), 30);
    alice.wait_for(re("^\\* group " + id + ".*: bob entered \\(epoch [0-9]+\\)$"), 30, ma);
    std::size_t m2 = bob2.mark();
    alice.send("\\group " + id);
    alice.send("welcome back");
    bob2.wait_for(group_line("alice", "welcome back"), 10, m2);
    carol.wait_for(group_line("alice", "welcome back"), 10, mc);

    // \members at each: three, alice first, the same epoch everywhere.
    std::set<std::string> headers;
    for (const char* who : {"alice", "bob", "carol"}) {
        Proc& p = net.proc(who);
        std::size_t m = p.mark();
        p.send("\\members " + id);
        std::string header = p.wait_for(re("^\\* group " + id + ".*epoch [0-9]+.*$"), 5, m);
        headers.insert(header.substr(header.find("epoch")));
        p.wait_for(re("^  alice .*coordinator"), 5, m);
    }
    CHECK_MESSAGE(headers.size() == 1, "members' views differ");

    // No line shown twice anywhere, across bob's two runs.
    CHECK(times_shown(net, "bob", "alice", "from alice") == 1);
    CHECK(times_shown(net, "bob", "carol", "from carol") == 1);
    CHECK(times_shown(net, "carol", "alice", "from alice") == 1);
    CHECK(times_shown(net, "alice", "carol", "while bob is away") == 1);
    CHECK(times_shown(net, "bob", "alice", "welcome back") == 1);
    for (auto who : {"alice", "bob", "carol"}) net.quit(who);
}
