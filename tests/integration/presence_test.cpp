// Presence on the network of seed 001, figure 3: two-hop knowledge, a change
// of status travelling two hops, a killed node found out by its contacts, and
// \explode reaching the whole sphere of radius two.
#include "harness.hpp"

using namespace dc::it;

namespace {

// "127.0.0.1:PORT", escaped for re().
std::string at(const Node& n) { return quote(n.addr()); }

}  // namespace

TEST_CASE("two-hop knowledge: every node knows its contacts' contacts, and no further") {
    Net net;
    figure3(net);
    Proc &a = net.proc("A"), &c = net.proc("C");

    // C knows E through D, whom it linked; E is not C's contact.
    wait_user(c, "E", re("^E online via D \\| " + at(net["E"]) + " online seen \\d+s ago$"));
    auto cu = users(c);
    CHECK(cu.size() == 5);  // A, B, D, E and the server
    for (auto n : {"A", "B", "D"})
        CHECK_MESSAGE(std::regex_search(cu[n], re("^" + std::string(n) + " online " + contact_flags + " \\| " + at(net[n]) +
                                                  " online seen \\d+s ago$").rx),
                      cu[n]);
    CHECK(std::regex_search(cu["S"], re("^S online \\| " + at(net["S"]) + " online seen \\d+s ago super-client$").rx));

    // A knows B and D through C, who linked it; E is three hops away.
    wait_user(a, "D", re("^D online via C \\| " + at(net["D"]) + " online seen \\d+s ago$"));
    auto au = users(a);
    CHECK_MESSAGE(std::regex_search(au["B"], re("^B online via C \\| " + at(net["B"]) + " online seen \\d+s ago$").rx),
                  au["B"]);
    CHECK_MESSAGE(std::regex_search(au["C"], re("^C online linked-you \\| " + at(net["C"]) + " online").rx), au["C"]);
    CHECK_MESSAGE(au.count("E") == 0, "A lists E: " << au["E"]);
    CHECK(au.size() == 4);  // B, C, D and the server
}

// Links are edges of an undirected graph (darkchat(1), \add: "links are
// symmetric: both ends see them"), so it must not matter which end made the
// link D-E. (Before 0397cce, when E made it, C never learnt about E: D's
// declaration listed only the links D made itself.)
TEST_CASE("two-hop knowledge does not depend on which end made the link") {
    Net net;
    net.start_server();
    for (auto n : {"C", "D", "E"}) net.start(n);
    net.proc("E").send("\\add D");
    net.proc("D").wait_for(exactly("* E linked you"));
    net.proc("C").send("\\add D");
    net.proc("D").wait_for(exactly("* C linked you"));
    wait_user(net.proc("C"), "E", re("^E online via D \\| " + at(net["E"]) + " online"));
}

// C links A, then (once A has seen it) B: A learns about B, through C. (Before
// 0397cce, A asked C where B was as soon as C declared its new link, before C
// itself had found B, and was never told afterwards: bug 2 in the report.)
TEST_CASE("a contact linked later reaches earlier contacts") {
    Net net;
    net.start_server();
    for (auto n : {"A", "B", "C"}) net.start(n);
    Proc& c = net.proc("C");
    c.send("\\add A");
    c.wait_for(exactly(presence(net["A"], true, "declared online")));
    net.proc("A").wait_for(exactly("* C linked you"));
    c.send("\\add B");
    c.wait_for(exactly(presence(net["B"], true, "declared online")));
    net.proc("B").wait_for(exactly("* C linked you"));
    wait_user(net.proc("A"), "B", re("^B online via C \\| " + at(net["B"]) + " online"), 10);
}

