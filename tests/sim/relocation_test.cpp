// Relocation of chats between relays, simulated (tests/sim/roles_harness.hpp): the
// directory's min-max choice follows changing latencies with hysteresis (a clearly
// better relay wins, two relays within the margin never trade the chat back and forth),
// and a relay that crashes mid-conversation loses no line: every line, including those
// written during the outage, arrives exactly once and in each author's order, on lossy
// links with jitter. Every test prints its seed when it fails; DARKCHAT_SIM_SEED=<n>
// replays it, DARKCHAT_SIM_VERBOSE=1 logs the directory's and relays' events.
#include "darkchat/roles.hpp"
#include "darkchat/roles_wire.hpp"
#include "roles_harness.hpp"
#include "sim_support.hpp"

#include <doctest/doctest.h>

#include <algorithm>

using namespace dc;
using namespace dc::roles;
using dc::rolesim::Link;
using dc::rolesim::World;

namespace {

// A directory, relays r1..rN, clients; latencies set per link by the test.
struct Scene {
    World w;
    std::vector<std::string> relays, clients;

    Scene(std::uint64_t seed, std::size_t n_relays, std::vector<std::string> users, Link link = {},
          DirectoryConfig dcfg = {})
        : w(seed, link) {
        w.add_directory("dir", dcfg);
        for (std::size_t i = 1; i <= n_relays; ++i) {
            RelayConfig rc;
            rc.directory = w.addr("dir");
            relays.push_back("r" + std::to_string(i));
            w.add_relay(relays.back(), rc);
        }
        for (auto& u : users) {
            RoomClientConfig cc;
            cc.directory = w.addr("dir");
            w.add_client(u, cc);
        }
        clients = std::move(users);
    }

    // One-way latency of every client to relay r.
    void latency_to(const std::string& r, std::vector<TimeMs> per_client) {
        for (std::size_t i = 0; i < clients.size(); ++i) w.set_latency(clients[i], r, per_client[i]);
    }

    std::optional<RoomView> room(const std::string& who) {
        auto r = w.node(who).client->rooms();
        if (r.empty()) return std::nullopt;
        return r.front();
    }
    bool all_joined() {
        for (auto& c : clients) {
            auto r = room(c);
            if (!r || !r->joined) return false;
        }
        return true;
    }
    std::string relay_of(const std::string& who) {
        auto r = room(who);
        if (!r) return {};
        for (auto& x : relays)
            if (w.addr(x) == r->relay) return x;
        return {};
    }

    // The first client asks all the others (once the directory knows everyone's delays to
    // every relay); they accept; everyone joins.
    bool open_chat() {
        auto measured = [&] {
            auto cs = w.node("dir").dir->clients();
            std::size_t alive = 0;
            for (auto& r : w.node("dir").dir->relays()) alive += r.alive;
            return cs.size() == clients.size() &&
                   std::all_of(cs.begin(), cs.end(), [&](auto& c) { return c.delays.size() == alive; });
        };
        if (!w.run_until(measured, 10000)) return false;
        std::vector<std::string> others(clients.begin() + 1, clients.end());
        w.command(clients[0], room_cmd::Request{others, {}});
        for (auto& o : others) {
            if (!w.run_until([&] { return !w.node(o).client->invites().empty(); }, 10000)) return false;
            w.command(o, room_cmd::Accept{clients[0]});
        }
        if (w.run_until([&] { return all_joined(); }, 10000)) return true;
        // Why not: what the directory knows of everyone's delays.
        for (auto& c : w.node("dir").dir->clients()) {
            std::string d;
            for (auto& [k, v] : c.delays) d += " " + to_hex(ByteView(k).first(2)) + "=" + std::to_string(v);
            std::fprintf(stderr, "directory: %s delays%s\n", c.user.c_str(), d.c_str());
        }
        for (auto& c : clients)
            for (auto& e : rolesim::events_of<room_ev::RequestStage>(w.node(c)))
                std::fprintf(stderr, "%s: request %s: %s %s\n", c.c_str(), e.user.c_str(), stage_name(e.stage), e.detail.c_str());
        return false;
    }

    std::vector<dir_ev::ChatMoved> moves() {
        std::vector<dir_ev::ChatMoved> v;
        for (auto& [t, e] : w.node("dir").dir_events)
            if (auto* m = std::get_if<dir_ev::ChatMoved>(&e)) v.push_back(*m);
        return v;
    }

    // Every client writes a numbered line every `every` ms for `duration` ms.
    std::map<std::string, int> written;
    void chatter(TimeMs duration, TimeMs every, const std::function<void(TimeMs)>& at_step = {}) {
        const TimeMs end = w.now() + duration;
        while (w.now() < end) {
            for (auto& c : clients)
                if (auto r = room(c)) w.command(c, room_cmd::Send{r->room, c + "-" + std::to_string(written[c]++)});
            if (at_step) at_step(w.now());
            w.run_for(every);
        }
    }

