// Directory, relays and room clients driven against each other in memory
// (tests/sim/roles_harness.hpp, fixed seeds): the chat request flow with every stage,
// admission by ticket, relays going out of service, the directory going away and
// coming back, rooms of three, the client-side round robin without a directory, and
// bounded tables under a flood of made-up names.
#include "darkchat/roles.hpp"
#include "darkchat/roles_wire.hpp"
#include "darkchat/wire.hpp"
#include "crypto/wire_signing.hpp"
#include "../sim/roles_harness.hpp"

#include <doctest/doctest.h>

#include <algorithm>

using namespace dc;
using namespace dc::roles;
using dc::rolesim::World;

namespace {

using Stages = std::vector<Stage>;

}  // namespace

namespace doctest {
template <>
struct StringMaker<Stages> {
    static String convert(const Stages& v) {
        std::string s = "{";
        for (auto x : v) s += std::string(s.size() > 1 ? ", " : "") + stage_name(x);
        return (s + "}").c_str();
    }
};
}  // namespace doctest

namespace {

// A directory "dir", relays r1..rN and clients; everyone registered and measuring.
struct Net {
    World w;
    // users_as_hosts: each client as `darkchat --dir` runs it (see rolesim::Node).
    explicit Net(std::uint64_t seed, std::size_t relays = 2, std::vector<std::string> clients = {"alice", "bob"},
                 DirectoryConfig dcfg = {}, bool users_as_hosts = true)
        : w(seed) {
        w.users_as_hosts = users_as_hosts;
        w.add_directory("dir", dcfg);
        for (std::size_t i = 1; i <= relays; ++i) {
            RelayConfig rc;
            rc.directory = w.addr("dir");
            w.add_relay("r" + std::to_string(i), rc);
        }
        for (auto& c : clients) {
            RoomClientConfig cc;
            cc.directory = w.addr("dir");
            w.add_client(c, cc);
        }
        w.run_for(3000);  // registered, relays measured and reported
    }
    RoomClient& client(const std::string& n) { return *w.node(n).client; }
    Directory& dir() { return *w.node("dir").dir; }
    void request(const std::string& from, std::vector<std::string> to) { w.command(from, room_cmd::Request{std::move(to), {}}); }
    void accept(const std::string& who, const std::string& from = {}) { w.command(who, room_cmd::Accept{from}); }
    void decline(const std::string& who, const std::string& from = {}) { w.command(who, room_cmd::Decline{from}); }
    std::optional<RoomView> room_of(const std::string& who) {
        auto r = client(who).rooms();
        if (r.empty()) return std::nullopt;
        return r.front();
    }
    bool joined(const std::string& who) {
        auto r = room_of(who);
        return r && r->joined;
    }
    void say(const std::string& who, const std::string& text) { w.command(who, room_cmd::Send{room_of(who)->room, text}); }
    // from asks for a chat with to, to accepts: both joined.
    bool chat(const std::string& from, const std::string& to) {
        request(from, {to});
        w.run_for(500);
        accept(to);
        return w.run_until([&] { return joined(from) && joined(to); }, 3000);
    }
};

std::size_t count_events(const rolesim::Node& n, auto pred) {
    std::size_t c = 0;
    for (auto& [t, e] : n.room_events) c += pred(e);
    return c;
}

}  // namespace

TEST_CASE("peek_type routes core types to the node and role types to the machines") {
    REQUIRE(crypto::init());
    auto id = rolesim::identity_for("alice");
    wire::Header h{wire::MsgType::probe, "alice", id.session, 7300, id.pk};
    auto pkt = wire::encode_packet(h, wire::encode(wire::Probe{5, {}}), id.sk);
    CHECK(wire::peek_type(pkt) == wire::MsgType::probe);
    CHECK(wire::is_role_type(*wire::peek_type(pkt)));
    h.type = wire::MsgType::ping;
    auto core_pkt = wire::encode_packet(h, wire::encode(wire::Ping{5}), id.sk);
    CHECK(wire::peek_type(core_pkt) == wire::MsgType::ping);
    CHECK_FALSE(wire::is_role_type(wire::MsgType::ping));
    // A big payload: the header bin gets a 2-byte length.
    h.type = wire::MsgType::client_state;
    wire::ClientState st;
    st.version = 1;
    for (int i = 0; i < 30; ++i) st.relays.push_back({id.pk, Addr::v4(1, 2, 3, 4, 5)});
    auto big = wire::encode_packet(h, wire::encode(st), id.sk);
    REQUIRE(big.size() > 1000);
    CHECK(wire::peek_type(big) == wire::MsgType::client_state);
    CHECK_FALSE(wire::peek_type(Bytes{}));
    CHECK_FALSE(wire::peek_type(Bytes{0x93, 0x01, 0xc4}));
    Bytes unknown = pkt;
    unknown[5] = 60;  // the type byte: 60 is in the role range but unknown to this build
    CHECK_FALSE(wire::peek_type(unknown));
}

TEST_CASE("role payloads round-trip") {
    wire::RoomIdBytes room{};
    room[0] = 7;
    wire::Ticket t{room, PublicKey{1}, Addr::v4(127, 0, 0, 1, 7401), 3, {{"alice", PublicKey{2}}, {"bob", PublicKey{3}}}, 99, ""};
    auto t2 = wire::decode_ticket(wire::encode(t));
    REQUIRE(t2);
    CHECK(*t2 == t);
    wire::ClientHeartbeat hb{4, 5, true, {{PublicKey{1}, 12}}, {}, 0, {}};
    auto hb2 = wire::decode_client_heartbeat(wire::encode(hb));
    REQUIRE(hb2);
    CHECK(*hb2 == hb);
    wire::ChatRequest bad{1, {"not a name!"}};
    CHECK_FALSE(wire::decode_chat_request(wire::encode(bad)));
    CHECK_FALSE(wire::decode_room_line(Bytes{0x80}));  // missing fields
}

TEST_CASE("clients and relays register; clients measure every relay and report their delays") {
    Net n(1, 3);
    // The measuring traffic darkchat-rooms(7) documents: one probe per relay per second,
    // each way one datagram of at most 150 bytes (UDP payload).
    std::size_t probes = 0, replies = 0, largest = 0;
    n.w.tap = [&](const rolesim::Node& from, const rolesim::Node&, const Bytes& data) {
        auto t = wire::peek_type(data);
        if (from.name != "alice" && from.name[0] != 'r') return;
        if (t == wire::MsgType::probe && from.name == "alice") ++probes;
        else if (t == wire::MsgType::probe_reply) ++replies;
        else return;
        largest = std::max(largest, data.size());
    };
    n.w.run_for(10000);
    n.w.tap = nullptr;
    MESSAGE("alice: " << probes << " probes, " << replies << " replies to all in 10 s, largest " << largest << " B");
    CHECK(probes >= 27);
    CHECK(probes <= 33);  // 3 relays, 10 s
    CHECK(largest <= 150);
    CHECK(n.dir().relays().size() == 3);
    for (auto& r : n.dir().relays()) CHECK(r.alive);
    auto clients = n.dir().clients();
    REQUIRE(clients.size() == 2);
    for (auto& c : clients) CHECK(c.delays.size() == 3);
    for (auto& r : n.client("alice").relays()) {
        REQUIRE(r.rtt_ms);
        CHECK(*r.rtt_ms == 10);  // 5 ms each way
    }
    CHECK(n.client("alice").directory_alive());
    CHECK(n.w.node("r1").relay->directory_key() == n.dir().identity().pk);
}

TEST_CASE("chat request flow: ACK_CONN, REQ_SENT, AWAITING_REQ, REQ_ACCEPTED, then a room with lines") {
    Net n(2);
    n.request("alice", {"bob"});
    n.w.run_for(500);
    CHECK(rolesim::stages(n.w.node("alice"), "bob") == Stages{Stage::ack_conn, Stage::req_sent});
    auto inv = rolesim::events_of<room_ev::Invited>(n.w.node("bob"));
    REQUIRE(inv.size() == 1);
    CHECK(inv[0].from == "alice");
    CHECK(n.client("bob").invites().size() == 1);
    n.w.run_for(11000);  // two reminders (every 5 s)
    CHECK(rolesim::stages(n.w.node("alice"), "bob") ==
          Stages{Stage::ack_conn, Stage::req_sent, Stage::awaiting_req, Stage::awaiting_req});
    n.accept("bob");
    REQUIRE(n.w.run_until([&] { return n.joined("alice") && n.joined("bob"); }, 3000));
    CHECK(rolesim::stages(n.w.node("alice"), "bob").back() == Stage::req_accepted);
    auto ja = rolesim::events_of<room_ev::RoomJoined>(n.w.node("alice"));
    REQUIRE(ja.size() == 1);
    CHECK(ja[0].members == std::vector<std::string>{"bob"});
    CHECK(n.room_of("alice")->room == n.room_of("bob")->room);
    CHECK(n.dir().chats().size() == 1);
    CHECK(n.dir().pending_requests() == 0);

    n.say("alice", "hello");
    n.say("alice", "how are you");
    n.say("bob", "fine");
    n.w.run_for(500);
    CHECK(rolesim::lines(n.w.node("bob")) == std::vector<std::pair<std::string, std::string>>{{"alice", "hello"}, {"alice", "how are you"}});
    CHECK(rolesim::lines(n.w.node("alice")) == std::vector<std::pair<std::string, std::string>>{{"bob", "fine"}});
    // Own lines are echoed once every other member acked them, and leave the outbox.
    CHECK(count_events(n.w.node("alice"), [](auto& e) {
              auto* l = std::get_if<room_ev::Line>(&e);
              return l && l->outgoing;
          }) == 2);
    CHECK(n.room_of("alice")->unacked == 0);
}

