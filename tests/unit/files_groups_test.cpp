// Files shared in a group (darkchat/files.hpp, darkchat-protocol(7), FILES IN GROUPS) on
// the in-memory world of tests/support/files_net.hpp: every member hears of a shared
// file, those who take it get it from any member that holds it (one that quit or went
// quiet is replaced by another, the chunks already stored kept), one who entered later
// asks for it by name, and nobody outside the group is served.

#include <doctest/doctest.h>

#include "support/files_net.hpp"

using namespace dc;
using namespace dc::files;
using test::FilesNet;
using test::pattern;

namespace {

GroupId group_id(std::uint8_t n) {
    GroupId g{};
    g.fill(n);
    return g;
}

// Station `from` shares data (put on its disk as path) with group g; the file id.
FileId share(FilesNet& net, std::size_t from, const GroupId& g, const std::string& path, const Bytes& data) {
    net.at(from).disk[path] = data;
    const auto blob = net.manifest(from, path, data, 1024);
    net.command(from, cmd::Share{g, blob, path});
    auto m = wire::decode_file_manifest(blob.body);
    return m ? m->id : FileId{};
}

bool holds(FilesNet& net, std::size_t i, const FileId& id) {
    for (const auto& t : net.m(i).transfers())
        if (t.id == id && t.side == Side::holding) return true;
    return false;
}

std::size_t chunks_sent_by(FilesNet& net, std::size_t i) { return net.sent_of<wire::FileChunk>(i).size(); }

}  // namespace

TEST_CASE("a file shared in a group is announced to every member, and each that takes it gets it whole and then holds it") {
    FilesNet net(4, 71);
    const GroupId g = group_id(1);
    net.groups[g] = {0, 1, 2, 3};
    const Bytes data = pattern(40 * 1024 + 17);
    const FileId id = share(net, 0, g, "photo.bin", data);
    net.run_for(200);

    auto shared = net.events_of<ev::Shared>(0);
    REQUIRE(shared.size() == 1);
    CHECK(shared[0].members == 3);
    CHECK(holds(net, 0, id));
    for (std::size_t i : {1u, 2u, 3u}) {
        auto a = net.events_of<ev::Announced>(i);
        REQUIRE(a.size() == 1);
        CHECK(a[0].id == id);
        CHECK(a[0].group == g);
        CHECK(a[0].from == net.self(0).pk);
        CHECK(a[0].name == "photo.bin");
        CHECK(a[0].size == data.size());
    }
    // Two take it, the third declines: nothing is sent to it.
    net.command(1, cmd::Accept{id, "dl/photo.bin.part", "dl/photo.bin"});
    net.command(2, cmd::Accept{id, "dl/photo.bin.part", "dl/photo.bin"});
    net.command(3, cmd::Decline{id});
    net.run_for(5000);
    for (std::size_t i : {1u, 2u}) {
        REQUIRE(net.events_of<ev::Completed>(i).size() == 1);
        CHECK(net.at(i).disk.at("dl/photo.bin") == data);
        CHECK(holds(net, i, id));
    }
    CHECK(net.at(3).disk.empty());
    CHECK(net.m(3).transfers().empty());
    CHECK(net.events_of<ev::Delivered>(0).size() == 2);
    // Only the holding stays on each side: the sending and receiving states are gone.
    for (std::size_t i : {0u, 1u, 2u}) {
        CHECK(net.m(i).transfers().size() == 1);
        CHECK(net.at(i).store.size() == 1);
    }
}

TEST_CASE("one who entered later asks by name and is served by a member that holds it, with its author gone") {
    FilesNet net(4, 72);
    const GroupId g = group_id(2);
    net.groups[g] = {0, 1, 2};
    const Bytes data = pattern(9000, 3);
    const FileId id = share(net, 0, g, "notes.txt", data);
    net.run_for(200);
    net.command(1, cmd::Accept{id, "dl/notes.txt.part", "dl/notes.txt"});
    net.run_for(3000);
    REQUIRE(net.events_of<ev::Completed>(1).size() == 1);
    net.kill(0);  // the author quits for good

    net.groups[g] = {0, 1, 2, 3};  // 3 entered after the file was shared
    CHECK(net.events_of<ev::Announced>(3).empty());
    net.command(3, cmd::Fetch{g, "notes.txt", "dl/notes.txt.part", "dl/notes.txt"});
    net.run_for(5000);
    auto done = net.events_of<ev::Completed>(3);
    REQUIRE(done.size() == 1);
    CHECK(done[0].from == net.self(1).pk);  // member 1 served it: 2 never took it
    CHECK(net.at(3).disk.at("dl/notes.txt") == data);
    CHECK(holds(net, 3, id));
}

