// Chat between real processes: delivery and acknowledgement, the outbox of a
// message to an offline user surviving kill -9 and restarts on both sides,
// kill -9 of the receiver in the middle of a stream, and a second device of
// the same user (mirroring).
#include "harness.hpp"

#include <set>

using namespace dc::it;

namespace {

std::string at(const Node& n) { return quote(n.addr()); }

// Sends one chat line and returns the message id from "* queued ID to USER...".
std::string say(Proc& p, const std::string& to, const std::string& text, Loc loc = Loc::current()) {
    std::size_t m = p.mark();
    p.send(text, loc);
    std::string q = p.wait_for(re("^\\* queued ([0-9a-f]{8}) to " + quote(to) + "( |$)"), 5, m, loc);
    return q.substr(9, 8);
}

}  // namespace

TEST_CASE("a message is shown once and acknowledged; one to an offline user waits in the outbox") {
    Net net;
    figure3_ab(net);
    Proc& a = net.proc("A");

    SUBCASE("online: delivered at once") {
        Proc& b = net.proc("B");
        std::size_t am = a.mark(), bm = b.mark();
        a.send("\\chat B");
        a.wait_for(exactly("* chatting with B (online)"), 5, am);
        std::string id = say(a, "B", "hello B");
        CHECK(a.count(exactly("* queued " + id + " to B"), am) == 1);
        a.wait_for(exactly("* delivered " + id + " to B"), 5, am);
        b.wait_for(exactly("<A> hello B"), 5, bm);
        sleep_for(2);  // retries, if any, would have come by now
        CHECK(b.count(exactly("<A> hello B"), bm) == 1);
        CHECK(b.count(re("^<"), bm) == 1);
        CHECK(a.count("* delivered ", am) == 1);
    }

    SUBCASE("offline: queued, kept across kill -9 of the sender and restarts of both") {
        net.quit("B");
        wait_user(a, "B", re("^B offline via C "), 5);
        std::size_t am = a.mark();
        a.send("\\chat B");
        a.wait_for(exactly("* chatting with B (offline: messages wait in the outbox)"), 5, am);
        std::string id = say(a, "B", "while you were away");
        CHECK(a.count(exactly("* queued " + id + " to B (offline: sent when B is back)"), am) == 1);
        // The outbox entry is in the database before the queued line is shown.
        net.kill9("A");

        Node& b = net.start("B");
        Proc& bp = *b.proc;
        CHECK(bp.count("while you were away") == 0);  // A is not running
        Node& an = net.start("A");
        an.proc->wait_for(exactly("* delivered " + id + " to B"), 10);
        bp.wait_for(exactly("<A> while you were away"), 5);
        sleep_for(2);
        CHECK(bp.count(exactly("<A> while you were away")) == 1);
        CHECK(count_in(net.all_output("B"), exactly("<A> while you were away")) == 1);
        CHECK(an.proc->count("* delivered " + id) == 1);
    }
}

TEST_CASE("kill -9 of the receiver in the middle of a stream: every message shown exactly once") {
    Net net;
    figure3_ab(net);
    Proc& a = net.proc("A");
    a.send("\\chat B");
    a.wait_for(exactly("* chatting with B (online)"));
    std::size_t am = a.mark();

    constexpr int kMessages = 50;
    auto line = [](int i) { return "line " + std::to_string(i); };
    // 1-10 one by one; 11-30 in one burst, and B is killed while it takes them
    // in; 31-40 while B is dead; 41-50 after B is back (on another port).
    for (int i = 1; i <= 10; ++i) {
        a.send(line(i));
        sleep_for(0.03);
    }
    net.proc("B").wait_for(exactly("<A> line 10"), 5);
    std::string burst;
    for (int i = 11; i <= 30; ++i) burst += (i > 11 ? "\n" : "") + line(i);
    a.send(burst);
    net.proc("B").wait_for(re("^<A> line (1[1-9]|2[0-9]|30)$"), 5);
    net.kill9("B");
    for (int i = 31; i <= 40; ++i) {
        a.send(line(i));
        sleep_for(0.03);
    }
    net.start("B");  // the same session and database
    for (int i = 41; i <= kMessages; ++i) {
        a.send(line(i));
        sleep_for(0.03);
    }

    // Every message acknowledged, once.
    auto deadline = Clock::now() + secs(20);
    while (a.count(re(R"(^\* delivered [0-9a-f]{8} to B$)"), am) < kMessages && Clock::now() < deadline)
        sleep_for(0.1);
    auto delivered = a.matching(re(R"(^\* delivered [0-9a-f]{8} to B$)"), am);
    auto queued = a.matching(re(R"(^\* queued [0-9a-f]{8} to B$)"), am);
    CHECK_MESSAGE(queued.size() == kMessages, a.tail());
    CHECK_MESSAGE(delivered.size() == kMessages, a.tail());
    std::set<std::string> qids, dids;
    for (auto& l : queued) qids.insert(l.substr(9, 8));
    for (auto& l : delivered) dids.insert(l.substr(12, 8));
    CHECK(qids.size() == kMessages);
    CHECK(dids == qids);

    // Across both runs of B, every line shown, none twice.
    sleep_for(2);
    auto b_out = net.all_output("B");
    std::vector<int> missing, twice;
    for (int i = 1; i <= kMessages; ++i) {
        auto n = count_in(b_out, exactly("<A> line " + std::to_string(i)));
        if (n == 0) missing.push_back(i);
        if (n > 1) twice.push_back(i);
    }
    std::string shown_by_b;
    for (auto& l : b_out) shown_by_b += "    | " + l + "\n";
    int first_missing = missing.empty() ? 0 : missing[0], first_twice = twice.empty() ? 0 : twice[0];
    CHECK_MESSAGE(missing.empty(), "B never showed " << missing.size() << " lines, the first " << first_missing
                                                     << ":\n" << shown_by_b);
    CHECK_MESSAGE(twice.empty(), "B showed " << twice.size() << " lines twice, the first " << first_twice << ":\n"
                                             << shown_by_b);
    CHECK(count_in(b_out, re("^<A> ")) == kMessages);
    std::size_t second_run = net.proc("B").count(re("^<A> line "));
    MESSAGE("B showed " << kMessages - static_cast<int>(second_run) << " lines before kill -9, " << second_run
                        << " after its restart");
}

