// Holding between real darkchat processes on 127.0.0.1 (darkchat-protocol(7),
// HOLDING): a line to a user who is offline is left with a contact both have,
// and reaches that user after its author has quit, from the holder's database.
#include "harness.hpp"

using namespace dc::it;

TEST_CASE("a line for a user who is offline is held by a common contact and delivered after its author quit") {
    Net net;
    for (auto n : {"alice", "bob", "carol"}) net.start(n, Net::Opts{.server = false});
    link(net, "alice", "bob");
    link(net, "alice", "carol");
    link(net, "bob", "carol");

    Proc& alice = net.proc("alice");
    std::size_t ma = alice.mark();
    net.quit("bob");
    alice.wait_for(re("^\\* offline bob .*"), 10, ma);
    alice.send("\\chat bob");
    alice.send("left with carol");
    alice.wait_for(re("^\\* queued [0-9a-f]+ to bob \\(offline: sent when bob is back\\)$"), 5, ma);
    alice.wait_for(re("^\\* held [0-9a-f]+ for bob by carol$"), 20, ma);

    // The author is gone, and the holder is killed and restarted (at its port, where
    // bob remembers it): what it held is on its disk.
    net.quit("alice");
    const std::string carol_port = std::to_string(net["carol"].port());
    net.kill9("carol");
    net.start("carol", Net::Opts{.server = false, .extra = {"-p", carol_port}});
    net.start("bob", Net::Opts{.server = false});
    Proc& bob = net.proc("bob");
    bob.wait_for(exactly("<alice> left with carol"), 30);

    // alice comes back: bob had it, so she hears it was delivered, and bob sees it once.
    net.start("alice", Net::Opts{.server = false});
    net.proc("alice").wait_for(re("^\\* delivered [0-9a-f]+ to bob$"), 30);
    CHECK(count_in(net.all_output("bob"), exactly("<alice> left with carol")) == 1);
    for (auto who : {"alice", "bob", "carol"}) net.quit(who);
}
