// Liveness alone: probe rounds, pongs, fresh pings, backoff, time passed in.
#include "core/liveness.hpp"

#include <doctest/doctest.h>

#include <algorithm>

using namespace dc;
using core::Liveness;
using core::Probe;

namespace {

core::Config config() {
    core::Config c;
    c.probe_interval = 1000;
    c.probe_interval_max = 2000;
    c.probe_timeout = 500;
    c.indirect_timeout = 3000;
    c.retry_initial = 1000;
    c.retry_max = 30000;
    return c;
}

SessionId session(std::uint8_t b) {
    SessionId s{};
    s[0] = b;
    return s;
}

const SessionId kMe = session(5);
const SessionId kHigher = session(9);  // we probe it
const SessionId kLower = session(1);   // it probes us

auto draw = [] { return std::uint64_t{0x1234}; };

}  // namespace

TEST_CASE("the prober starts a round after probe_interval of silence, the other side waits longer") {
    auto cfg = config();
    Liveness l(cfg, kMe, 1);
    Probe p;
    l.declared(p, 0, true);
    CHECK(l.step(p, kHigher, 999, draw) == Liveness::nothing);
    CHECK(l.wakeup(p, kHigher) == 1000);
    CHECK(l.step(p, kHigher, 1000, draw) == Liveness::ping);
    CHECK(p.started == 1000);
    CHECK(p.nonce != 0);

    Probe q;
    l.declared(q, 0, true);
    CHECK(l.wakeup(q, kLower) == 2000 + 2 * 500);  // the prober's longest interval and two more pings
    CHECK(l.step(q, kLower, 2999, draw) == Liveness::nothing);
    CHECK(l.step(q, kLower, 3000, draw) == Liveness::ping);
}

TEST_CASE("an unanswered round pings every probe_timeout, asks neighbours, and gives up after indirect_timeout") {
    auto cfg = config();
    Liveness l(cfg, kMe, 1);
    Probe p;
    l.declared(p, 0, true);
    CHECK(l.step(p, kHigher, 1000, draw) == Liveness::ping);
    CHECK(l.wakeup(p, kHigher) == 1500);
    CHECK(l.step(p, kHigher, 1500, draw) == (Liveness::ping | Liveness::ask_neighbours));
    CHECK(l.step(p, kHigher, 2000, draw) == Liveness::ping);
    CHECK(l.step(p, kHigher, 2500, draw) == (Liveness::ping | Liveness::ask_neighbours));
    CHECK(p.pings == 4);
    CHECK(l.step(p, kHigher, 4000, draw) == Liveness::lost);
    CHECK(p.started == 0);
    CHECK(p.retry_at == 5000);
}

TEST_CASE("only a pong echoing the round's challenge counts, once; a steady link is probed less often") {
    auto cfg = config();
    Liveness l(cfg, kMe, 1);
    Probe p;
    l.declared(p, 0, true);
    REQUIRE(l.step(p, kHigher, 1000, draw) == Liveness::ping);
    bool steady = false;
    CHECK_FALSE(l.pong(p, p.nonce + 1, steady));
    CHECK_FALSE(l.pong(p, 0, steady));
    std::uint64_t n = p.nonce;
    CHECK(l.pong(p, n, steady));
    CHECK(steady);
    CHECK_FALSE(l.pong(p, n, steady));  // single use
    l.heard(p, 1010);
    l.after_pong(p, steady);
    CHECK(p.gap == 2000);
    CHECK(l.wakeup(p, kHigher) == 1010 + 2000);
    l.after_pong(p, false);
    CHECK(p.gap == 1000);
}

TEST_CASE("ping challenges only grow, also across a restart; a ping is fresh only when higher than any before") {
    auto cfg = config();
    Liveness a(cfg, kMe, 1);
    auto n1 = a.ping_nonce(1000, 0xffff);
    auto n2 = a.ping_nonce(1000, 0);
    CHECK(n2 > n1);
    Liveness restarted(cfg, kMe, 1);
    CHECK(restarted.ping_nonce(2000, 0) > n2);

    Probe p;
    CHECK(a.fresh_ping(p, n1));
    CHECK_FALSE(a.fresh_ping(p, n1));  // a replay
    CHECK(a.fresh_ping(p, n2));
    Probe q;
    a.restart(q, 120000);  // pings from more than a minute before our start are replays
    CHECK_FALSE(a.fresh_ping(q, n2));
}

TEST_CASE("a lost session is knocked on with backoff, up to retry_max") {
    auto cfg = config();
    Liveness l(cfg, kMe, 1);
    Probe p;
    l.restart(p, 0);
    CHECK_FALSE(l.retry_due(p, 999));
    CHECK(l.retry_due(p, 1000));
    std::vector<TimeMs> gaps;
    for (int i = 0; i < 7; ++i) {
        l.back_off(p, 0);
        gaps.push_back(p.retry_gap);
    }
    CHECK(gaps == std::vector<TimeMs>{2000, 4000, 8000, 16000, 30000, 30000, 30000});
    l.back(p);
    CHECK(p.retry_gap == 0);
    l.back_off(p, 0);
    CHECK(p.retry_gap == 1000);
}

TEST_CASE("common neighbours: at most three, without repeats, the same for the same seed") {
    auto cfg = config();
    std::vector<Addr> v;
    for (std::uint8_t i = 1; i <= 6; ++i) v.push_back(Addr::v4(127, 0, 0, i, 1000));
    v.push_back(v.front());
    Liveness a(cfg, kMe, 42), b(cfg, kMe, 42);
    auto pa = a.pick_neighbours(v);
    CHECK(pa.size() == 3);
    CHECK(pa == b.pick_neighbours(v));
    std::sort(pa.begin(), pa.end());
    CHECK(std::unique(pa.begin(), pa.end()) == pa.end());
    CHECK(a.pick_neighbours({v[0], v[0]}).size() == 1);
}