TEST_CASE("a name nobody in the group holds is given up after a bounded number of asks, and its partial file removed") {
    FilesNet net(3, 73);
    const GroupId g = group_id(3);
    net.groups[g] = {0, 1, 2};
    net.at(2).disk["dl/none.part"] = {};
    net.command(2, cmd::Fetch{g, "none", "dl/none.part", "dl/none"});
    net.run_for(600'000);
    auto failed = net.events_of<ev::Failed>(2);
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].why == "no member holds 'none'");
    CHECK_FALSE(net.at(2).disk.contains("dl/none.part"));
    CHECK(net.sent_of<wire::FileAsk>(2).size() <= 2 * 10);
}

TEST_CASE("the holder killed mid-transfer: another member serves the rest, and the chunks already stored are kept") {
    FilesNet net(3, 74);
    const GroupId g = group_id(4);
    net.groups[g] = {0, 1, 2};
    const Bytes data = pattern(200 * 1024, 5);  // 200 chunks of 1 KiB
    const FileId id = share(net, 0, g, "big.bin", data);
    net.run_for(200);
    net.command(1, cmd::Accept{id, "dl/big.bin.part", "dl/big.bin"});
    net.run_for(5000);
    REQUIRE(holds(net, 1, id));

    net.command(2, cmd::Accept{id, "dl/big.bin.part", "dl/big.bin"});
    for (int step = 0; step < 100000; ++step) {  // until 2 has about half of it, from 0
        net.steps(1);
        auto v = net.m(2).transfers();
        REQUIRE(v.size() == 1);
        if (v[0].have >= 100) break;
    }
    const std::size_t from_0 = chunks_sent_by(net, 0);
    net.kill(0);
    net.run_for(60'000);
    auto done = net.events_of<ev::Completed>(2);
    REQUIRE(done.size() == 1);
    CHECK(done[0].from == net.self(1).pk);
    CHECK(net.at(2).disk.at("dl/big.bin") == data);
    // Member 1 sent what 2 did not have yet, not the whole file again.
    CHECK(chunks_sent_by(net, 1) < 200 - 90);
    CHECK(from_0 >= 100);
}

// A holder checks each chunk before it serves it (its receiver would ask it again): the
// author whose copy changed stops serving it, and another member serves the whole file.
TEST_CASE("a holder whose copy changed stops serving it, and another member serves it as shared") {
    FilesNet net(3, 75);
    const GroupId g = group_id(9);
    net.groups[g] = {0, 1, 2};
    const Bytes data = pattern(20 * 1024, 6);
    const FileId id = share(net, 0, g, "notes.bin", data);
    net.run_for(200);
    net.command(1, cmd::Accept{id, "dl/notes.bin.part", "dl/notes.bin"});
    net.run_for(5000);
    REQUIRE(holds(net, 1, id));

    net.at(0).disk["notes.bin"][5 * 1024] ^= 0xff;
    net.command(2, cmd::Accept{id, "dl/notes.bin.part", "dl/notes.bin"});
    net.run_for(60'000);
    // Once per time it was asked to serve it (2 asks every member again after each stop).
    auto failed = net.events_of<ev::Failed>(0);
    REQUIRE(!failed.empty());
    for (const auto& f : failed) CHECK(f.why.find("changed since it was offered") != std::string::npos);
    auto done = net.events_of<ev::Completed>(2);
    REQUIRE(done.size() == 1);
    CHECK(done[0].from == net.self(1).pk);
    CHECK(net.at(2).disk.at("dl/notes.bin") == data);
    CHECK(net.events_of<ev::Failed>(2).empty());
}

TEST_CASE("kill -9 of a member taking a group's file: the restart asks again and goes on from its chunks") {
    FilesNet net(3, 75);
    const GroupId g = group_id(5);
    net.groups[g] = {0, 1, 2};
    const Bytes data = pattern(100 * 1024, 7);
    const FileId id = share(net, 0, g, "a.bin", data);
    net.run_for(200);
    net.command(1, cmd::Accept{id, "dl/a.bin.part", "dl/a.bin"});
    for (int step = 0; step < 100000; ++step) {
        net.steps(1);
        auto v = net.m(1).transfers();
        if (!v.empty() && v[0].have >= 70) break;  // past the first record (every 64 chunks)
    }
    net.kill(1);
    const std::size_t before = chunks_sent_by(net, 0);
    REQUIRE(net.restart(1));
    net.run_for(30'000);
    REQUIRE(net.events_of<ev::Completed>(1).size() == 1);
    CHECK(net.at(1).disk.at("dl/a.bin") == data);
    CHECK(chunks_sent_by(net, 0) - before <= 100 - 64);  // the 64 it had stored are not sent again
}

TEST_CASE("nobody outside the group is told of its files or served them, and a member removed stops asking") {
    FilesNet net(4, 76);
    const GroupId g = group_id(6);
    net.groups[g] = {0, 1, 2};
    const Bytes data = pattern(5000, 9);
    const FileId id = share(net, 0, g, "secret.bin", data);
    net.run_for(200);
    CHECK(net.events_of<ev::Announced>(3).empty());

    // 3 asks by id and by name: no offer comes, 0 counts it refused.
    const auto refused = net.m(0).stats().refused;
    net.inject(0, net.self(3).pk, wire::encode_file(wire::FileAsk{g, id, {}}));
    net.inject(0, net.self(3).pk, wire::encode_file(wire::FileAsk{g, FileId{}, "secret.bin"}));
    net.run_for(1000);
    CHECK(net.m(0).stats().refused == refused + 2);
    CHECK(net.events_of<ev::Offered>(3).empty());
    CHECK(net.sent_of<wire::FileOffer>(0).empty());

    // A share from someone who is not its group's member, or signed by another, is not announced.
    net.inject(1, net.self(3).pk, wire::encode_file(wire::FileShare{g, net.manifest(3, "x", pattern(10), 1024)}));
    net.inject(1, net.self(2).pk, wire::encode_file(wire::FileShare{g, net.manifest(0, "y", pattern(10), 1024)}));
    CHECK(net.events_of<ev::Announced>(1).size() == 1);

    // 2 takes it while 0 is away, and is removed from the group before anyone serves it.
    net.kill(0);
    net.kill(1);
    net.command(2, cmd::Accept{id, "dl/s.part", "dl/s"});
    net.run_for(5000);
    net.groups[g] = {0, 1};
    net.run_for(60'000);
    auto failed = net.events_of<ev::Failed>(2);
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].why == "'secret.bin': not a member of its group any more");
    CHECK(net.m(2).transfers().empty());
    CHECK_FALSE(net.at(2).disk.contains("dl/s.part"));
}

TEST_CASE("an offer in a group that was not asked for is declined, and a group's stored states restore") {
    FilesNet net(3, 77);
    const GroupId g = group_id(7);
    net.groups[g] = {0, 1, 2};
    const Bytes data = pattern(3000, 11);
    const FileId id = share(net, 0, g, "f.bin", data);
    net.run_for(200);
    // 1 never asked: a member's offer of it is answered no.
    net.command(1, cmd::Decline{id});
    net.inject(0, net.self(1).pk, wire::encode_file(wire::FileAsk{g, id, {}}));
    net.run_for(1000);
    auto answers = net.sent_of<wire::FileAnswer>(1);
    REQUIRE(answers.size() == 1);
    CHECK_FALSE(answers[0].accept);
    CHECK(net.m(1).transfers().empty());

    // The holding survives a restart and still serves.
    net.kill(0);
    REQUIRE(net.restart(0));
    CHECK(holds(net, 0, id));
    net.command(2, cmd::Fetch{g, "f.bin", "dl/f.part", "dl/f"});
    net.run_for(5000);
    REQUIRE(net.events_of<ev::Completed>(2).size() == 1);
    CHECK(net.at(2).disk.at("dl/f") == data);
}

TEST_CASE("files held for groups do not count against the transfers under way") {
    Config cfg;
    cfg.max_transfers = 2;
    FilesNet net(3, 78, cfg);
    const GroupId g = group_id(8);
    net.groups[g] = {0, 1};
    for (int i = 0; i < 3; ++i) share(net, 0, g, "held" + std::to_string(i), pattern(2000, static_cast<std::uint8_t>(i)));
    net.run_for(500);
    auto shared = net.events_of<ev::Shared>(0);
    REQUIRE(shared.size() == 3);
    // Three held, none under way: an offer between two still goes, and completes.
    const Bytes data = pattern(3000, 42);
    const FileId id = net.offer(0, 2, "direct.bin", data);
    net.run_for(200);
    REQUIRE(net.events_of<ev::Offered>(2).size() == 1);
    net.command(2, cmd::Accept{id, "dl/direct.part", "dl/direct"});
    net.run_for(3000);
    REQUIRE(net.events_of<ev::Completed>(2).size() == 1);
    CHECK(net.at(2).disk.at("dl/direct") == data);
}
