// The first message to someone just found: typed at once after \ping and \add
// it waits in the outbox (never thrown away), arrives once the contact is
// found, and nobody is called offline on the way.
#include "harness.hpp"

using namespace dc::it;

TEST_CASE("a message typed right after \\add waits in the outbox and arrives; no false offline on the way") {
    Net net;
    Node& b = net.start("bob", {.server = false});
    Node& a = net.start("alice", {.server = false});
    Proc &ap = *a.proc, &bp = *b.proc;
    // All at once, as a script would type it: the answer to the ping cannot
    // have come yet when the message is written.
    std::size_t am = ap.mark(), bm = bp.mark();
    ap.send("\\ping 127.0.0.1 " + std::to_string(b.port()));
    ap.send("\\add bob");
    ap.send("\\chat bob");
    ap.send("hello bob");
    std::string q = ap.wait_for(re(R"(^\* queued ([0-9a-f]{8}) to bob)"), 5, am);
    ap.wait_for(exactly("* delivered " + q.substr(9, 8) + " to bob"), 5, am);
    bp.wait_for(exactly("<alice> hello bob"), 5, bm);
    // Retries, if any, and a wrong liveness verdict would show by now.
    sleep_for(4);
    CHECK(bp.count(exactly("<alice> hello bob"), bm) == 1);
    CHECK_MESSAGE(ap.count(re("^! "), am) == 0, ap.tail());
    CHECK_MESSAGE(ap.count(re("^\\* offline "), am) == 0, ap.tail());
    CHECK_MESSAGE(bp.count(re("^\\* offline "), bm) == 0, bp.tail());
}

TEST_CASE("a message to a user nobody has heard of is refused with a line that says it was not sent") {
    Net net;
    Node& a = net.start("alice", {.server = false});
    Proc& ap = *a.proc;
    std::size_t am = ap.mark();
    ap.send("\\chat carol");
    ap.wait_for(exactly("* chatting with carol (not known yet: \\add carol to find it)"), 5, am);
    ap.send("are you there?");
    ap.wait_for(exactly("! not sent: unknown user carol (\\add carol to look for it first)"), 5, am);
    CHECK(ap.count("* queued", am) == 0);
    CHECK(ap.count("messages wait in the outbox", am) == 0);
}

TEST_CASE("after a quick \\ping and \\add the first message is delivered with no offline on either side, 5 pairs") {
    Net net;
    for (int i = 0; i < 5; ++i) {
        CAPTURE(i);
        std::string an = "a" + std::to_string(i), bn = "b" + std::to_string(i);
        Node& b = net.start(bn, {.server = false});
        Node& a = net.start(an, {.server = false});
        Proc &ap = *a.proc, &bp = *b.proc;
        std::size_t am = ap.mark(), bm = bp.mark();
        ap.send("\\ping 127.0.0.1 " + std::to_string(b.port()));
        ap.wait_for(exactly("* ping: " + bn + " answered from " + b.addr()), 5, am);
        ap.send("\\add " + bn);
        ap.send("\\chat " + bn);
        ap.send("first");
        std::string q = ap.wait_for(re(R"(^\* queued ([0-9a-f]{8}) to )" + bn), 5, am);
        // A few round trips on loopback, not the seconds of a retry backoff.
        ap.wait_for(exactly("* delivered " + q.substr(9, 8) + " to " + bn), 5, am);
        bp.wait_for(exactly("<" + an + "> first"), 5, bm);
        sleep_for(1);
        CHECK_MESSAGE(ap.count(re("^\\* offline "), am) == 0, ap.tail());
        CHECK_MESSAGE(bp.count(re("^\\* offline "), bm) == 0, bp.tail());
    }
}