TEST_CASE("chat request flow: USER_NOT_FOUND for a name nobody registered") {
    Net n(3);
    n.request("alice", {"nobody"});
    n.w.run_for(500);
    CHECK(rolesim::stages(n.w.node("alice"), "nobody") == Stages{Stage::user_not_found});
    n.w.run_for(3000);
    CHECK(n.dir().pending_requests() == 0);
}

TEST_CASE("chat request flow: DECLINED, and the invite is gone on the invitee's side") {
    Net n(4);
    n.request("alice", {"bob"});
    n.w.run_for(500);
    n.decline("bob", "alice");
    n.w.run_for(1500);
    CHECK(rolesim::stages(n.w.node("alice"), "bob") == Stages{Stage::ack_conn, Stage::req_sent, Stage::declined});
    CHECK(n.client("bob").invites().empty());
    CHECK(n.client("alice").rooms().empty());
    CHECK(n.dir().chats().empty());
    // bob is told his answer was taken.
    auto notes = rolesim::events_of<room_ev::Notice>(n.w.node("bob"));
    REQUIRE(notes.size() == 1);
    CHECK(notes[0].text == "declined alice's request");
}

TEST_CASE("chat request flow: TIMED_OUT after request_timeout without an answer") {
    DirectoryConfig dc;
    dc.request_timeout = 12000;
    Net n(5, 1, {"alice", "bob"}, dc);
    n.request("alice", {"bob"});
    n.w.run_for(13000);
    auto st = rolesim::stages(n.w.node("alice"), "bob");
    REQUIRE(!st.empty());
    CHECK(st.back() == Stage::timed_out);
    CHECK(std::count(st.begin(), st.end(), Stage::awaiting_req) == 2);
    // The invitee is told the invite is gone.
    CHECK(rolesim::events_of<room_ev::InviteGone>(n.w.node("bob")).size() == 1);
    n.accept("bob");  // too late: nothing to accept
    CHECK(!rolesim::events_of<room_ev::Problem>(n.w.node("bob")).empty());
}

TEST_CASE("chat request flow: SERVER_ERR with no relay alive, and when the directory does not answer") {
    Net n(6, 0);
    n.request("alice", {"bob"});
    n.w.run_for(500);
    auto st = rolesim::stages(n.w.node("alice"), "bob");
    REQUIRE(st.size() == 1);
    CHECK(st[0] == Stage::server_err);
    auto ev = rolesim::events_of<room_ev::RequestStage>(n.w.node("alice"));
    CHECK(ev.back().detail == "no relay alive");

    n.w.kill("dir");
    n.request("alice", {"bob"});
    n.w.run_for(5000);
    CHECK(rolesim::stages(n.w.node("alice"), "bob").back() == Stage::server_err);
    CHECK(rolesim::events_of<room_ev::RequestStage>(n.w.node("alice")).back().detail == "directory not answering");
    CHECK(rolesim::events_of<room_ev::DirectoryLost>(n.w.node("alice")).size() == 1);
}

TEST_CASE("chat request flow: an open request survives a quick directory restart, and ends when it is gone for good") {
    Net n(33, 1);
    n.request("alice", {"bob"});
    n.w.run_for(1500);
    REQUIRE(rolesim::stages(n.w.node("alice"), "bob").back() == Stage::req_sent);
    // A restart within directory_timeout: the new directory knows nothing of the
    // request; alice asks again and bob gets the invite from it.
    n.w.kill("dir");
    n.w.run_for(1000);
    n.w.restart("dir");
    REQUIRE(n.w.run_until([&] { return !n.dir().clients().empty() && n.client("bob").invites().size() == 1; }, 4000));
    n.w.run_for(1000);
    n.accept("bob");
    REQUIRE(n.w.run_until([&] { return n.joined("alice") && n.joined("bob"); }, 3000));
    CHECK(rolesim::stages(n.w.node("alice"), "bob").back() == Stage::req_accepted);

    // A second request, then the directory gone for good: SERVER_ERR, not a request
    // left open for ever.
    n.request("alice", {"carol"});
    n.w.run_for(1000);
    REQUIRE(rolesim::stages(n.w.node("alice"), "carol").back() == Stage::user_not_found);
    n.request("alice", {"bob"});
    n.w.run_for(1000);
    const auto before = rolesim::stages(n.w.node("alice"), "bob").size();
    n.w.kill("dir");
    n.w.run_for(5000);
    auto st = rolesim::stages(n.w.node("alice"), "bob");
    REQUIRE(st.size() > before);
    CHECK(st.back() == Stage::server_err);
    CHECK(rolesim::events_of<room_ev::RequestStage>(n.w.node("alice")).back().detail == "directory not answering");
}

TEST_CASE("a ticket giving a member another key than the one our node pinned: not sealed to, not shown, not waited for") {
    // bob's node pinned alice's real key; the "alice" registered with the directory is
    // someone else (she got there first after a directory restart, say). carol is
    // pinned with her own key: she is trusted.
    World w(47);
    w.add_directory("dir");
    RelayConfig rc;
    rc.directory = w.addr("dir");
    w.add_relay("r1", rc);
    RoomClientConfig cc;
    cc.directory = w.addr("dir");
    w.add_client("alice", cc);
    w.add_client("carol", cc);
    // bob is a bare room client: the test stands in for his node's pinning
    // (a host would ask its own node, which pinned nobody here).
    w.users_as_hosts = false;
    RoomClientConfig bc = cc;
    const PublicKey real_alice = rolesim::identity_for("the real alice").pk, carol = rolesim::identity_for("carol").pk;
    bc.pinned = [&](const std::string& u) -> std::optional<PublicKey> {
        if (u == "alice") return real_alice;
        if (u == "carol") return carol;
        return std::nullopt;
    };
    w.add_client("bob", bc);
    w.run_for(3000);
    w.command("alice", room_cmd::Request{{"bob", "carol"}, {}});
    w.run_for(500);
    w.command("bob", room_cmd::Accept{"alice"});
    w.command("carol", room_cmd::Accept{"alice"});
    auto joined = [&](const std::string& u) {
        auto r = w.node(u).client->rooms();
        return !r.empty() && r[0].joined;
    };
    REQUIRE(w.run_until([&] { return joined("alice") && joined("bob") && joined("carol"); }, 3000));
    w.run_for(1500);
    auto problems = rolesim::events_of<room_ev::Problem>(w.node("bob"));
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].text.find("gives alice a key that is not the one pinned for alice") != std::string::npos);
    const RoomId room = w.node("bob").client->rooms()[0].room;
    w.command("alice", room_cmd::Send{room, "from the other alice"});
    w.command("bob", room_cmd::Send{room, "from bob"});
    w.command("carol", room_cmd::Send{room, "from carol"});
    w.run_for(2000);
    using L = std::vector<std::pair<std::string, std::string>>;
    CHECK(rolesim::lines(w.node("bob")) == L{{"carol", "from carol"}});
    CHECK(rolesim::lines(w.node("carol")) == L{{"alice", "from the other alice"}, {"bob", "from bob"}});
    CHECK(rolesim::lines(w.node("alice")) == L{{"carol", "from carol"}});  // bob's line was not sealed to her
    CHECK(w.node("bob").client->rooms()[0].unacked == 0);  // and does not wait for her ack
    CHECK(w.node("bob").client->stats().wrong_key > 0);
}

