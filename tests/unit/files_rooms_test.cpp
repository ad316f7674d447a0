// Files shared in a room (darkchat-rooms(7), FILES): a directory, a relay and users who
// know each other only through their room, on the simulated network
// (tests/sim/roles_harness.hpp). The room client's part (the relay's roster says where
// each member is served; roomFile straight between members, refused from anyone the
// room's ticket does not name), then whole hosts: a file shared in the room is
// announced to a member, taken from its author, and fetched by name by a member who
// accepted the room later, from the member who took it, once the author is gone. The
// driver's file operations are done here on an in-memory disk.
#include "darkchat/files.hpp"
#include "darkchat/host.hpp"
#include "darkchat/roles.hpp"
#include "darkchat/roles_wire.hpp"
#include "crypto/wire_signing.hpp"
#include "../sim/roles_harness.hpp"

#include <doctest/doctest.h>

#include <map>

using namespace dc;
using namespace dc::roles;
using dc::rolesim::World;

namespace {

// A directory "dir", one relay "r1" and users; registered and measuring.
struct Rooms {
    World w;
    Rooms(std::uint64_t seed, const std::vector<std::string>& users, bool as_hosts) : w(seed) {
        w.users_as_hosts = as_hosts;
        w.add_directory("dir", {});
        RelayConfig rc;
        rc.directory = w.addr("dir");
        w.add_relay("r1", rc);
        for (auto& u : users) {
            RoomClientConfig cc;
            cc.directory = w.addr("dir");
            w.add_client(u, cc);
        }
        w.run_for(3000);
    }
};

bool joined(World& w, const std::string& who) {
    auto r = w.node(who).client->rooms();
    return !r.empty() && r.front().joined;
}

// from asks for a room with `to`; the first of them accepts, and all are joined.
RoomId room_of(World& w, const std::string& from, const std::vector<std::string>& to) {
    w.command(from, room_cmd::Request{to, {}});
    w.run_for(500);
    w.command(to.front(), room_cmd::Accept{from});
    REQUIRE(w.run_until([&] { return joined(w, from) && joined(w, to.front()); }, 3000));
    return w.node(from).client->rooms().front().room;
}

// The driver's file operations on one disk per user: reads answered at once.
struct Disks {
    std::map<std::string, std::map<std::string, Bytes>> disk;

    // Does what the hosts asked; true when anything was done.
    bool pump(World& w, const std::vector<std::string>& users) {
        bool any = false;
        for (auto& u : users) {
            if (!w.node(u).up) continue;
            w.input(u, [&](rolesim::Node& n) {
                auto& d = disk[u];
                for (int i = 0; i < 10000; ++i) {
                    auto op = n.host->poll_file_io();
                    if (!op) break;
                    any = true;
                    if (auto* r = std::get_if<files::io::Read>(&*op)) {
                        const Bytes& f = d[r->path];
                        ByteView b(f);
                        n.host->handle_file_read(w.now(), r->id, r->side, r->index, b.subspan(r->offset, r->length),
                                                 r->peer);
                    } else if (auto* wr = std::get_if<files::io::Write>(&*op)) {
                        Bytes& f = d[wr->path];
                        if (f.size() < wr->offset + wr->bytes.size()) f.resize(wr->offset + wr->bytes.size());
                        std::copy(wr->bytes.begin(), wr->bytes.end(), f.begin() + static_cast<std::ptrdiff_t>(wr->offset));
                    } else if (auto* fi = std::get_if<files::io::Finish>(&*op)) {
                        d[fi->final_path] = std::move(d[fi->path]);
                        d.erase(fi->path);
                    } else if (auto* rm = std::get_if<files::io::Remove>(&*op)) {
                        d.erase(rm->path);
                    } else if (auto* o = std::get_if<files::io::Open>(&*op)) {
                        Bytes plain;
                        const auto r = files::open_chunk(n.host->file_crypto(), *o, plain);
                        n.host->handle_file_opened(w.now(), o->id, o->index, r, std::move(plain));
                    }
                }
            });
        }
        return any;
    }

    // Runs the world, doing the file operations, until pred() holds or max_ms pass.
    bool run_until(World& w, const std::vector<std::string>& users, const std::function<bool()>& pred, TimeMs max_ms) {
        const TimeMs end = w.now() + max_ms;
        while (w.now() < end) {
            pump(w, users);
            if (pred()) return true;
            w.run_for(20);
        }
        return pred();
    }
};

std::optional<files::TransferView> transfer(World& w, const std::string& who, files::Side side) {
    for (auto& t : w.node(who).host->files()->transfers())
        if (t.side == side) return t;
    return std::nullopt;
}

Bytes pattern(std::size_t n, std::uint8_t seed) {
    Bytes b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + i * 31 + (i >> 9));
    return b;
}

}  // namespace

