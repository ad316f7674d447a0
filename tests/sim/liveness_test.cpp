// Liveness on simulated networks (darkchat-protocol(7), LIVENESS): of two
// contacts one probes (the smaller session id), every 1 s growing to 2 s while
// the link is steady; the other takes its fresh pings for proof of life and
// probes itself after 3 s without one. A probe round pings every 0.5 s and asks
// common neighbours after the first miss; 3 s without any answer: offline.
#include "sim_support.hpp"

#include <set>

using namespace dc;
using namespace dc::sim;
using dc::simtest::Net;
using dc::simtest::options;

namespace {

// The answering side's wait (probe_interval_max + 2 probe_timeout) plus
// indirect_timeout, plus the up-to-one-timer-round slack the unit tests allow.
constexpr TimeMs kDetectionBound = 2000 + 2 * 500 + 3000 + 500;
// Liveness is between contacts, who know each other as soon as the links are
// made: no need to wait for the two-hop views to settle.
constexpr TimeMs kSettleContacts = 3000;

// Who showed whom offline, and when.
struct OfflineLog {
    struct Entry {
        NodeId observer;
        std::string user;
        SessionId session;
        TimeMs at;
        std::string why;
    };
    std::vector<Entry> entries;
    void attach(Simulator& sim) {
        sim.on_event = [this, &sim](NodeId i, const core::Event& e) {
            if (auto* p = std::get_if<core::ev::Presence>(&e); p && !p->online)
                entries.push_back({i, p->user, p->session, sim.now(), p->why});
        };
    }
    // Offline events about users that were up at the time, with this session.
    std::vector<Entry> false_ones(Simulator& sim, TimeMs since = 0) const {
        std::vector<Entry> out;
        for (auto& e : entries) {
            if (e.at < since) continue;
            auto who = sim.find(e.user);
            if (who && sim.peer(*who).up && sim.peer(*who).id.session == e.session) out.push_back(e);
        }
        return out;
    }
};

std::string describe(Simulator& sim, const std::vector<OfflineLog::Entry>& es) {
    std::string s;
    for (std::size_t k = 0; k < es.size() && k < 8; ++k)
        s += "\n  " + sim.peer(es[k].observer).name + " showed " + es[k].user + " offline at " +
             std::to_string(es[k].at - sim.options().start) + " ms (" + es[k].why + ")";
    return s;
}

// Crashes k users more than two hops apart and checks that every contact of
// each shows it offline within the documented bound.
void crash_and_check(Net& net, OfflineLog& log, const std::vector<std::uint32_t>& victims) {
    TimeMs t0 = net.sim.now();
    for (auto v : victims) net.sim.crash(net.ids[v]);
    net.sim.run_for(kDetectionBound + 2000);
    for (auto v : victims) {
        const Peer& x = net.sim.peer(net.ids[v]);
        for (auto c : net.g.adj[v]) {
            if (!net.sim.peer(net.ids[c]).up) continue;
            TimeMs seen = -1;
            for (auto& e : log.entries)
                if (e.observer == net.ids[c] && e.user == x.name && e.session == x.id.session && e.at >= t0) {
                    seen = e.at - t0;
                    break;
                }
            CAPTURE(x.name);
            CAPTURE(net.g.names[c]);
            CHECK(seen >= 0);
            CHECK(seen <= kDetectionBound);
            CHECK_FALSE(sees_online(net.sim, net.ids[c], x.name));
        }
    }
}

}  // namespace

TEST_CASE("a crashed user is seen offline by all its contacts within the documented bound") {
    SIM_SEED(41);
    Net net(options(seed), random_graph(80, 8, Rng(seed)), {}, {}, kSettleContacts);
    OfflineLog log;
    log.attach(net.sim);
    crash_and_check(net, log, {0, 40});
    auto wrong = log.false_ones(net.sim);
    CHECK_MESSAGE(wrong.empty(), describe(net.sim, wrong));
    CHECK(net.sim.problems().empty());
}

TEST_CASE("a crashed user is seen offline by all its contacts even under 5% loss") {
    SIM_SEED(43);
    Net net(options(seed), social_graph(80, 8, Rng(seed)), {}, {}, kSettleContacts);
    net.sim.net().loss = 0.05;
    OfflineLog log;
    log.attach(net.sim);
    net.sim.run_for(5000);
    crash_and_check(net, log, {5, 50});
    CHECK(net.sim.problems().empty());
}

TEST_CASE("a crashed user that comes back is seen online again by its contacts at once") {
    SIM_SEED(47);
    Net net(options(seed), random_graph(50, 6, Rng(seed)), {}, {}, kSettleContacts);
    NodeId x = net.ids[10];
    net.sim.crash(x);
    net.sim.run_for(kDetectionBound + 1000);
    for (auto c : net.g.adj[10]) REQUIRE_FALSE(sees_online(net.sim, net.ids[c], "u10"));
    net.sim.start(x);  // same address: it declares itself to every remembered session
    net.sim.run_for(2 * (net.sim.net().latency + net.sim.net().jitter));
    for (auto c : net.g.adj[10]) {
        CAPTURE(net.g.names[c]);
        CHECK(sees_online_at(net.sim, net.ids[c], x));
    }
    CHECK(net.sim.problems().empty());
}

TEST_CASE("a slow but alive user is not taken for offline, and nor is anyone else, under 5% loss") {
    // On a random graph contacts rarely share a neighbour, so a probe round
    // rests on its own pings: six of them, 0.5 s apart, before a session is
    // shown offline (three used to give 16.6 false offlines per user-hour).
    SIM_SEED(53);
    Net net(options(seed), random_graph(100, 8, Rng(seed)), {}, {}, kSettleContacts);
    net.sim.net().loss = 0.05;
    NodeId slow = net.ids[0];
    net.sim.set_slow(slow, 150, 0.0);  // 170 ms round trips on top of the loss
    OfflineLog log;
    log.attach(net.sim);
    TimeMs t0 = net.sim.now();
    net.sim.run_for(300000);
    auto wrong = log.false_ones(net.sim, t0);
    CHECK_MESSAGE(wrong.empty(), wrong.size() << " false offline events in 5 minutes:" << describe(net.sim, wrong));
}

TEST_CASE("a slow but alive user is never taken for offline") {
    SIM_SEED(59);
    // 150 ms more each way: 320 ms round trips, within the 500 ms a probe
    // waits before asking common neighbours, far within the 1.5 s bound.
    Net net(options(seed), random_graph(50, 8, Rng(seed)), {}, {}, kSettleContacts);
    NodeId slow = net.ids[0];
    net.sim.set_slow(slow, 150, 0.0);
    OfflineLog log;
    log.attach(net.sim);
    TimeMs t0 = net.sim.now();
    net.sim.run_for(60000);
    auto wrong = log.false_ones(net.sim, t0);
    CHECK_MESSAGE(wrong.empty(), wrong.size() << " false offline events in a minute:" << describe(net.sim, wrong));
    for (auto c : net.g.adj[0]) CHECK(sees_online_at(net.sim, net.ids[c], slow));
    // And a crash of the slow user is still found out.
    crash_and_check(net, log, {0});
    CHECK(net.sim.problems().empty());
}
