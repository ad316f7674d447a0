// Conversation groups between real darkchat processes on 127.0.0.1, driven by
// their macros (darkchat(1), GROUPS): asked, answered, invited, lines to every
// member, and kill -9 of the coordinator in the middle of it all.
#include "harness.hpp"

#include <set>

using namespace dc::it;

namespace {

// "[xxxxxxxx ...] <who> text", as a member shows another's line.
Pattern group_line(const std::string& who, const std::string& text) {
    return re("^\\[[0-9a-f]{8}[^\\]]*\\] <" + quote(who) + "> " + quote(text) + "$");
}

// The lines of `who` with `text` that p showed, over all its runs.
std::size_t times_shown(Net& net, const std::string& p, const std::string& who, const std::string& text) {
    return count_in(net.all_output(p), group_line(who, text));
}

// alice, bob and carol started with these flags and linked to each other.
void start_three(Net& net, std::vector<std::string> extra = {}) {
    for (auto n : {"alice", "bob", "carol"}) net.start(n, Net::Opts{.server = false, .extra = extra});
    link(net, "alice", "bob");
    link(net, "bob", "carol");
    link(net, "alice", "carol");
}

}  // namespace

TEST_CASE("three users make a group by macros; kill -9 of its coordinator; every line reaches every member once") {
    Net net;
    start_three(net);
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

TEST_CASE("\\via relay: a group's lines go through a relay, follow it when it is killed, and come back with \\via peers") {
    Net net;
    net.start_role("R1", "relay");
    net.start_role("R2", "relay");
    const std::string r1 = "127.0.0.1:" + std::to_string(net["R1"].port());
    const std::string r2 = "127.0.0.1:" + std::to_string(net["R2"].port());
    start_three(net, {"--relays", r1 + "," + r2});
    Proc& alice = net.proc("alice");
    Proc& bob = net.proc("bob");
    Proc& carol = net.proc("carol");

    std::size_t mb = bob.mark(), ma = alice.mark(), mc = carol.mark();
    alice.send("\\connect bob");
    bob.send("\\yes " + request_number(bob, "alice", mb));
    std::string joined = alice.wait_for(re("^\\* joined group [0-9a-f]{8}.* with bob \\(coordinator\\), alice$"), 8, ma);
    std::string id = joined.substr(std::string("* joined group ").size(), 8);
    bob.send("\\invite carol");
    carol.send("\\yes " + request_number(carol, "bob", mc));
    carol.wait_for(re("^\\* joined group " + id + ".* with bob \\(coordinator\\), alice, carol$"), 10, mc);

    // Only the coordinator moves it; bob does, onto the relay he measures best.
    ma = alice.mark();
    alice.send("\\via relay " + id);
    alice.wait_for(re("^! group " + id + ".*: only the coordinator \\(bob\\) moves the group$"), 5, ma);
    auto moved_to = [&](Proc& p, std::size_t m) {
        std::string l = p.wait_for(re("^\\* group " + id + ".*: bob moved its lines to relay 127\\.0\\.0\\.1:[0-9]+ \\(epoch [0-9]+\\)$"), 15, m);
        return l.substr(l.find("relay ") + 6, l.find(" (epoch") - l.find("relay ") - 6);
    };
    mb = bob.mark(), ma = alice.mark(), mc = carol.mark();
    // The relays answer probes within a second of the start; \via waits for one.
    for (int i = 0; i < 20 && bob.count(re("^\\* group " + id + ".*moved its lines"), mb) == 0; ++i) {
        std::size_t m = bob.mark();
        bob.send("\\via relay " + id);
        bob.wait_for(re("^(\\* group " + id + ".*moved its lines|! group " + id + ").*"), 5, m);
        if (bob.count(re("^\\* group " + id + ".*moved its lines"), mb) == 0) sleep_for(0.5);
    }
    const std::string relay = moved_to(bob, mb);
    CHECK(moved_to(alice, ma) == relay);
    CHECK(moved_to(carol, mc) == relay);
    CHECK((relay == r1 || relay == r2));
    std::size_t m = alice.mark();
    alice.send("\\groups");
    alice.wait_for(re("^  " + id + ".*through relay " + quote(relay) + ".*$"), 5, m);

    mb = bob.mark(), mc = carol.mark();
    alice.send("through the relay");
    bob.wait_for(group_line("alice", "through the relay"), 8, mb);
    carol.wait_for(group_line("alice", "through the relay"), 8, mc);

    // kill -9 of that relay: bob moves the group to the other one; nothing is lost.
    const std::string other = relay == r1 ? r2 : r1;
    ma = alice.mark(), mc = carol.mark();
    net.kill9(relay == r1 ? "R1" : "R2");
    alice.send("while the relay dies");
    CHECK(moved_to(alice, ma) == other);
    carol.wait_for(group_line("alice", "while the relay dies"), 20, mc);
    carol.send("on the other relay");
    alice.wait_for(group_line("carol", "on the other relay"), 8, ma);

    // Back to member to member.
    ma = alice.mark(), mc = carol.mark();
    bob.send("\\via peers " + id);
    alice.wait_for(re("^\\* group " + id + ".*: bob moved its lines back to member to member \\(epoch [0-9]+\\)$"), 10, ma);
    alice.send("member to member again");
    carol.wait_for(group_line("alice", "member to member again"), 8, mc);

    CHECK(times_shown(net, "carol", "alice", "through the relay") == 1);
    CHECK(times_shown(net, "carol", "alice", "while the relay dies") == 1);
    CHECK(times_shown(net, "bob", "alice", "while the relay dies") == 1);
    CHECK(times_shown(net, "alice", "carol", "on the other relay") == 1);
    for (auto who : {"alice", "bob", "carol"}) net.quit(who);
}
