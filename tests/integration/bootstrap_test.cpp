// Joining the network and staying on it: a node with no server joins with
// \ping (requestPing), a node that knows only the server finds a contact
// through it, and a node that restarts on a new port while the server is down
// is found again through a common contact.
#include "harness.hpp"

using namespace dc::it;

namespace {

std::string at(const Node& n) { return quote(n.addr()); }

}  // namespace

TEST_CASE("requestPing: a node with no server and no peers joins through \\ping, then links") {
    Net net;
    figure3(net);
    Proc& c = net.proc("C");
    Node& f = net.start("F", {.server = false});
    Proc& fp = *f.proc;
    auto fu = users(fp);
    CHECK(fu.empty());  // knows nobody

    std::size_t fm = fp.mark(), cm = c.mark();
    fp.send("\\ping 127.0.0.1 " + std::to_string(net["C"].port()));
    fp.wait_for(exactly("* ping sent to " + net["C"].addr()), 5, fm);
    fp.wait_for(exactly("* ping: C answered from " + net["C"].addr()), 5, fm);
    fp.send("\\add C");
    fp.wait_for(exactly("* linked C"), 5, fm);
    c.wait_for(exactly("* F linked you"), 5, cm);
    c.wait_for(exactly(presence(f, true, "declared online")), 5, cm);
    wait_user(fp, "C", re("^C online " + contact_flags + " \\| " + at(net["C"]) + " online seen \\d+s ago$"), 5);
    wait_user(c, "F", re("^F online linked-you \\| " + at(f) + " online seen \\d+s ago$"), 5);
    CHECK(fp.count(re("^! ")) == 0);
}

// F linked C; C's contacts A, B and D are two hops from F. F learnt C's links
// from C's declaration but never asks C where they are: it was already
// talking to C (the \ping) when it linked it.
TEST_CASE("after \\ping and \\add, the new node knows its contact's contacts") {
    Net net;
    figure3(net);
    Node& f = net.start("F", {.server = false});
    f.proc->send("\\ping 127.0.0.1 " + std::to_string(net["C"].port()));
    f.proc->wait_for(exactly("* ping: C answered from " + net["C"].addr()));
    f.proc->send("\\add C");
    net.proc("C").wait_for(exactly("* F linked you"));
    wait_user(*f.proc, "A", re("^A online via C \\| " + at(net["A"]) + " online"), 10);
}

TEST_CASE("super-client bootstrap: a node that knows only the server finds a contact through it") {
    Net net;
    figure3(net);
    Proc& d = net.proc("D");
    std::size_t dm = d.mark();
    Node& g = net.start("G");  // -sip/-sp of S, nothing else
    Proc& gp = *g.proc;
    gp.send("\\add D");
    gp.wait_for(exactly("* linked D"));
    gp.wait_for(exactly("* looking for D (asked 1 nodes)"));  // the server: G knows nobody else
    gp.wait_for(exactly(presence(net["D"], true, "declared online")));
    d.wait_for(exactly("* G linked you"), 5, dm);
    d.wait_for(exactly(presence(g, true, "declared online")), 5, dm);
    wait_user(gp, "D", re("^D online " + contact_flags + " \\| " + at(net["D"]) + " online seen \\d+s ago$"), 5);
    CHECK(gp.count(re("^! ")) == 0);
}

// darkchatd(8): "Without -u, a super-client uses the name server." (Before
// 53f8bb3, with --data-dir it refused to start: "-u <username> is needed".)
TEST_CASE("a super-client started without -u is called server") {
    Net net;
    Proc s("darkchatd[server]",
           {darkchatd_bin(), "-s", "-p", "0", "--bind", "127.0.0.1", "--data-dir", net.dir_of("server")}, net.env());
    s.wait_for(re(R"(^darkchatd\[server\]: \* ready: server at 127\.0\.0\.1:\d+ \(session [0-9a-f]{8}\)$)"));
}

TEST_CASE("restart on a new port with no server: a common contact tells the others where it went") {
    Net net;
    figure3_ab(net);  // A and B are two hops apart (both linked by C), and know each other
    Proc& a = net.proc("A");

    net.quit("S");  // no server from now on
    std::uint16_t old_port = net["B"].port();
    std::string old_session = net["B"].ready.session;
    net.quit("B");
    wait_user(a, "B", re("^B offline via C \\| " + at(net["B"]) + " offline"), 5);

    // B comes back on another port (-p 0); it still names the dead server.
    Node& b = net.start("B");
    CHECK(b.ready.session == old_session);
    MESSAGE("B moved from port " << old_port << " to " << b.port());
    Proc& bp = *b.proc;
    wait_user(a, "B", re("^B online via C \\| " + at(b) + " online seen \\d+s ago$"), 8);

    std::size_t am = a.mark(), bm = bp.mark();
    a.send("\\chat B");
    a.wait_for(exactly("* chatting with B (online)"), 5, am);
    a.send("hello at your new port");
    std::string queued = a.wait_for(re(R"(^\* queued ([0-9a-f]{8}) to B$)"), 5, am);
    std::string id = queued.substr(9, 8);
    a.wait_for(exactly("* delivered " + id + " to B"), 8, am);
    bp.wait_for(exactly("<A> hello at your new port"), 5, bm);
    sleep_for(2);  // a retry would have come by now
    CHECK(bp.count(exactly("<A> hello at your new port"), bm) == 1);
    CHECK(a.count("* delivered " + id, am) == 1);
}