TEST_CASE("only invited users join: another user's ticket and a forged ticket are refused") {
    Net n(7, 1, {"alice", "bob", "mallory"});
    wire::SignedBlob alice_ticket;
    n.w.tap = [&](const rolesim::Node& from, const rolesim::Node&, const Bytes& data) {
        if (from.name != "alice" || wire::peek_type(data) != wire::MsgType::room_join) return;
        auto p = wire::parse_packet(data);
        if (auto j = wire::decode_room_join(p->payload)) alice_ticket = j->ticket;
    };
    REQUIRE(n.chat("alice", "bob"));
    REQUIRE(!alice_ticket.body.empty());
    auto t = wire::decode_ticket(alice_ticket.body);
    REQUIRE(t);

    const Identity m = rolesim::identity_for("mallory");
    auto join_as_mallory = [&](const wire::SignedBlob& ticket) {
        wire::MemberKey mk{t->room, "mallory", KxPublicKey{9}};
        wire::RoomJoin j{ticket, wire::sign_blob(wire::encode(mk), m.sk)};
        wire::Header h{wire::MsgType::room_join, "mallory", m.session, 7300, m.pk};
        n.w.inject("r1", n.w.addr("mallory"), wire::encode_packet(h, wire::encode(j), m.sk));
        n.w.run_for(100);
    };
    const auto refused_before = n.w.node("r1").relay->stats().refused;
    join_as_mallory(alice_ticket);  // a real ticket, not naming mallory
    // A ticket naming mallory, signed by mallory instead of the directory.
    wire::Ticket forged = *t;
    forged.members.push_back({"mallory", m.pk});
    join_as_mallory(wire::sign_blob(wire::encode(forged), m.sk));
    // The real ticket with mallory added: the directory's signature no longer matches.
    join_as_mallory(wire::SignedBlob{wire::encode(forged), alice_ticket.sig});
    CHECK(n.w.node("r1").relay->stats().refused == refused_before + 3);
    for (auto& r : n.w.node("r1").relay->rooms()) CHECK(std::find(r.joined.begin(), r.joined.end(), "mallory") == r.joined.end());
    // Lines sent to the room never reach mallory.
    n.say("alice", "secret");
    n.w.run_for(500);
    CHECK(rolesim::lines(n.w.node("bob")).size() == 1);
    CHECK(rolesim::lines(n.w.node("mallory")).empty());
}

TEST_CASE("a relay that stops heartbeating is out of service after relay_timeout") {
    Net n(8, 2);
    n.w.kill("r2");
    const TimeMs killed = n.w.now();
    const auto r2 = n.w.node("r2").id.pk;
    auto alive = [&] {
        for (auto& r : n.dir().relays())
            if (r.key == r2) return r.alive;
        return false;
    };
    // Still in service within relay_timeout (1000 ms) of the last heartbeat ...
    n.w.run_until_time(killed + 700);
    CHECK(alive());
    // ... out of service at the first pass (every 500 ms) after it.
    REQUIRE(n.w.run_until([&] { return !alive(); }, 2000));
    CHECK(n.w.now() - killed <= 1000 + 250 + 500);
    bool down_event = false;
    for (auto& [t, e] : n.w.node("dir").dir_events) down_event |= std::holds_alternative<dir_ev::RelayDown>(e);
    CHECK(down_event);
    // Clients stop measuring it: it leaves their list.
    n.w.run_for(1000);
    for (auto& r : n.client("alice").relays()) CHECK(r.key != r2);
    // Back: in service again.
    n.w.resume("r2");
    CHECK(n.w.run_until([&] { return alive(); }, 1000));
}

TEST_CASE("a chat whose relay dies moves to another relay and no line is lost") {
    Net n(9, 2);
    REQUIRE(n.chat("alice", "bob"));
    const Addr first = n.room_of("alice")->relay;
    const std::string dead = first == n.w.addr("r1") ? "r1" : "r2";
    n.say("alice", "one");
    n.w.run_for(200);
    n.w.kill(dead);
    n.say("alice", "two");   // during the outage
    n.say("bob", "hi");
    REQUIRE(n.w.run_until([&] { return n.room_of("alice")->relay != first && n.joined("alice") && n.joined("bob"); }, 5000));
    n.say("alice", "three");
    n.w.run_for(3000);
    CHECK(rolesim::lines(n.w.node("bob")) ==
          std::vector<std::pair<std::string, std::string>>{{"alice", "one"}, {"alice", "two"}, {"alice", "three"}});
    CHECK(rolesim::lines(n.w.node("alice")) == std::vector<std::pair<std::string, std::string>>{{"bob", "hi"}});
    auto moved = rolesim::events_of<room_ev::RoomMoved>(n.w.node("bob"));
    REQUIRE(moved.size() == 1);
    CHECK(moved[0].reason == MoveReason::relay_died);
    CHECK(n.room_of("bob")->epoch == 2);
}

namespace {

// users u0..u(2n-1) in n chats (u0 with u1, ...), all accepted at the same instant.
struct Pairs {
    Net n;
    std::size_t count;
    static std::vector<std::string> users(std::size_t n) {
        std::vector<std::string> v;
        for (std::size_t i = 0; i < 2 * n; ++i) v.push_back("u" + std::to_string(i));
        return v;
    }
    Pairs(std::uint64_t seed, std::size_t relays, std::size_t chats, Strategy s)
        : n(seed, relays, users(chats), [&] {
              DirectoryConfig dc;
              dc.strategy = s;
              return dc;
          }()),
          count(chats) {
        for (std::size_t i = 0; i < chats; ++i) n.request("u" + std::to_string(2 * i), {"u" + std::to_string(2 * i + 1)});
        n.w.run_for(500);
        for (std::size_t i = 0; i < chats; ++i) n.accept("u" + std::to_string(2 * i + 1));
        REQUIRE(n.w.run_until([&] { return n.dir().chats().size() == chats; }, 3000));
    }
    // chats per relay name, in the directory's view
    std::map<std::string, std::size_t> spread() {
        std::map<std::string, std::size_t> m;
        for (auto& ch : n.dir().chats())
            for (std::size_t i = 1; i < 100; ++i)
                if (n.w.addr("r" + std::to_string(i)) == ch.relay) {
                    ++m["r" + std::to_string(i)];
                    break;
                }
        return m;
    }
};

}  // namespace

TEST_CASE("strategies at the directory: round-robin deals chats out in turn") {
    Pairs p(40, 3, 6, Strategy::round_robin);
    CHECK(p.spread() == std::map<std::string, std::size_t>{{"r1", 2}, {"r2", 2}, {"r3", 2}});
}

TEST_CASE("strategies at the directory: random uses every relay, every chat on a relay in service") {
    Pairs p(41, 3, 12, Strategy::random);
    auto m = p.spread();
    CHECK(m.size() == 3);
    std::size_t total = 0;
    for (auto& [r, c] : m) total += c;
    CHECK(total == 12);
}

TEST_CASE("strategies at the directory: least-loaded counts the chats it just placed, and spreads a dead relay's") {
    // All 12 chats are placed at one instant, before any relay reports its new load.
    Pairs p(42, 4, 12, Strategy::least_loaded);
    CHECK(p.spread() == std::map<std::string, std::size_t>{{"r1", 3}, {"r2", 3}, {"r3", 3}, {"r4", 3}});
    p.n.w.run_for(1000);  // the relays report their load
    p.n.w.kill("r4");
    REQUIRE(p.n.w.run_until([&] { return p.spread().count("r4") == 0; }, 3000));
    CHECK(p.spread() == std::map<std::string, std::size_t>{{"r1", 4}, {"r2", 4}, {"r3", 4}});
    // and every pair is joined on its chat's new relay
    REQUIRE(p.n.w.run_until([&] {
        for (std::size_t i = 0; i < 24; ++i)
            if (!p.n.joined("u" + std::to_string(i))) return false;
        return true;
    }, 5000));
}

TEST_CASE("strategies at the directory: cpu avoids a relay that others keep busy, and follows the load as it changes") {
    Net n(45, 3, Pairs::users(6), [] {
        DirectoryConfig dc;
        dc.strategy = Strategy::cpu;
        return dc;
    }());
    // r1 is busy with other rooms; r2 and r3 are idle within a sample's noise of each other.
    n.w.set_cpu("r1", {850, 600, 2});
    n.w.set_cpu("r2", {60, 600, 2});
    n.w.set_cpu("r3", {40, 600, 2});
    n.w.run_for(1000);  // the next heartbeats carry it
    const auto relay_of = [&](const DirChatView& ch) {
        for (const char* r : {"r1", "r2", "r3"})
            if (n.w.addr(r) == ch.relay) return std::string(r);
        return std::string("?");
    };
    const auto place = [&](std::size_t first, std::size_t count) {
        for (std::size_t i = first; i < first + count; ++i)
            n.request("u" + std::to_string(2 * i), {"u" + std::to_string(2 * i + 1)});
        n.w.run_for(500);
        for (std::size_t i = first; i < first + count; ++i) n.accept("u" + std::to_string(2 * i + 1));
        REQUIRE(n.w.run_until([&] { return n.dir().chats().size() == first + count; }, 3000));
    };
    place(0, 2);
    std::map<std::string, std::string> where;  // first member -> relay
    for (auto& ch : n.dir().chats()) where[ch.members.front()] = relay_of(ch);
    // idle relays tie; the fewer members breaks it, so the two chats spread
    CHECK(where == std::map<std::string, std::string>{{"u0", where["u0"]}, {"u2", where["u2"]}});
    CHECK(where["u0"] != "r1");
    CHECK(where["u2"] != "r1");
    CHECK(where["u0"] != where["u2"]);
    // now r2 is busy and r1 idle: the next chat avoids r2; the chats in place stay
    n.w.set_cpu("r1", {30, 600, 2});
    n.w.set_cpu("r2", {900, 600, 2});
    n.w.run_for(1000);
    place(2, 1);
    for (auto& ch : n.dir().chats()) {
        const std::string& first = ch.members.front();
        if (first == "u4") CHECK(relay_of(ch) == "r1");  // r1 (30) and r3 (40) tie; r1 holds no one
        else CHECK(relay_of(ch) == where[first]);
    }
    // and the members are joined on the relay the cpu strategy chose
    REQUIRE(n.w.run_until([&] { return n.joined("u4") && n.joined("u5"); }, 5000));
    CHECK(n.room_of("u4")->relay == n.w.addr("r1"));
}

