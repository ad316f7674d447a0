// Presence on simulated networks of real core::Nodes: what every user knows of
// its two-hop neighbourhood, and how changes travel (seed 001, 3.1 and 2.2).
#include "sim_support.hpp"

#include <algorithm>

using namespace dc;
using namespace dc::sim;
using dc::simtest::Net;
using dc::simtest::options;

namespace {

// Runs until every node in `who` passes `check` (tested every millisecond);
// returns how long that took, or -1.
template <typename F>
TimeMs time_until_all(Simulator& sim, const std::vector<NodeId>& who, F check, TimeMs limit) {
    TimeMs t0 = sim.now();
    auto t = sim.run_until(
        [&] {
            for (auto i : who)
                if (!check(i)) return false;
            return true;
        },
        limit, 1);
    return t ? *t - t0 : -1;
}

// The users within two hops of graph node x (through users that are up) that are up.
std::vector<NodeId> up_sphere(Net& net, std::uint32_t x) {
    std::vector<bool> up(net.g.size());
    for (std::size_t i = 0; i < up.size(); ++i) up[i] = net.sim.peer(net.ids[i]).up;
    std::vector<NodeId> out;
    for (auto u : net.g.sphere(x, &up))
        if (up[u]) out.push_back(net.ids[u]);
    return out;
}

}  // namespace

TEST_CASE("figure 3: every user knows its contacts and its contacts' contacts, and no one further") {
    SIM_SEED(3);
    // Small enough for libsodium's Ed25519 and sealed boxes.
    Net net(options(seed, CryptoKind::real), figure3());
    auto v = net.views();
    CHECK_MESSAGE(v.ok(), v.summary());
    CHECK(v.checked == 26);  // every (user, user within two hops) pair of the figure
    // C is linked to all but E, and knows E through Q.
    auto e_at_c = net.sim.node(net["C"]).user("E");
    REQUIRE(e_at_c);
    CHECK_FALSE(e_at_c->contact);
    CHECK(e_at_c->two_hop);
    CHECK(e_at_c->via == std::vector<std::string>{"Q"});
    // E is three hops from A and B.
    CHECK_FALSE(net.sim.node(net["A"]).user("E"));
    CHECK_FALSE(net.sim.node(net["B"]).user("E"));
    CHECK(net.sim.problems().empty());
}

TEST_CASE("a change of status reaches the whole two-hop sphere within two link delays") {
    SIM_SEED(11);
    Net net(options(seed), random_graph(80, 6, Rng(seed)));
    const TimeMs two_hops = 2 * (net.sim.net().latency + net.sim.net().jitter);
    // Two users more than two hops apart: the first one's restart must not
    // touch the second one's sphere (a restarted user's own view of its
    // two-hop neighbourhood is wrong: sim report 2).
    std::uint32_t far = 1;
    auto near = net.g.sphere(0);
    while (std::binary_search(near.begin(), near.end(), far)) ++far;
    for (std::uint32_t x : {0u, far}) {
        NodeId id = net.ids[x];
        auto sphere = up_sphere(net, x);
        CAPTURE(net.g.names[x]);
        REQUIRE(sphere.size() > 8);
        for (auto u : sphere) {
            CAPTURE(net.sim.peer(u).name);
            REQUIRE(sees_online_at(net.sim, u, id));
        }
        // \quit: declareOffline to the contacts, who pass it on one hop.
        net.sim.quit(id);
        TimeMs t = time_until_all(net.sim, sphere, [&](NodeId i) { return !sees_online(net.sim, i, net.g.names[x]); }, 1000);
        CHECK(t >= 0);
        CHECK(t <= two_hops);
        // Back at another address: the same session, a newer declaration.
        net.sim.move(id);
        net.sim.start(id);
        t = time_until_all(net.sim, sphere, [&](NodeId i) { return sees_online_at(net.sim, i, id); }, 1000);
        CHECK(t >= 0);
        CHECK(t <= two_hops);
        net.sim.run_for(3000);
    }
    CHECK(net.sim.problems().empty());
}

TEST_CASE("\\explode reaches the radius-2 sphere once per node, and the originator learns every node in it") {
    SIM_SEED(5);
    // \\explode needs no settled network: it reaches the sphere through contacts.
    Net net(options(seed), random_graph(100, 6, Rng(seed)), {}, {}, 3000);
    for (std::uint32_t x : {7u, 70u}) {
        NodeId id = net.ids[x];
        auto sphere = up_sphere(net, x);
        CAPTURE(net.g.names[x]);
        std::size_t declarations = 0;
        net.sim.on_transmit = [&](NodeId, const core::Transmit& t) {
            auto p = wire::parse_packet(t.data);
            if (p && (p->header.type == wire::MsgType::declare_online || p->header.type == wire::MsgType::declare_offline))
                ++declarations;
        };
        net.sim.peer(id).events.clear();
        net.sim.command(id, core::cmd::Explode{});
        net.sim.run_for(500);
        net.sim.on_transmit = nullptr;
        auto answers = events_of<core::ev::Explored>(net.sim.peer(id));
        REQUIRE_FALSE(answers.empty());
        CHECK(answers.back().answers == sphere.size());
        for (auto u : sphere) {
            CAPTURE(net.sim.peer(u).name);
            CHECK(sees_online_at(net.sim, id, u));
        }
        // Handled once per node: the push along every path of length at most
        // two, and one answer from every node reached.
        std::size_t paths = net.g.adj[x].size();
        for (auto w : net.g.adj[x]) paths += net.g.adj[w].size() - 1;
        CHECK(declarations <= paths + sphere.size());
        net.sim.run_for(2000);
    }
    CHECK(net.sim.problems().empty());
}

TEST_CASE("a user that \\pings and then \\adds another learns its new contact's neighbourhood at once") {
    // (Fixed in 251f151: the declaration \ping brought was not newer when the
    // \add made its author a contact, so nobody asked for its neighbourhood
    // until the next refresh, 60 s later.)
    SIM_SEED(19);
    Net net(options(seed), figure3(), {}, {}, 3000);
    auto v = net.views();
    CHECK_MESSAGE(v.ok(), v.summary());
}

TEST_CASE("a user restarted from its store sees its two-hop neighbourhood as it is") {
    // Sessions from the snapshot start as lost; two-hop ones are not probed,
    // so their status comes from the contacts' answers at start-up (each
    // contact says which of them it sees online), well before a refresh.
    SIM_SEED(31);
    Net net(options(seed), figure3());
    REQUIRE(net.views().ok());
    net.sim.crash(net["A"]);
    net.sim.run_for(100);
    net.sim.start(net["A"]);
    net.sim.run_for(2000);
    CHECK(sees_online(net.sim, net["A"], "Q"));
    CHECK(sees_online(net.sim, net["A"], "R"));
    auto v = net.views();
    CHECK_MESSAGE(v.ok(), v.summary());
}

TEST_CASE("two-hop knowledge does not depend on which end made a link") {
    // Links are edges of an undirected graph: here only one end \adds.
    SIM_SEED(37);
    JoinPlan plan;
    plan.mutual = false;
    Net net(options(seed), random_graph(60, 6, Rng(seed)), {}, plan);
    auto v = net.views();
    CHECK_MESSAGE(v.ok(), v.summary());
    CHECK(net.sim.problems().empty());
}