TEST_CASE("a second device: messages reach both sessions of a user and are mirrored between them") {
    Net net;
    figure3(net);
    Proc &a = net.proc("A"), &c = net.proc("C");

    // Export A's identity (A is running), import it into a new data directory.
    std::string file = net.tmp.sub("a-identity.txt");
    auto ex = run(net.tmp, {darkchat_bin(), "--data-dir", net["A"].dir, "--export-identity", file});
    CHECK(ex.status == 0);
    REQUIRE(ex.out.size() == 1);
    CHECK(ex.out[0] == "identity of A written to " + file + "; on the other device run: darkchat --import-identity " + file);
    CHECK(ex.err.empty());
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);

    std::size_t am = a.mark();
    Node& a2 = net.start("A", {.extra = {"--import-identity", file}, .with_user = false, .key = "A2"});
    Proc& a2p = *a2.proc;
    CHECK(a2.ready.session != net["A"].ready.session);  // its own session, the same user
    a.wait_for(exactly(presence(a2, true, "declared online")), 5, am);
    // C learns the second session of its contact A (through the server).
    wait_user(c, "A", re("^A online " + contact_flags + " \\| .*" + at(a2) + " online"), 8);
    wait_user(c, "A", re("^A online " + contact_flags + " \\| .*" + at(net["A"]) + " online"), 8);
    // (A2 adopts A's links; since 0397cce they include C, who linked A: "contact".)
    wait_user(a2p, "C", re("^C online (contact|linked-you) \\| " + at(net["C"]) + " online"), 8);

    // C to A: shown on both devices, once each.
    std::size_t cm = c.mark(), a2m = a2p.mark();
    am = a.mark();
    c.send("\\chat A");
    std::string id = say(c, "A", "to both of your devices");
    c.wait_for(exactly("* delivered " + id + " to A"), 5, cm);
    a.wait_for(exactly("<C> to both of your devices"), 5, am);
    a2p.wait_for(exactly("<C> to both of your devices"), 5, a2m);

    // A's second device to C: C gets it once, A's first device shows it mirrored.
    a2p.send("\\chat C");
    std::string id2 = say(a2p, "C", "sent from my other device");
    a2p.wait_for(exactly("* delivered " + id2 + " to C"), 5, a2m);
    c.wait_for(exactly("<A> sent from my other device"), 5, cm);
    a.wait_for(exactly("<A -> C> sent from my other device"), 5, am);

    sleep_for(2);  // mirrored copies and retries would have come by now
    CHECK(a.count(exactly("<C> to both of your devices"), am) == 1);
    CHECK(a2p.count(exactly("<C> to both of your devices"), a2m) == 1);
    CHECK(c.count(exactly("<A> sent from my other device"), cm) == 1);
    CHECK(a.count(exactly("<A -> C> sent from my other device"), am) == 1);
    CHECK(a2p.count("sent from my other device", a2m) == 0);  // its own line is not echoed
    CHECK(c.count("* delivered " + id, cm) == 1);
    CHECK(a2p.count("* delivered " + id2, a2m) == 1);
    CHECK(a.count("* delivered ", am) == 0);  // A2's message: the delivery is A2's to show
}

TEST_CASE("\\history after a restart shows what was said before, read from the database") {
    Net net;
    figure3_ab(net);
    Proc& a = net.proc("A");
    Proc& b = net.proc("B");
    std::size_t am = a.mark(), bm = b.mark();
    a.send("\\chat B");
    a.wait_for(exactly("* chatting with B (online)"), 5, am);
    std::string id = say(a, "B", "before the restart");
    a.wait_for(exactly("* delivered " + id + " to B"), 5, am);
    b.wait_for(exactly("<A> before the restart"), 5, bm);

    net.quit("B");
    Node& bn = net.start("B");
    Proc& b2 = *bn.proc;
    std::size_t m = b2.mark();
    b2.send("\\history A");
    b2.wait_for(exactly("* 1 message with A"), 5, m);
    CHECK(b2.count(re("^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d <A> before the restart$"), m) == 1);
}
