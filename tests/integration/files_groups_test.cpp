// Files shared in a conversation group between real darkchat processes on 127.0.0.1,
// by the macros of darkchat(1), FILES IN GROUPS: shared with \send while the group is
// current, announced to every member, taken by one, and after kill -9 of its author
// served by that member, to another member and to one who entered later and asks by
// name (\fetch). Every copy is byte for byte the file that was shared.
#include "harness.hpp"

using namespace dc::it;

TEST_CASE("a file shared in a group: announced to all, taken by one, then served by that one after its author is killed") {
    Net net;
    const std::vector<std::string> names{"alice", "bob", "carol", "dave"};
    for (const auto& n : names) net.start(n, Net::Opts{.server = false, .extra = {"--downloads", net.tmp.sub(n + "-dl")}});
    for (std::size_t i = 0; i < names.size(); ++i)
        for (std::size_t j = i + 1; j < names.size(); ++j) link(net, names[i], names[j]);
    Proc& alice = net.proc("alice");
    Proc& bob = net.proc("bob");
    Proc& carol = net.proc("carol");

    // bob's group of alice, bob and carol; alice's lines go to it.
    std::size_t ma = alice.mark(), mb = bob.mark(), mc = carol.mark();
    alice.send("\\connect bob");
    bob.send("\\yes " + request_number(bob, "alice", mb));
    std::string joined = alice.wait_for(re("^\\* joined group [0-9a-f]{8}.* with bob \\(coordinator\\), alice$"), 10, ma);
    const std::string gid = joined.substr(std::string("* joined group ").size(), 8);
    alice.wait_for(re("^\\* lines now go to group " + gid + ".*"), 5, ma);
    bob.send("\\invite carol");
    carol.send("\\yes " + request_number(carol, "bob", mc));
    carol.wait_for(re("^\\* joined group " + gid + ".* with bob \\(coordinator\\), alice, carol$"), 10, mc);
    alice.wait_for(re("^\\* group " + gid + ".*: carol entered.*"), 10, ma);

    // alice shares a file: both members hear of it.
    const std::string src = net.tmp.sub("src") + "/plan.bin";
    const std::string data = random_file(src, 2 * 1024 * 1024 + 777, 5);
    ma = alice.mark();
    mb = bob.mark();
    mc = carol.mark();
    alice.send("\\send " + src);
    std::string shared = alice.wait_for(
        re("^\\* file [0-9a-f]{8} shared with group " + gid + ".* \\(to 2 members\\): plan\\.bin \\(" +
           std::to_string(data.size()) + " bytes\\)$"),
        10, ma);
    const std::string id = shared.substr(7, 8);
    const Pattern told = re("^\\* file " + id + " shared by alice in group " + gid + ".*: plan\\.bin \\(" +
                            std::to_string(data.size()) + " bytes, application/octet-stream\\)$");
    bob.wait_for(told, 10, mb);
    carol.wait_for(told, 10, mc);

    // bob takes it from alice.
    bob.send("\\accept " + id);
    const std::string bob_copy = net.tmp.sub("bob-dl") + "/plan.bin";
    bob.wait_for(exactly("* file " + id + " received from alice: " + bob_copy), 30, mb);
    alice.wait_for(exactly("* file " + id + " delivered to bob"), 10, ma);
    CHECK(read_file(bob_copy) == data);

    // alice is gone for good: bob serves carol, who heard of it, ...
    net.kill9("alice");
    carol.send("\\accept " + id);
    const std::string carol_copy = net.tmp.sub("carol-dl") + "/plan.bin";
    carol.wait_for(exactly("* file " + id + " received from bob: " + carol_copy), 40, mc);
    CHECK(read_file(carol_copy) == data);

    // ... and dave, who entered after it was shared and asks for it by name.
    Proc& dave = net.proc("dave");
    std::size_t md = dave.mark();
    mb = bob.mark();
    bob.send("\\invite dave");
    dave.send("\\yes " + request_number(dave, "bob", md));
    dave.wait_for(re("^\\* lines now go to group " + gid + ".*"), 15, md);
    CHECK(dave.matching(told).empty());
    dave.send("\\fetch plan.bin");
    const std::string dave_copy = net.tmp.sub("dave-dl") + "/plan.bin";
    dave.wait_for(re("^\\* file " + id + " received from (bob|carol): " + quote(dave_copy) + "$"), 40, md);
    CHECK(read_file(dave_copy) == data);

    // What each holds for the group, and a name nobody holds.
    md = dave.mark();
    dave.send("\\files");
    dave.wait_for(re("^  " + id + " held for group " + gid + ".* plan\\.bin " + std::to_string(data.size()) + " bytes$"), 5,
                  md);
    dave.send("\\fetch nothing.bin");
    dave.wait_for(exactly("! file: no member holds 'nothing.bin'"), 60, md);
}