TEST_CASE("min-max: a chat whose relay one member cannot reach moves to one both can") {
    Net n(43, 2);
    REQUIRE(n.chat("alice", "bob"));
    const Addr first = n.room_of("alice")->relay;
    const std::string cur = first == n.w.addr("r1") ? "r1" : "r2", other = cur == "r1" ? "r2" : "r1";
    n.w.run_for(6000);  // past min_dwell
    // bob's probes to (and everything else with) the chat's relay are lost from now on;
    // the directory still hears the relay's heartbeats.
    n.w.set_link("bob", cur, rolesim::Link{5, 0, 1.0});
    REQUIRE(n.w.run_until([&] { return n.room_of("bob")->relay == n.w.addr(other) && n.joined("bob"); }, 10000));
    auto moved = rolesim::events_of<room_ev::RoomMoved>(n.w.node("alice"));
    REQUIRE(moved.size() == 1);
    CHECK(moved[0].reason == MoveReason::unreachable);
    n.say("bob", "through the other relay");
    n.w.run_for(1000);
    CHECK(rolesim::lines(n.w.node("alice")) ==
          std::vector<std::pair<std::string, std::string>>{{"bob", "through the other relay"}});
}

TEST_CASE("a restarted directory that took a chat back from an older ticket adopts the newer one a member holds") {
    Net n(44, 3);
    REQUIRE(n.chat("alice", "bob"));
    // alice stops hearing the directory; the chat's relay dies and the directory moves
    // the chat (epoch 2): bob follows, alice does not know.
    n.w.set_link("alice", "dir", rolesim::Link{5, 0, 1.0});
    const Addr first = n.room_of("alice")->relay;
    std::string dead;
    for (auto r : {"r1", "r2", "r3"})
        if (n.w.addr(r) == first) dead = r;
    n.w.kill(dead);
    REQUIRE(n.w.run_until([&] { return n.room_of("bob")->relay != first && n.joined("bob"); }, 5000));
    CHECK(n.room_of("alice")->relay == first);
    // The old relay comes back (it was only cut off), and the directory restarts,
    // forgetting everything; alice is heard again. Whichever ticket reaches it first,
    // both end on one relay: the newer ticket's, or a later one.
    n.w.resume(dead);
    n.w.kill("dir");
    n.w.run_for(500);
    n.w.set_link("alice", "dir", rolesim::Link{});
    n.w.set_link("bob", "dir", rolesim::Link{5, 0, 1.0});  // alice's older ticket gets there first
    n.w.restart("dir");
    REQUIRE(n.w.run_until([&] { return n.dir().chats().size() == 1; }, 3000));
    CHECK(n.dir().chats()[0].relay == first);
    n.w.set_link("bob", "dir", rolesim::Link{});
    REQUIRE(n.w.run_until([&] {
        auto a = n.room_of("alice"), b = n.room_of("bob");
        return a && b && a->relay == b->relay && a->joined && b->joined && n.dir().chats().size() == 1;
    }, 8000));
    CHECK(n.dir().chats()[0].epoch >= 2);
    n.say("alice", "together again");
    n.w.run_for(1500);
    CHECK(rolesim::lines(n.w.node("bob")) == std::vector<std::pair<std::string, std::string>>{{"alice", "together again"}});
}

TEST_CASE("after a move, a member who joins the new relay late gets the waiting lines at once, not a resend round later") {
    Net n(46, 2);
    REQUIRE(n.chat("alice", "bob"));
    const Addr first = n.room_of("alice")->relay;
    const std::string dead = first == n.w.addr("r1") ? "r1" : "r2", other = dead == "r1" ? "r2" : "r1";
    n.w.set_latency("bob", other, 150);  // bob reaches the new relay well after alice
    n.w.kill(dead);
    n.say("alice", "written during the outage");
    REQUIRE(n.w.run_until([&] { return rolesim::lines(n.w.node("bob")).size() == 1; }, 6000));
    TimeMs moved_at = 0, got_at = 0;
    for (auto& [t, e] : n.w.node("bob").room_events) {
        if (std::holds_alternative<room_ev::RoomMoved>(e) && !moved_at) moved_at = t;
        if (auto* l = std::get_if<room_ev::Line>(&e); l && !l->outgoing) got_at = t;
    }
    REQUIRE(moved_at > 0);
    // bob's join takes a round trip of 300 ms and the line another 150 ms one way; a
    // resend round (1 s) would come on top of that.
    MESSAGE("bob: moved at +0, line at +" << got_at - moved_at << " ms");
    CHECK(got_at - moved_at < 700);
}

TEST_CASE("lines and acks go to the relay on the members' hops; a relay restarted meanwhile makes them join again, and no line is lost") {
    Net n(31, 1);
    REQUIRE(n.chat("alice", "bob"));
    n.w.run_for(1500);
    n.say("alice", "a1");
    n.say("bob", "b1");
    n.w.run_for(500);
    CHECK(rolesim::lines(n.w.node("bob")) == std::vector<std::pair<std::string, std::string>>{{"alice", "a1"}});
    // A line too long for a datagram goes to the relay as a TCP frame on the hop.
    const std::string longer(3000, 'x');
    n.say("alice", longer);
    n.say("alice", "a1b");
    n.w.run_for(1000);
    CHECK(rolesim::lines(n.w.node("bob")) ==
          std::vector<std::pair<std::string, std::string>>{{"alice", "a1"}, {"alice", longer}, {"alice", "a1b"}});
    CHECK(n.room_of("alice")->unacked == 0);
    CHECK(n.room_of("bob")->unacked == 0);
    // Both directions on the hops: the relay checked no signature of a line or ack, and
    // opened every hop packet it was sent.
    const auto& rs = n.w.node("r1").relay->stats();
    CHECK(rs.bad_signature == 0);
    CHECK(rs.replayed == 0);
    CHECK(rs.refused == 0);

    // The relay restarts: a new run's hop keys, no rooms. Their next lines come on hops it
    // does not know; it says so, they join again and the lines go through.
    n.w.restart("r1");
    n.w.run_for(100);
    n.say("alice", "a2");
    n.say("bob", "b2");
    REQUIRE(n.w.run_until([&] { return rolesim::lines(n.w.node("bob")).size() == 4; }, 10000));
    CHECK(rolesim::lines(n.w.node("bob")).back() == std::pair<std::string, std::string>{"alice", "a2"});
    CHECK(n.w.node("r1").relay->stats().refused >= 1);
    REQUIRE(n.w.run_until([&] { return rolesim::lines(n.w.node("alice")).size() == 2; }, 10000));
    CHECK(rolesim::lines(n.w.node("alice")) == std::vector<std::pair<std::string, std::string>>{{"bob", "b1"}, {"bob", "b2"}});
    n.w.run_for(1000);
    CHECK(n.room_of("alice")->unacked == 0);
    CHECK(n.room_of("bob")->unacked == 0);
}