    // Every line of every other author arrived at `who` exactly once, in order.
    void check_delivery(const std::string& who) {
        auto got = rolesim::lines(w.node(who));
        for (auto& a : clients) {
            if (a == who) continue;
            std::vector<std::string> from_a;
            for (auto& [author, text] : got)
                if (author == a) from_a.push_back(text);
            std::vector<std::string> want;
            for (int i = 0; i < written[a]; ++i) want.push_back(a + "-" + std::to_string(i));
            std::string diff;
            for (std::size_t i = 0; i < std::max(from_a.size(), want.size()) && diff.empty(); ++i)
                if (i >= from_a.size() || i >= want.size() || from_a[i] != want[i])
                    diff = "first difference at " + std::to_string(i) + ": got " + (i < from_a.size() ? from_a[i] : "-") +
                           ", want " + (i < want.size() ? want[i] : "-");
            INFO(who << " from " << a << ": got " << from_a.size() << " lines, want " << want.size() << "; " << diff);
            CHECK(from_a == want);
        }
    }
};

}  // namespace

TEST_CASE("min-max places the chat on the relay best for everyone and follows a clear change of latencies") {
    SIM_SEED(101);
    Scene s(seed, 3, {"alice", "bob"}, Link{20, 1, 0});
    s.latency_to("r1", {10, 10});  // max rtt 20
    s.latency_to("r2", {25, 5});   // max rtt 50
    s.latency_to("r3", {40, 40});  // max rtt 80
    s.w.run_for(3000);
    REQUIRE(s.open_chat());
    CHECK(s.relay_of("alice") == "r1");
    CHECK(s.relay_of("bob") == "r1");
    s.chatter(6000, 200);
    CHECK(s.moves().empty());

    // alice's path to r1 gets slow: r1's max becomes ~90 ms, r2's stays ~50 ms.
    s.latency_to("r1", {45, 10});
    s.chatter(12000, 200);
    auto m = s.moves();
    REQUIRE(m.size() == 1);
    CHECK(m[0].reason == MoveReason::better);
    CHECK(m[0].to == s.w.addr("r2"));
    CHECK(m[0].old_ms > m[0].new_ms);
    CHECK(s.relay_of("alice") == "r2");
    CHECK(s.relay_of("bob") == "r2");
    auto shown = rolesim::events_of<room_ev::RoomMoved>(s.w.node("bob"));
    REQUIRE(shown.size() == 1);
    CHECK(shown[0].reason == MoveReason::better);
    s.w.run_for(3000);
    s.check_delivery("alice");
    s.check_delivery("bob");
}

// Two relays that swap places every 3 s, `gap` ms apart one way (2 x gap rtt): each is
// better half of the time. Returns the number of moves in a minute of chatting.
std::size_t swaps(Scene& s, TimeMs gap) {
    s.latency_to("r1", {10, 10});
    s.latency_to("r2", {10 + gap, 10 + gap});
    s.w.run_for(3000);
    REQUIRE(s.open_chat());
    for (int i = 0; i < 20; ++i) {
        const TimeMs r1 = i % 2 ? 10 : 10 + gap, r2 = i % 2 ? 10 + gap : 10;
        s.latency_to("r1", {r1, r1});
        s.latency_to("r2", {r2, r2});
        s.chatter(3000, 500);
    }
    return s.moves().size();
}

TEST_CASE("hysteresis: two relays within the margin never trade the chat back and forth") {
    SIM_SEED(102);
    SUBCASE("2 ms apart, links jittering by up to 2 ms (rtt)") {
        Scene s(seed, 2, {"alice", "bob"}, Link{10, 1, 0});
        CHECK(swaps(s, 1) == 0);
        CHECK(rolesim::events_of<room_ev::RoomMoved>(s.w.node("alice")).empty());
        // A clear difference does move it, once.
        const std::string first = s.relay_of("alice");
        s.latency_to(first, {40, 40});
        s.chatter(10000, 500);
        CHECK(s.moves().size() == 1);
        CHECK(s.relay_of("alice") != first);
        s.w.run_for(3000);
        s.check_delivery("alice");
        s.check_delivery("bob");
    }
    SUBCASE("4 ms apart (17 %), steady links") {
        Scene s(seed, 2, {"alice", "bob"}, Link{10, 0, 0});
        CHECK(swaps(s, 2) == 0);
    }
}

TEST_CASE("without hysteresis and dwell the same relays flap (the test above can fail)") {
    SIM_SEED(107);
    DirectoryConfig dc;
    dc.hysteresis = Hysteresis{1, 0.0};
    dc.min_dwell = 0;
    Scene s(seed, 2, {"alice", "bob"}, Link{10, 0, 0}, dc);
    CHECK(swaps(s, 2) >= 10);
    s.w.run_for(3000);
    s.check_delivery("alice");
    s.check_delivery("bob");
}