// darkchat(1): \users flags "contact (we linked them), linked-you (they
// linked us)"; README: when bob does \add alice, "Alice sees * bob linked
// you". Bob, who made the link, is told neither.
TEST_CASE("the user who made a link is not told that it was linked") {
    Net net;
    net.start_server();
    Proc& alice = *net.start("alice").proc;
    Proc& bob = *net.start("bob").proc;
    bob.send("\\add alice");
    alice.wait_for(exactly("* bob linked you"));
    bob.wait_for(exactly(presence(net["alice"], true, "declared online")));
    wait_user(alice, "bob", re("^bob online linked-you \\| "), 5);
    wait_user(bob, "alice", re("^alice online contact \\| "), 5);
    sleep_for(1);
    CHECK(bob.count("linked you") == 0);
}

TEST_CASE("a change of status reaches two hops: E quits and comes back on a new port") {
    Net net;
    figure3(net);
    Proc &c = net.proc("C"), &d = net.proc("D");
    wait_user(c, "E", re("^E online via D \\| " + at(net["E"]) + " online"));
    Node old_e = {net["E"].name, net["E"].dir, nullptr, net["E"].ready};

    // E declares itself offline to D; D passes it on to its contacts.
    std::size_t dm = d.mark();
    net.quit("E");
    d.wait_for(exactly(presence(old_e, false, "declared offline")), 5, dm);
    wait_user(c, "E", re("^E offline via D \\| " + at(old_e) + " offline seen \\d+s ago$"), 5);

    // E starts again on the same data directory; -p 0 gives it another port.
    // Same session, newer declaration: D and C follow it to its new address.
    dm = d.mark();
    Node& e = net.start("E");
    CHECK(e.ready.session == old_e.ready.session);
    d.wait_for(exactly(presence(e, true, "declared online")), 5, dm);
    // One session, at the new address (the old one is gone: same session id).
    wait_user(c, "E", re("^E online via D \\| " + at(e) + " online seen \\d+s ago$"), 5);
}

TEST_CASE("a killed contact is shown offline by its contacts (no answer)") {
    Net net;
    figure3(net);
    Proc& c = net.proc("C");
    Node b = {net["B"].name, net["B"].dir, nullptr, net["B"].ready};
    std::size_t cm = c.mark();

    // kill -9: no declareOffline. C probes B (silent for 1 s), asks common
    // neighbours, and gives up after about 3 s (darkchat(1), LIVENESS); the
    // bound asserted here is generous on purpose.
    auto t0 = Clock::now();
    net.kill9("B");
    c.wait_for(exactly(presence(b, false, "no answer")), 10, cm);
    double took = std::chrono::duration<double>(Clock::now() - t0).count();
    MESSAGE("C showed B offline after " << took << " s");
    CHECK(c.count("* offline B", cm) == 1);
    CHECK(c.count(re("^\\* offline (A|D) "), cm) == 0);  // the others still answer
    wait_user(c, "B", re("^B offline " + contact_flags + " \\| " + at(b) + " offline seen \\d+s ago$"), 5);
}

TEST_CASE("\\explode: every node within two hops answers the originator, once") {
    Net net;
    figure3(net);
    Proc& c = net.proc("C");
    // The sphere of radius two is in place: C knows E through D.
    wait_user(c, "E", re("^E online via D "));
    std::size_t cm = c.mark();
    c.send("\\explode");
    // Pushed to C's contacts' sessions and its server: A, B, D, S.
    c.wait_for(exactly("* explode: declaration pushed to 4 sessions and their neighbours"), 5, cm);
    // Answers from A, B and D (one hop) and E (two hops, through D): four
    // nodes of the figure; and S, the server C declares to, is reached too.
    c.wait_for(exactly("* explode: 4 answers"), 8, cm);
    c.wait_for(exactly("* explode: 5 answers"), 8, cm);
    sleep_for(1.5);  // late or repeated answers would show up by now
    auto counts = c.matching(re("^\\* explode: \\d+ answers?$"), cm);
    std::vector<std::string> want = {"* explode: 1 answer", "* explode: 2 answers", "* explode: 3 answers",
                                     "* explode: 4 answers", "* explode: 5 answers"};
    CHECK(counts == want);
}