TEST_CASE("a member the relay dropped joins again on a hop of the same keys whose counters go on: none twice, no line lost") {
    Net n(31, 1);
    REQUIRE(n.chat("alice", "bob"));
    n.w.run_for(1500);
    // Every counter the relay uses toward bob, per hop index: a second use under the
    // same key would be a nonce used twice (and bob's window would refuse it).
    std::map<std::uint32_t, std::set<std::uint64_t>> counters;
    bool twice = false;
    n.w.tap = [&](const rolesim::Node& from, const rolesim::Node& to, const Bytes& data) {
        if (from.name != "r1" || to.name != "bob" || wire::peek_type(data) != wire::MsgType::room_hop) return;
        auto d = wire::parse_channel_data(data);
        if (d && !counters[d->index].insert(d->counter).second) twice = true;
    };
    for (int i = 0; i < 5; ++i) {
        n.say("alice", "a" + std::to_string(i));
        n.w.run_for(200);
    }
    REQUIRE(rolesim::lines(n.w.node("bob")).size() == 5);
    // bob is silent longer than the relay keeps a member (its member_timeout), then is
    // back as he was: the relay dropped him and his hop; he joins again with the same
    // member key, so the relay makes the same hop key again.
    n.w.kill("bob");
    n.w.run_for(15000);
    n.w.resume("bob");
    n.say("bob", "b1");
    n.w.run_for(500);
    n.say("alice", "after");
    REQUIRE(n.w.run_until([&] { return rolesim::lines(n.w.node("bob")).size() == 6; }, 15000));
    CHECK(rolesim::lines(n.w.node("bob")).back() == std::pair<std::string, std::string>{"alice", "after"});
    n.w.tap = nullptr;
    CHECK(counters.size() == 1);  // the same hop index (the same keys) before and after
    CHECK(!twice);
}

TEST_CASE("rooms of three: every member gets every other member's lines") {
    Net n(10, 2, {"alice", "bob", "carol"});
    n.request("alice", {"bob", "carol"});
    n.w.run_for(500);
    auto inv = rolesim::events_of<room_ev::Invited>(n.w.node("carol"));
    REQUIRE(inv.size() == 1);
    CHECK(inv[0].others == std::vector<std::string>{"bob"});
    n.accept("bob");
    n.w.run_for(500);
    n.accept("carol");
    REQUIRE(n.w.run_until([&] { return n.joined("alice") && n.joined("bob") && n.joined("carol"); }, 3000));
    n.w.run_for(1500);  // the member list reaches everyone
    CHECK(n.room_of("alice")->members.size() == 3);
    CHECK(n.room_of("alice")->room == n.room_of("carol")->room);
    n.say("alice", "a1");
    n.say("bob", "b1");
    n.say("carol", "c1");
    n.say("alice", "a2");
    n.w.run_for(2000);
    auto has = [](const std::vector<std::pair<std::string, std::string>>& v, std::vector<std::pair<std::string, std::string>> want) {
        for (auto& x : want)
            if (std::find(v.begin(), v.end(), x) == v.end()) return false;
        return v.size() == want.size();
    };
    CHECK(has(rolesim::lines(n.w.node("bob")), {{"alice", "a1"}, {"carol", "c1"}, {"alice", "a2"}}));
    CHECK(has(rolesim::lines(n.w.node("carol")), {{"alice", "a1"}, {"bob", "b1"}, {"alice", "a2"}}));
    CHECK(has(rolesim::lines(n.w.node("alice")), {{"bob", "b1"}, {"carol", "c1"}}));
    CHECK(n.room_of("alice")->unacked == 0);
    // carol leaves: the others see it, and their lines no longer wait for her.
    n.w.command("carol", room_cmd::Leave{n.room_of("carol")->room});
    n.w.run_for(2000);
    CHECK(n.room_of("alice")->members.size() == 2);
    n.say("alice", "a3");
    n.w.run_for(1000);
    CHECK(n.room_of("alice")->unacked == 0);
    CHECK(rolesim::lines(n.w.node("carol")).size() == 3);
}

TEST_CASE("members' acks to an author go to it from the relay in one packet per line, and every line is acked") {
    const std::vector<std::string> readers{"bob", "carol", "dave", "erin"};
    std::vector<std::string> all{"alice"};
    all.insert(all.end(), readers.begin(), readers.end());
    Net n(12, 1, all);
    n.request("alice", readers);
    n.w.run_for(500);
    for (auto& r : readers) n.accept(r);
    REQUIRE(n.w.run_until([&] { return std::all_of(all.begin(), all.end(), [&](auto& u) { return n.joined(u); }); }, 3000));
    n.w.run_for(1500);  // the member list reaches everyone
    REQUIRE(n.room_of("alice")->members.size() == 5);
    n.say("alice", "warm-up");  // pair keys made, line key held: acks are tagged from now on
    n.w.run_for(1500);
    REQUIRE(n.room_of("alice")->unacked == 0);

    // Only alice writes: what the relay sends her on her hop is the others' acks.
    std::size_t to_alice = 0;
    n.w.tap = [&](const rolesim::Node& from, const rolesim::Node& to, const Bytes& data) {
        if (from.name == "r1" && to.name == "alice" && wire::peek_type(data) == wire::MsgType::room_hop) ++to_alice;
    };
    constexpr std::size_t kLines = 12;
    for (std::size_t i = 0; i < kLines; ++i) {
        n.say("alice", "line " + std::to_string(i));
        n.w.run_for(200);
    }
    n.w.run_for(500);
    n.w.tap = nullptr;
    for (auto& r : readers) CHECK(rolesim::lines(n.w.node(r)).size() == kLines + 1);
    CHECK(n.room_of("alice")->unacked == 0);
    // Four members ack each line; the relay forwards the four acks together.
    CHECK(to_alice == kLines);
    CHECK(n.w.node("r1").relay->stats().malformed == 0);
    CHECK(n.w.node("alice").client->stats().bad_signature == 0);

    // A member that acks nothing (killed, still joined at the relay) holds the others'
    // acks back only for a moment: they reach alice all the same, in one packet.
    n.w.kill("erin");
    to_alice = 0;
    n.w.tap = [&](const rolesim::Node& from, const rolesim::Node& to, const Bytes& data) {
        if (from.name == "r1" && to.name == "alice" && wire::peek_type(data) == wire::MsgType::room_hop) ++to_alice;
    };
    n.say("alice", "while erin is away");
    n.w.run_for(300);
    CHECK(to_alice == 1);
    for (auto& r : {"bob", "carol", "dave"}) CHECK(rolesim::lines(n.w.node(r)).size() == kLines + 2);
    CHECK(n.room_of("alice")->unacked == 1);  // erin's ack is still to come
    n.w.tap = nullptr;
    n.w.resume("erin");
    REQUIRE(n.w.run_until([&] { return n.room_of("alice")->unacked == 0; }, 5000));
    CHECK(rolesim::lines(n.w.node("erin")).size() == kLines + 2);
}

TEST_CASE("a client in many chats gets its directory state over TCP, from an ephemeral port") {
    // Five relays and four chats make alice's state far larger than one datagram; the
    // harness, like the real loop, delivers it from an ephemeral port.
    const std::vector<std::string> peers = {"bob", "carol", "dave", "erin"};
    std::vector<std::string> all = {"alice"};
    all.insert(all.end(), peers.begin(), peers.end());
    Net n(31, 5, all);
    std::size_t big = 0;
    n.w.tap = [&](const rolesim::Node& from, const rolesim::Node& to, const Bytes& data) {
        if (from.name == "dir" && to.name == "alice" && data.size() > wire::kMaxDatagram) ++big;
    };
    for (auto& p : peers) {
        n.request("alice", {p});
        n.w.run_for(300);
        n.accept(p);
        n.w.run_for(300);
    }
    REQUIRE(n.w.run_until([&] { return n.client("alice").rooms().size() == peers.size(); }, 5000));
    n.w.run_for(3000);
    CHECK(big > 0);
    CHECK(n.client("alice").directory_alive());
    for (auto& r : n.client("alice").rooms()) CHECK(r.joined);
    for (auto& p : peers) {
        REQUIRE(n.joined(p));
        n.say(p, "hello from " + p);
    }
    n.w.run_for(2000);
    CHECK(rolesim::lines(n.w.node("alice")).size() == peers.size());
    // And a state that changes later (a fifth relay) still gets through.
    RelayConfig rc;
    rc.directory = n.w.addr("dir");
    n.w.add_relay("r6", rc);
    n.w.run_for(3000);
    CHECK(n.client("alice").relays().size() == 6);
}

TEST_CASE("a member killed and restarted without its store numbers its lines from 1 again, and none is lost") {
    Net n(32, 2);
    REQUIRE(n.chat("alice", "bob"));
    for (int i = 1; i <= 3; ++i) n.say("bob", "before " + std::to_string(i));
    n.w.run_for(1000);
    REQUIRE(rolesim::lines(n.w.node("alice")).size() == 3);
    // kill -9: bob's process is gone with its numbering; the directory still lists him.
    n.w.kill("bob");
    n.w.run_for(500);
    n.say("alice", "while bob is down");
    n.w.run_for(500);
    n.w.restart("bob", true);  // a lost data directory: a new run, the room from the directory
    REQUIRE(n.w.run_until([&] { return n.joined("bob"); }, 5000));
    n.say("bob", "after 1");
    n.say("bob", "after 2");
    n.w.run_for(2000);
    const std::vector<std::pair<std::string, std::string>> want = {
        {"bob", "before 1"}, {"bob", "before 2"}, {"bob", "before 3"}, {"bob", "after 1"}, {"bob", "after 2"}};
    CHECK(rolesim::lines(n.w.node("alice")) == want);
    CHECK(n.room_of("bob")->unacked == 0);
    CHECK(n.room_of("alice")->unacked == 0);
    const std::vector<std::pair<std::string, std::string>> bob_got = {{"alice", "while bob is down"}};
    CHECK(rolesim::lines(n.w.node("bob")) == bob_got);
}