TEST_CASE("the relay's roster says where each member is served; a file message goes straight there, only between members") {
    Rooms r(21, {"alice", "bob", "mallory"}, false);  // bare room clients: what reaches them is looked at here
    World& w = r.w;
    const RoomId room = room_of(w, "alice", {"bob"});
    RoomClient& alice = *w.node("alice").client;
    RoomClient& bob = *w.node("bob").client;
    const PublicKey alice_pk = rolesim::identity_for("alice").pk, bob_pk = rolesim::identity_for("bob").pk;
    const Identity m = rolesim::identity_for("mallory");

    auto members = alice.members(room);
    REQUIRE(members.size() == 2);
    for (auto& x : members) {
        REQUIRE(x.addr);
        CHECK(*x.addr == w.addr(x.user));
        CHECK(x.key == rolesim::identity_for(x.user).pk);
    }
    CHECK(alice.member_addr(bob_pk) == w.addr("bob"));
    CHECK(alice.members(RoomId{}).empty());

    // alice to bob: signed, over TCP, straight to bob (the relay sees none of it).
    const auto relayed = w.node("r1").received;
    bool sent = false;
    w.input("alice", [&](rolesim::Node&) { sent = alice.send_file_message(w.now(), bob_pk, Bytes{1, 2, 3}); });
    CHECK(sent);
    w.run_for(200);
    auto got = bob.poll_file_message();
    REQUIRE(got);
    CHECK(got->room == room);
    CHECK(got->from == alice_pk);
    CHECK(got->message == Bytes{1, 2, 3});
    CHECK(!bob.poll_file_message());
    CHECK(w.node("r1").received - relayed < 3);  // its probes and heartbeats only

    // Nothing to someone in none of alice's rooms.
    w.input("alice", [&](rolesim::Node&) { sent = alice.send_file_message(w.now(), m.pk, Bytes{4}); });
    CHECK(!sent);

    // mallory, not in the room, sends bob a file message naming it: refused.
    const auto unsolicited = bob.stats().unsolicited;
    wire::Header h{wire::MsgType::room_file, "mallory", m.session, 7300, m.pk};
    w.inject("bob", w.addr("mallory"), wire::encode_packet(h, wire::encode(wire::RoomFile{room, Bytes{5}}), m.sk));
    // ... and one claiming to be alice, signed by mallory: the signature does not hold.
    wire::Header forged{wire::MsgType::room_file, "alice", m.session, 7300, m.pk};
    w.inject("bob", w.addr("mallory"), wire::encode_packet(forged, wire::encode(wire::RoomFile{room, Bytes{6}}), m.sk));
    w.run_for(200);
    CHECK(!bob.poll_file_message());
    CHECK(bob.stats().unsolicited == unsolicited + 2);
}

TEST_CASE("a file shared in a room: announced to a member, taken from its author, fetched by name later from that member") {
    const std::vector<std::string> users{"alice", "bob", "carol"};
    Rooms r(22, users, true);
    World& w = r.w;
    const RoomId room = room_of(w, "alice", {"bob", "carol"});  // carol has not answered yet
    Disks io;
    const Bytes data = pattern(700 * 1024 + 5, 3);
    io.disk["alice"]["/src/plan.bin"] = data;

    // alice shares it in the room: bob, joined there, hears of it; carol, not yet, does not.
    w.input("alice", [&](rolesim::Node& n) {
        auto b = n.host->manifest_builder("plan.bin", data.size(), "application/octet-stream");
        for (std::size_t at = 0; at < data.size(); at += files::chunk_size_for(data.size()))
            REQUIRE(b.add(ByteView(data).subspan(at, std::min<std::size_t>(files::chunk_size_for(data.size()),
                                                                            data.size() - at))));
        REQUIRE(n.host->share_file(w.now(), room, b, "/src/plan.bin"));
    });
    REQUIRE(transfer(w, "alice", files::Side::holding));
    const files::FileId id = transfer(w, "alice", files::Side::holding)->id;
    w.run_for(500);

    // bob takes it (as \accept does): from alice, straight.
    w.input("bob", [&](rolesim::Node& n) {
        n.host->handle_file_command(w.now(), files::cmd::Accept{id, "/dl/plan.bin.part", "/dl/plan.bin"});
    });
    REQUIRE(io.run_until(w, users, [&] { return io.disk["bob"].count("/dl/plan.bin") > 0; }, 20000));
    CHECK(io.disk["bob"]["/dl/plan.bin"] == data);
    REQUIRE(transfer(w, "bob", files::Side::holding));  // bob holds it for the room now

    // alice is gone for good; carol accepts the room only now and asks for the file by name.
    w.kill("alice");
    w.command("carol", room_cmd::Accept{"alice"});
    REQUIRE(w.run_until([&] { return joined(w, "carol"); }, 3000));
    w.input("carol", [&](rolesim::Node& n) {
        n.host->handle_file_command(w.now(), files::cmd::Fetch{room, "plan.bin", "/dl/plan.bin.part", "/dl/plan.bin"});
    });
    REQUIRE(io.run_until(w, users, [&] { return io.disk["carol"].count("/dl/plan.bin") > 0; }, 60000));
    CHECK(io.disk["carol"]["/dl/plan.bin"] == data);
}
