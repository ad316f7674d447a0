// The simulator itself: it replays, it models what it says it models, and it
// runs the very same core (fast crypto changes the speed, not the run).
#include "sim_support.hpp"

using namespace dc;
using namespace dc::sim;
using dc::simtest::Net;
using dc::simtest::options;

namespace {

struct RunDigest {
    std::uint64_t trace = 0;
    std::uint64_t sent = 0;
    std::uint64_t delivered = 0;
    std::uint64_t lost = 0;
    std::size_t events = 0;
    bool operator==(const RunDigest&) const = default;
};

// Links, loss, churn and a move: everything that draws from the seed.
RunDigest busy_run(std::uint64_t seed, CryptoKind crypto = CryptoKind::fast) {
    Options o = options(seed, crypto);
    o.net.loss = 0.02;
    o.net.spread = 5;
    Net net(o, social_graph(40, 6, Rng(seed)));
    net.sim.crash(net.ids[3]);
    net.sim.quit(net.ids[4]);
    net.sim.command(net.ids[5], core::cmd::Chat{"u6", "hello"});
    net.sim.run_for(3000);
    net.sim.move(net.ids[3]);
    net.sim.start(net.ids[3]);
    net.sim.start(net.ids[4]);
    net.sim.command(net.ids[7], core::cmd::Explode{});
    net.sim.run_for(5000);
    RunDigest d;
    d.trace = net.sim.trace_hash();
    d.sent = net.sim.totals().sent;
    d.delivered = net.sim.totals().delivered;
    d.lost = net.sim.totals().lost;
    for (NodeId i = 0; i < net.sim.size(); ++i) d.events += net.sim.peer(i).events.size();
    return d;
}

}  // namespace

TEST_CASE("the same seed gives the same run; another seed another") {
    SIM_SEED(61);
    auto a = busy_run(seed), b = busy_run(seed), c = busy_run(seed + 1);
    CHECK(a == b);
    CHECK(a.trace != c.trace);
    CHECK(a.lost > 0);
}

TEST_CASE("fast crypto changes the speed of a run, not the run") {
    SIM_SEED(67);
    // Same seed, same sizes on the wire: the same datagrams at the same times.
    auto fast = busy_run(seed, CryptoKind::fast), real = busy_run(seed, CryptoKind::real);
    CHECK(fast.sent == real.sent);
    CHECK(fast.delivered == real.delivered);
    CHECK(fast.lost == real.lost);
    CHECK(fast.events == real.events);
}

TEST_CASE("datagrams are delayed and cut off as modelled") {
    SIM_SEED(71);
    Options o = options(seed);
    o.net.jitter = 0;
    Simulator sim(o);
    NodeId a = sim.add("alice"), b = sim.add("bob");
    sim.start(a);
    sim.start(b);
    // \ping: a requestPing there, a declareOnline back: two one-way delays.
    TimeMs t0 = sim.now();
    sim.command(a, core::cmd::Ping{sim.peer(b).addr});
    auto answered = sim.run_until(
        [&] {
            for (auto& n : events_of<core::ev::Notice>(sim.peer(a)))
                if (n.text.find("ping: bob answered") != std::string::npos) return true;
            return false;
        },
        1000, 1);
    REQUIRE(answered);
    CHECK(*answered - t0 == 2 * o.net.latency);
    sim.command(a, core::cmd::Add{"bob"});
    sim.command(b, core::cmd::Add{"alice"});
    sim.run_for(1000);
    REQUIRE(sees_online(sim, a, "bob"));
    // A partition: nothing crosses it.
    auto before = sim.totals();
    sim.partition({a});
    auto delivered = sim.totals().delivered;
    sim.run_for(7000);  // past the detection bound (darkchat-protocol(7), LIVENESS)
    CHECK(sim.totals().delivered == delivered);
    CHECK(sim.totals().partitioned > before.partitioned);
    CHECK_FALSE(sees_online(sim, a, "bob"));
    sim.heal();
    sim.run_for(35000);
    CHECK(sees_online(sim, a, "bob"));
    CHECK(sim.problems().empty());
}

TEST_CASE("a datagram is lost with the modelled probability, and every other one arrives") {
    SIM_SEED(89);
    Net net(options(seed), random_graph(30, 6, Rng(seed)), {}, {}, 3000);
    net.sim.net().loss = 0.1;
    auto before = net.sim.totals();
    net.sim.run_for(60000);
    auto& now = net.sim.totals();
    double sent = static_cast<double>(now.sent - before.sent), lost = static_cast<double>(now.lost - before.lost);
    REQUIRE(sent > 5000);
    // Binomial: three standard deviations are under 0.013 here.
    CHECK(lost / sent == doctest::Approx(0.1).epsilon(0.15));
    // Nobody is down or cut off: what is not lost arrives (or is still in flight).
    double arrived = static_cast<double>(now.delivered - before.delivered);
    CHECK(arrived + lost <= sent + 100);
    CHECK(arrived + lost >= sent - 100);
    CHECK(now.dead == before.dead);
    CHECK(now.partitioned == before.partitioned);
}

TEST_CASE("a crashed user restarts from what it stored and finds its contacts without help") {
    SIM_SEED(73);
    Net net(options(seed), figure3());
    NodeId c = net["C"];
    net.sim.crash(c);
    net.sim.run_for(7000);  // past the detection bound (darkchat-protocol(7), LIVENESS)
    CHECK_FALSE(sees_online(net.sim, net["A"], "C"));
    net.sim.start(c);  // from its store: no \ping, no server
    net.sim.run_for(100);
    for (auto name : {"A", "B", "Q", "R"}) {
        CAPTURE(name);
        CHECK(sees_online_at(net.sim, c, net[name]));
        CHECK(sees_online_at(net.sim, net[name], c));
    }
    CHECK(net.sim.peer(c).starts == 2);
}

TEST_CASE("a user that moves is found at its new address by its contacts and theirs (seed 001, 3.1)") {
    SIM_SEED(79);
    // "Node R and Node E have lost their connection to each other": E changes
    // address; R learns it through Q, and C (two hops from E) learns it too.
    Net net(options(seed), figure3());
    NodeId e = net["E"];
    Addr old = net.sim.peer(e).addr;
    net.sim.move(e);
    REQUIRE(net.sim.peer(e).addr != old);
    net.sim.run_for(100);
    CHECK(sees_online_at(net.sim, net["Q"], e));
    CHECK(sees_online_at(net.sim, net["C"], e));
    CHECK(sees_online_at(net.sim, net["R"], e));
}