TEST_CASE("a member killed with lines nobody acked yet sends them after its restart, each shown once") {
    Net n(33, 2);
    REQUIRE(n.chat("alice", "bob"));
    n.say("alice", "one");
    n.w.run_for(1000);
    // bob is away: alice's next lines wait for his acks; then alice is killed too.
    n.w.kill("bob");
    n.say("alice", "two");
    n.say("alice", "three");
    n.w.run_for(300);
    CHECK(n.room_of("alice")->unacked == 2);
    CHECK(n.w.node("alice").store.room_lines.size() == 2);
    n.w.kill("alice");
    n.w.run_for(1000);
    n.w.restart("bob");
    n.w.restart("alice");
    REQUIRE(n.room_of("alice"));  // from her store, before the directory says anything
    CHECK(n.room_of("alice")->unacked == 2);
    REQUIRE(n.w.run_until([&] { return n.joined("alice") && n.joined("bob") && n.room_of("alice")->unacked == 0; }, 6000));
    n.say("alice", "four");
    n.say("bob", "back");
    n.w.run_for(2000);
    const std::vector<std::pair<std::string, std::string>> want = {{"alice", "one"}, {"alice", "two"}, {"alice", "three"},
                                                                   {"alice", "four"}};
    CHECK(rolesim::lines(n.w.node("bob")) == want);
    const std::vector<std::pair<std::string, std::string>> alice_got = {{"bob", "back"}};
    CHECK(rolesim::lines(n.w.node("alice")) == alice_got);
    CHECK(n.w.node("alice").store.room_lines.empty());
    // Every own line was echoed as delivered once, over both runs.
    std::size_t echoes = 0;
    for (auto& l : rolesim::events_of<room_ev::Line>(n.w.node("alice"))) echoes += l.outgoing;
    CHECK(echoes == 4);
}

TEST_CASE("a member killed after it showed lines shows none of them twice when they come again") {
    Net n(34, 2, {"alice", "bob", "carol"});
    n.request("alice", {"bob", "carol"});
    n.w.run_for(500);
    n.accept("bob");
    n.accept("carol");
    REQUIRE(n.w.run_until([&] { return n.joined("alice") && n.joined("bob") && n.joined("carol"); }, 3000));
    n.w.run_for(1500);
    // carol is away, so alice keeps her lines (and resends them) until carol is back.
    n.w.kill("carol");
    n.say("alice", "a1");
    n.say("alice", "a2");
    n.w.run_for(1000);
    REQUIRE(rolesim::lines(n.w.node("bob")).size() == 2);
    CHECK(n.room_of("alice")->unacked == 2);
    n.w.kill("bob");
    n.w.run_for(500);
    n.w.restart("bob");  // rejoins: alice sends a1, a2 again at once
    REQUIRE(n.w.run_until([&] { return n.joined("bob"); }, 5000));
    n.w.run_for(2000);
    n.w.restart("carol");
    REQUIRE(n.w.run_until([&] { return n.joined("carol") && n.room_of("alice")->unacked == 0; }, 6000));
    n.say("alice", "a3");
    n.w.run_for(1500);
    const std::vector<std::pair<std::string, std::string>> want = {{"alice", "a1"}, {"alice", "a2"}, {"alice", "a3"}};
    CHECK(rolesim::lines(n.w.node("bob")) == want);
    CHECK(rolesim::lines(n.w.node("carol")) == want);
}

TEST_CASE("quitting leaves rooms with nothing to deliver, and keeps the others with their lines for next time") {
    Net n(35, 2, {"alice", "bob", "carol"});
    REQUIRE(n.chat("alice", "bob"));
    const RoomId with_bob = n.room_of("alice")->room;
    n.request("alice", {"carol"});
    n.w.run_for(500);
    n.accept("carol");
    REQUIRE(n.w.run_until([&] { return n.client("alice").rooms().size() == 2 && n.joined("carol"); }, 3000));
    n.w.run_for(1000);
    RoomId with_carol{};
    for (auto& r : n.client("alice").rooms())
        if (r.room != with_bob) with_carol = r.room;
    n.w.command("alice", room_cmd::Send{with_bob, "hi bob"});
    n.w.run_for(1000);
    n.w.kill("carol");
    n.w.command("alice", room_cmd::Send{with_carol, "for carol"});
    n.w.run_for(200);
    n.w.quit("alice");
    n.w.run_for(1000);
    // The room with bob is gone (bob sees alice leave); the one with carol is kept.
    CHECK(n.room_of("bob")->members.size() == 1);
    CHECK(n.w.node("alice").store.rooms.size() == 1);
    CHECK(n.w.node("alice").store.rooms.count(with_carol) == 1);
    n.w.restart("carol");
    n.w.restart("alice");
    REQUIRE(n.client("alice").rooms().size() == 1);
    REQUIRE(n.w.run_until([&] { return n.joined("alice") && n.room_of("alice")->unacked == 0; }, 6000));
    const std::vector<std::pair<std::string, std::string>> want = {{"alice", "for carol"}};
    CHECK(rolesim::lines(n.w.node("carol")) == want);
}

TEST_CASE("the directory goes down: chats go on, everyone registers again and the chat is taken back") {
    Net n(11, 2);
    REQUIRE(n.chat("alice", "bob"));
    const RoomId room = n.room_of("alice")->room;
    n.w.kill("dir");
    n.w.run_for(5000);
    CHECK_FALSE(n.client("alice").directory_alive());
    CHECK_FALSE(n.w.node("r1").relay->directory_alive());
    n.say("alice", "while the directory is away");
    n.w.run_for(1000);
    CHECK(rolesim::lines(n.w.node("bob")).size() == 1);
    // A restart: the directory has forgotten everything but keeps its identity.
    n.w.restart("dir");
    n.w.run_for(3000);
    CHECK(n.client("alice").directory_alive());
    CHECK(n.dir().relays().size() == 2);
    CHECK(n.dir().clients().size() == 2);
    auto chats = n.dir().chats();
    REQUIRE(chats.size() == 1);
    CHECK(chats[0].room == room);
    CHECK(chats[0].members.size() == 2);
    CHECK(n.client("alice").rooms().size() == 1);
    n.say("bob", "back");
    n.w.run_for(1000);
    CHECK(rolesim::lines(n.w.node("alice")).size() == 1);
}

TEST_CASE("without a directory: client-side round robin, invites straight to the peer, relocation by the inviter") {
    World w(12);
    for (int i = 1; i <= 3; ++i) w.add_relay("r" + std::to_string(i));
    RoomClientConfig cc;
    cc.relays = {w.addr("r1"), w.addr("r2"), w.addr("r3")};
    w.add_client("alice", cc);
    w.add_client("bob", cc);
    w.add_client("carol", cc);
    w.run_for(2500);
    auto peer = [&](const std::string& u) { return PeerInfo{u, w.node(u).id.pk, {w.addr(u)}}; };
    w.command("alice", room_cmd::Request{{"bob", "nobody"}, {peer("bob")}});
    w.run_for(500);
    CHECK(rolesim::stages(w.node("alice"), "nobody") == Stages{Stage::user_not_found});
    CHECK(rolesim::stages(w.node("alice"), "bob") == Stages{Stage::ack_conn, Stage::req_sent});
    w.run_for(5500);
    CHECK(rolesim::stages(w.node("alice"), "bob").back() == Stage::awaiting_req);
    w.command("bob", room_cmd::Accept{"alice"});
    auto joined = [&](const std::string& u) {
        auto r = w.node(u).client->rooms();
        return !r.empty() && r[0].joined;
    };
    REQUIRE(w.run_until([&] { return joined("alice") && joined("bob"); }, 3000));
    CHECK(rolesim::stages(w.node("alice"), "bob").back() == Stage::req_accepted);
    const RoomId room = w.node("alice").client->rooms()[0].room;
    const Addr first = w.node("alice").client->rooms()[0].relay;

    // A second request goes to the next relay of the list.
    w.command("alice", room_cmd::Request{{"carol"}, {peer("carol")}});
    w.run_for(300);
    w.command("carol", room_cmd::Accept{});
    REQUIRE(w.run_until([&] { return joined("carol"); }, 3000));
    CHECK(w.node("carol").client->rooms()[0].relay != first);

    // carol is not invited to alice and bob's room: a join with her own ticket for it fails.
    w.command("alice", room_cmd::Send{room, "one"});
    w.run_for(300);
    std::string dead;
    for (int i = 1; i <= 3; ++i)
        if (w.addr("r" + std::to_string(i)) == first) dead = "r" + std::to_string(i);
    w.kill(dead);
    w.command("alice", room_cmd::Send{room, "two"});
    w.command("bob", room_cmd::Send{room, "hi"});
    auto on = [&](const std::string& u) {
        for (auto& r : w.node(u).client->rooms())
            if (r.room == room) return r.relay != first && r.joined;
        return false;
    };
    REQUIRE(w.run_until([&] { return on("alice") && on("bob"); }, 10000));
    w.command("alice", room_cmd::Send{room, "three"});
    w.run_for(3000);
    CHECK(rolesim::lines(w.node("bob")) ==
          std::vector<std::pair<std::string, std::string>>{{"alice", "one"}, {"alice", "two"}, {"alice", "three"}});
    auto al = rolesim::lines(w.node("alice"));
    CHECK(std::count(al.begin(), al.end(), std::pair<std::string, std::string>{"bob", "hi"}) == 1);
    CHECK(rolesim::events_of<room_ev::RoomMoved>(w.node("bob")).size() == 1);
}