TEST_CASE("a chat moved for being better stays min_dwell before it moves again for being better") {
    SIM_SEED(103);
    Scene s(seed, 2, {"alice", "bob"}, Link{10, 0, 0});
    s.latency_to("r1", {10, 10});
    s.latency_to("r2", {30, 30});
    s.w.run_for(3000);
    REQUIRE(s.open_chat());
    REQUIRE(s.relay_of("alice") == "r1");
    s.w.run_for(6000);
    s.latency_to("r1", {30, 30});
    s.latency_to("r2", {10, 10});
    REQUIRE(s.w.run_until([&] { return s.moves().size() == 1; }, 6000));
    const TimeMs moved = s.w.now();
    // Right after the move, r1 becomes clearly better again: it must wait min_dwell (5 s).
    s.latency_to("r1", {5, 5});
    s.latency_to("r2", {30, 30});
    REQUIRE(s.w.run_until([&] { return s.moves().size() == 2; }, 15000));
    CHECK(s.w.now() - moved >= 5000);
}

TEST_CASE("a relay crashes mid-conversation: every line arrives exactly once and in order (lossy links)") {
    SIM_SEED(104);
    for (std::uint64_t k = 0; k < 4; ++k) {
        const std::uint64_t run = seed + k;
        CAPTURE(run);
        Scene s(run, 3, {"alice", "bob"}, Link{8, 6, 0.05});
        s.w.run_for(3000);
        REQUIRE(s.open_chat());
        const std::string first = s.relay_of("alice");
        s.chatter(3000, 150);
        s.w.kill(first);
        s.chatter(3000, 150);  // lines written during the outage
        CHECK(s.w.run_until([&] { return s.relay_of("alice") != first && s.relay_of("bob") == s.relay_of("alice"); }, 5000));
        s.chatter(3000, 150);
        s.w.run_for(5000);
        s.check_delivery("alice");
        s.check_delivery("bob");
        // (Jittery links may also have moved it for being better before the crash.)
        auto m = s.moves();
        CHECK(std::any_of(m.begin(), m.end(), [](auto& x) { return x.reason == MoveReason::relay_died; }));
        CHECK(s.room("alice")->unacked == 0);
    }
}

TEST_CASE("two relays crash one after the other while latencies change; a room of three keeps every line") {
    SIM_SEED(105);
    Scene s(seed, 4, {"alice", "bob", "carol"}, Link{12, 4, 0.02});
    s.w.run_for(3000);
    REQUIRE(s.open_chat());
    std::string first = s.relay_of("alice");
    s.chatter(2000, 200);
    s.w.kill(first);
    s.chatter(3000, 200, [&](TimeMs) { s.latency_to("r4", {30, 30, 30}); });
    std::string second = s.relay_of("alice");
    REQUIRE(!second.empty());
    CHECK(second != first);
    s.w.kill(second);
    s.chatter(4000, 200);
    CHECK(s.relay_of("alice") != second);
    CHECK(s.relay_of("carol") == s.relay_of("alice"));
    // The first relay comes back (restarted, empty): the chat may move back only if clearly better.
    s.w.restart(first);
    s.chatter(8000, 200);
    s.w.run_for(5000);
    for (auto& c : s.clients) s.check_delivery(c);
    // One move per crash; any other move was to a clearly better relay (hysteresis).
    auto m = s.moves();
    CHECK(std::count_if(m.begin(), m.end(), [](auto& x) { return x.reason == MoveReason::relay_died; }) == 2);
    for (auto& mv : m)
        if (mv.reason != MoveReason::relay_died) {
            CHECK(mv.reason == MoveReason::better);
            CHECK(mv.new_ms + 5 <= mv.old_ms);
        }
}

TEST_CASE("the directory is down while a relay dies: the chat moves when the directory is back") {
    SIM_SEED(106);
    Scene s(seed, 2, {"alice", "bob"}, Link{10, 2, 0});
    s.w.run_for(3000);
    REQUIRE(s.open_chat());
    const std::string first = s.relay_of("alice");
    s.w.kill("dir");
    s.chatter(2000, 200);
    s.w.kill(first);
    s.chatter(3000, 200);  // nowhere to go: lines wait in the outboxes
    CHECK(s.relay_of("alice") == first);
    s.w.restart("dir");
    s.chatter(6000, 200);
    CHECK(s.relay_of("alice") != first);
    CHECK(s.relay_of("bob") == s.relay_of("alice"));
    s.w.run_for(5000);
    s.check_delivery("alice");
    s.check_delivery("bob");
}