TEST_CASE("without a directory: an inviter restarted from its store still moves its room, and the member follows") {
    World w(46);
    for (int i = 1; i <= 2; ++i) w.add_relay("r" + std::to_string(i));
    RoomClientConfig cc;
    cc.relays = {w.addr("r1"), w.addr("r2")};
    w.add_client("bob", cc);
    // What alice's node knows of where users are (the driver asks core::Node):
    // the test stands in for her node, so alice is a bare room client.
    w.users_as_hosts = false;
    cc.addresses = [&w](const std::string& u) { return std::vector<Addr>{w.addr(u)}; };
    w.add_client("alice", cc);
    w.run_for(2500);
    w.command("alice", room_cmd::Request{{"bob"}, {PeerInfo{"bob", w.node("bob").id.pk, {w.addr("bob")}}}});
    w.run_for(500);
    w.command("bob", room_cmd::Accept{"alice"});
    auto joined = [&](const std::string& u) {
        auto r = w.node(u).client->rooms();
        return !r.empty() && r[0].joined;
    };
    REQUIRE(w.run_until([&] { return joined("alice") && joined("bob"); }, 3000));
    const RoomId room = w.node("alice").client->rooms()[0].room;
    const Addr first = w.node("alice").client->rooms()[0].relay;
    w.command("alice", room_cmd::Send{room, "one"});
    w.run_for(1000);
    // alice is killed and restarted: the room comes back from her store, with no
    // memory of the address bob answered her invite from.
    w.kill("alice");
    w.run_for(500);
    w.restart("alice");
    REQUIRE(w.run_until([&] { return joined("alice"); }, 3000));
    w.kill(w.addr("r1") == first ? "r1" : "r2");
    auto moved = [&](const std::string& u) {
        auto r = w.node(u).client->rooms();
        return !r.empty() && r[0].relay != first && r[0].joined;
    };
    REQUIRE(w.run_until([&] { return moved("alice") && moved("bob"); }, 10000));
    w.command("alice", room_cmd::Send{room, "two"});
    w.run_for(2000);
    CHECK(rolesim::lines(w.node("bob")) == std::vector<std::pair<std::string, std::string>>{{"alice", "one"}, {"alice", "two"}});
}

TEST_CASE("without a directory: a room larger than a relay admits is refused at once, not by the relay") {
    World w(45);
    w.add_relay("r1");
    RoomClientConfig cc;
    cc.relays = {w.addr("r1")};
    w.add_client("alice", cc);
    w.run_for(2500);
    std::vector<std::string> users;
    std::vector<PeerInfo> peers;
    for (int i = 0; i < 16; ++i) {  // alice and 16 others: 17 > 16
        const std::string u = "p" + std::to_string(i);
        users.push_back(u);
        peers.push_back(PeerInfo{u, rolesim::identity_for(u).pk, {Addr::v4(10, 9, 0, static_cast<std::uint8_t>(i + 1), 7300)}});
    }
    w.command("alice", room_cmd::Request{users, peers});
    w.run_for(100);
    CHECK(rolesim::stages(w.node("alice"), "p0") == Stages{Stage::server_err});
    CHECK(rolesim::events_of<room_ev::RequestStage>(w.node("alice")).back().detail == "too many members");
    users.pop_back();
    peers.pop_back();
    w.command("alice", room_cmd::Request{users, peers});  // 16 in all: fine
    w.run_for(100);
    CHECK(rolesim::stages(w.node("alice"), "p1") == Stages{Stage::server_err, Stage::ack_conn});  // sent (nobody there)
}

TEST_CASE("a relay without a directory admits only tickets signed by a member they list") {
    World w(13);
    w.add_relay("r1");
    RoomClientConfig cc;
    cc.relays = {w.addr("r1")};
    w.add_client("alice", cc);
    w.run_for(1500);
    const Identity a = rolesim::identity_for("alice");
    const Identity m = rolesim::identity_for("mallory");
    wire::RoomIdBytes room{};
    room[0] = 1;
    wire::Ticket t{room, w.node("r1").id.pk, w.addr("r1"), 1, {{"alice", a.pk}, {"mallory", m.pk}}, 0, "alice"};
    auto join = [&](const wire::SignedBlob& ticket) {
        wire::MemberKey mk{room, "mallory", KxPublicKey{9}};
        wire::RoomJoin j{ticket, wire::sign_blob(wire::encode(mk), m.sk)};
        wire::Header h{wire::MsgType::room_join, "mallory", m.session, 7300, m.pk};
        w.inject("r1", Addr::v4(10, 9, 9, 9, 7300), wire::encode_packet(h, wire::encode(j), m.sk));
        w.run_for(50);
    };
    join(wire::sign_blob(wire::encode(t), m.sk));  // issuer says alice, signed by mallory
    CHECK(w.node("r1").relay->rooms().empty());
    t.issuer = "mallory";
    t.members = {{"mallory", m.pk}};
    join(wire::sign_blob(wire::encode(t), m.sk));  // her own room: fine
    REQUIRE(w.node("r1").relay->rooms().size() == 1);
    // The first ticket fixed the members: one adding alice later is refused.
    t.members = {{"mallory", m.pk}, {"alice", a.pk}};
    const auto before = w.node("r1").relay->stats().refused;
    join(wire::sign_blob(wire::encode(t), m.sk));
    CHECK(w.node("r1").relay->stats().refused == before + 1);
}

TEST_CASE("a group's room takes the list of a later ticket signed by a member it holds, and drops who left") {
    World w(14);
    w.add_relay("r1");
    const Identity a = rolesim::identity_for("alice");
    const Identity b = rolesim::identity_for("bob");
    const Identity m = rolesim::identity_for("mallory");
    wire::RoomIdBytes room{};
    room[0] = 2;
    auto join = [&](const Identity& who, const std::string& name, const wire::SignedBlob& ticket, Addr from) {
        wire::MemberKey mk{room, name, KxPublicKey{9}};
        wire::RoomJoin j{ticket, wire::sign_blob(wire::encode(mk), who.sk)};
        wire::Header h{wire::MsgType::room_join, name, who.session, 7300, who.pk};
        w.inject("r1", from, wire::encode_packet(h, wire::encode(j), who.sk));
        w.run_for(50);
    };
    auto joined = [&] {
        auto rooms = w.node("r1").relay->rooms();
        return rooms.empty() ? std::vector<std::string>{} : rooms.front().joined;
    };
    const Addr at_a = Addr::v4(10, 0, 0, 1, 7300), at_b = Addr::v4(10, 0, 0, 2, 7300), at_m = Addr::v4(10, 0, 0, 3, 7300);
    wire::Ticket t{room, w.node("r1").id.pk, w.addr("r1"), 3, {{"alice", a.pk}, {"bob", b.pk}}, 0, "alice", true};
    join(a, "alice", wire::sign_blob(wire::encode(t), a.sk), at_a);
    join(b, "bob", wire::sign_blob(wire::encode(t), a.sk), at_b);
    REQUIRE(joined() == std::vector<std::string>{"alice", "bob"});

    // Not a member of the list the relay holds: mallory cannot let herself in.
    const auto refused = w.node("r1").relay->stats().refused;
    wire::Ticket forged = t;
    forged.epoch = 4;
    forged.members.push_back({"mallory", m.pk});
    forged.issuer = "mallory";
    join(m, "mallory", wire::sign_blob(wire::encode(forged), m.sk), at_m);
    CHECK(w.node("r1").relay->stats().refused == refused + 1);
    // An older list than the room's is outdated (the joiner's record catches up).
    wire::Ticket older = t;
    older.epoch = 2;
    older.members = {{"alice", a.pk}};
    join(a, "alice", wire::sign_blob(wire::encode(older), a.sk), at_a);
    CHECK(w.node("r1").relay->stats().refused == refused + 2);
    CHECK(joined() == std::vector<std::string>{"alice", "bob"});

    // The coordinator's next record leaves bob out: the relay drops him.
    wire::Ticket next = t;
    next.epoch = 5;
    next.members = {{"alice", a.pk}};
    join(a, "alice", wire::sign_blob(wire::encode(next), a.sk), at_a);
    CHECK(joined() == std::vector<std::string>{"alice"});
    CHECK(w.node("r1").relay->rooms().front().members == std::vector<std::string>{"alice"});
    // Bob's old ticket no longer admits him.
    join(b, "bob", wire::sign_blob(wire::encode(t), a.sk), at_b);
    CHECK(joined() == std::vector<std::string>{"alice"});
}

TEST_CASE("bounded tables: a flood of made-up names does not grow the directory past its limits") {
    DirectoryConfig dc;
    dc.max_clients = 50;
    dc.max_relays = 8;
    Net n(14, 1, {"alice"}, dc);
    for (int i = 0; i < 400; ++i) {
        const std::string name = "fake" + std::to_string(i);
        const Identity id = rolesim::identity_for(name);
        wire::Header h{wire::MsgType::client_heartbeat, name, id.session, 7300, id.pk};
        // from many addresses (no per-ip budget hides the table bound)
        n.w.inject("dir", Addr::v4(10, 50, static_cast<std::uint8_t>(i / 200), static_cast<std::uint8_t>(i % 200), 7300),
                   wire::encode_packet(h, wire::encode(wire::ClientHeartbeat{}), id.sk));
        h.type = wire::MsgType::relay_heartbeat;
        n.w.inject("dir", Addr::v4(10, 60, static_cast<std::uint8_t>(i / 200), static_cast<std::uint8_t>(i % 200), 7300),
                   wire::encode_packet(h, wire::encode(wire::RelayHeartbeat{1, 0, 0, 0, {}}), id.sk));
    }
    n.w.run_for(100);
    CHECK(n.dir().clients().size() <= 50);
    CHECK(n.dir().relays().size() <= 8);
    CHECK(n.dir().stats().refused > 0);
    // From one address, the per-ip budget (burst 400) drops most of a flood before any
    // signature check; what does not even parse is dropped before the budget.
    const auto limited = n.dir().stats().rate_limited, bad_sig = n.dir().stats().bad_signature,
               malformed = n.dir().stats().malformed;
    const Identity f = rolesim::identity_for("flooder");
    Bytes forged = wire::encode_packet(wire::Header{wire::MsgType::client_heartbeat, "flooder", f.session, 7300, f.pk},
                                       wire::encode(wire::ClientHeartbeat{}), f.sk);
    forged.back() ^= 1;  // a bad signature
    for (int i = 0; i < 1000; ++i) {
        n.w.inject("dir", Addr::v4(10, 70, 0, 1, 7300), forged);
        n.w.inject("dir", Addr::v4(10, 70, 0, 1, 7300), Bytes{0x93, 0x01, 0xc4, 0x00});
    }
    n.w.run_for(100);
    CHECK(n.dir().stats().malformed - malformed == 1000);
    CHECK(n.dir().stats().rate_limited - limited >= 550);
    CHECK(n.dir().stats().bad_signature - bad_sig <= 450);
    // The real client is still served.
    n.w.run_for(6000);
    bool alice = false;
    for (auto& c : n.dir().clients()) alice |= c.user == "alice";
    CHECK(alice);
}

TEST_CASE("garbage and wrong-type packets are counted and dropped by every role") {
    // alice is a bare room client: the check is that the room client itself
    // counts garbage; under a host the garbage goes to the node, as in darkchat.
    Net n(15, 1, {"alice"}, {}, false);
    std::mt19937_64 rng(15);
    for (auto target : {"dir", "r1", "alice"}) {
        for (int i = 0; i < 200; ++i) {
            Bytes b(rng() % 300);
            for (auto& x : b) x = static_cast<std::uint8_t>(rng());
            n.w.inject(target, Addr::v4(10, 80, 0, static_cast<std::uint8_t>(i), 7300), std::move(b));
        }
        // A core packet (type 8) handed to a role machine.
        const Identity id = rolesim::identity_for("zed");
        wire::Header h{wire::MsgType::ping, "zed", id.session, 7300, id.pk};
        n.w.inject(target, Addr::v4(10, 81, 0, 1, 7300), wire::encode_packet(h, wire::encode(wire::Ping{1}), id.sk));
    }
    n.w.run_for(100);
    CHECK(n.dir().stats().malformed >= 150);
    CHECK(n.w.node("r1").relay->stats().unsolicited >= 1);
    CHECK(n.client("alice").stats().malformed >= 150);
    n.w.run_for(3000);
    CHECK(n.client("alice").directory_alive());
}

TEST_CASE("bounded tables: a relay hosts at most max_rooms rooms, a client keeps at most 64 invites") {
    World w(16);
    RelayConfig rc;
    rc.max_rooms = 10;
    w.add_relay("r1", rc);
    RoomClientConfig cc;
    cc.relays = {w.addr("r1")};
    w.add_client("alice", cc);
    w.run_for(1500);
    const Identity a = rolesim::identity_for("alice");
    // mallory opens room after room with tickets she signs herself (valid without a directory).
    for (int i = 0; i < 200; ++i) {
        const std::string name = "m" + std::to_string(i);
        const Identity m = rolesim::identity_for(name);
        wire::RoomIdBytes room{};
        room[0] = static_cast<std::uint8_t>(i);
        room[1] = static_cast<std::uint8_t>(i >> 8);
        wire::Ticket t{room, w.node("r1").id.pk, w.addr("r1"), 1, {{name, m.pk}, {"alice", a.pk}}, 0, name};
        const auto ticket = wire::sign_blob(wire::encode(t), m.sk);
        wire::MemberKey mk{room, name, KxPublicKey{9}};
        wire::RoomJoin j{ticket, wire::sign_blob(wire::encode(mk), m.sk)};
        const Addr from = Addr::v4(10, 90, static_cast<std::uint8_t>(i / 200), static_cast<std::uint8_t>(i % 200), 7300);
        wire::Header h{wire::MsgType::room_join, name, m.session, 7300, m.pk};
        w.inject("r1", from, wire::encode_packet(h, wire::encode(j), m.sk));
        // ... and invites alice to each of them.
        h.type = wire::MsgType::invite;
        w.inject("alice", from, wire::encode_packet(h, wire::encode(wire::Invite{1, ticket}), m.sk));
    }
    w.run_for(200);
    CHECK(w.node("r1").relay->rooms().size() == 10);
    CHECK(w.node("r1").relay->stats().refused >= 190);
    CHECK(w.node("alice").client->invites().size() == wire::kMaxRoleRequests);
}

TEST_CASE("timers: machines wake up a bounded number of times while nothing changes") {
    Net n(17, 2, {"alice", "bob", "carol"});
    REQUIRE(n.chat("alice", "bob"));
    n.request("alice", {"carol"});  // left open: AWAITING_REQ every 5 s
    n.say("alice", "x");
    n.w.run_for(5000);  // past every one-off deadline (directory_timeout, ...)
    std::map<std::string, std::uint64_t> before;
    for (auto name : {"dir", "r1", "r2", "alice", "bob", "carol"}) before[name] = n.w.node(name).wakeups;
    n.w.run_for(10000);
    // Probes (2 relays), heartbeats, passes: a few per second. A deadline left in the
    // past would wake a machine every millisecond.
    for (auto& [name, b] : before) {
        INFO(name << " woke " << n.w.node(name).wakeups - b << " times in 10 s");
        CHECK(n.w.node(name).wakeups - b <= 80);
    }
}

TEST_CASE("a heartbeat replayed from another address does not redirect a client or a relay") {
    Net n(18, 1, {"alice"});
    Bytes alice_hb, relay_hb;
    n.w.tap = [&](const rolesim::Node& from, const rolesim::Node&, const Bytes& data) {
        if (from.name == "alice" && wire::peek_type(data) == wire::MsgType::client_heartbeat) alice_hb = data;
        if (from.name == "r1" && wire::peek_type(data) == wire::MsgType::relay_heartbeat) relay_hb = data;
    };
    n.w.run_for(1500);
    REQUIRE(!alice_hb.empty());
    REQUIRE(!relay_hb.empty());
    const Addr evil = Addr::v4(10, 66, 6, 6, 7300);
    n.w.inject("dir", evil, alice_hb);
    n.w.inject("dir", evil, relay_hb);
    n.w.run_for(100);
    CHECK(n.dir().clients()[0].addr == n.w.addr("alice"));
    CHECK(n.dir().relays()[0].addr.ip == n.w.addr("r1").ip);
    CHECK(n.dir().stats().unsolicited >= 2);
}
