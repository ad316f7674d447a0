// Internal to the core: liveness. Of two sessions that watch each other only
// one probes (the one with the smaller session id, the "prober"); a fresh ping
// from it is proof of life for the other, which probes only when the pings
// stop. A probe round pings every probe_timeout, all with the round's
// challenge (a late pong to any of them will do), and asks common neighbours
// to reach the session after the first unanswered ping and every other one
// after that; nothing at all for indirect_timeout and the session is lost.
// A lost session is knocked on again with backoff until it answers.
//
// This part owns each session's probe state (Probe, kept in the session's
// entry) and decides when to ping, ask, give up and retry; the node sends what
// it says and tells presence. Time is passed in.
#pragma once

#include "darkchat/core.hpp"
#include "core/rng.hpp"

#include <vector>

namespace dc::core {

struct Probe {
    TimeMs last_heard = 0;     // last verified packet from the session
    std::uint64_t nonce = 0;   // the challenge of the round under way
    TimeMs started = 0;        // 0: no round under way
    TimeMs next_ping = 0;
    TimeMs next_indirect = 0;  // next requestPing through common neighbours
    TimeMs gap = 0;            // silence before the next round (backs off while the link is steady)
    std::uint64_t last_ping_in = 0;  // highest ping nonce the session sent us: a higher one is fresh
    TimeMs retry_at = 0;       // a lost session's next knock
    TimeMs retry_gap = 0;
    unsigned pings = 0;        // pings sent in this round
};

class Liveness {
public:
    Liveness(const Config& cfg, const SessionId& self, std::uint64_t rng_seed)
        : cfg_(cfg), self_(self), rng_(rng_seed) {}

    // What a step of a probe round asks the node to do (a set of these).
    enum Step : unsigned { nothing = 0, ping = 1, ask_neighbours = 2, lost = 4 };

    // The next step of probing an online session at `now`. draw() gives an
    // unpredictable number (the low bits of a new round's challenge); it is
    // called only when a round starts.
    template <typename Draw>
    unsigned step(Probe& p, const SessionId& other, TimeMs now, Draw&& draw) {
        if (p.started == 0) {
            if (now < due(p, other)) return nothing;
            p.started = now;
            p.nonce = ping_nonce(now, draw());
            p.next_ping = now;
            p.next_indirect = now + cfg_.probe_timeout;
            p.pings = 0;
        }
        if (now - p.started >= cfg_.indirect_timeout) {
            p.started = 0;
            p.gap = cfg_.probe_interval;
            p.retry_gap = cfg_.retry_initial;
            p.retry_at = now + p.retry_gap;
            return lost;
        }
        unsigned out = nothing;
        if (now >= p.next_ping) {
            ++p.pings;
            p.next_ping = now + cfg_.probe_timeout;
            out |= ping;
        }
        if (now >= p.next_indirect) {
            p.next_indirect = now + 2 * cfg_.probe_timeout;
            out |= ask_neighbours;
        }
        return out;
    }

    // When an online session needs us next (its next round or the next step of this one).
    TimeMs wakeup(const Probe& p, const SessionId& other) const;

    // A pong echoing n: whether it answers the round's challenge (each once).
    // steady: the first ping of the round was answered (the link is probed less often).
    bool pong(Probe& p, std::uint64_t n, bool& steady) const;
    // After a pong has been taken as proof of life: the silence before the next round.
    void after_pong(Probe& p, bool steady) const;
    // A ping from the session: fresh (proof of life) when its nonce is higher than any before.
    bool fresh_ping(Probe& p, std::uint64_t n) const;

    // A verified packet from the session: it is alive, no round is under way.
    void heard(Probe& p, TimeMs now) const;
    // It was lost (or offline) and is back: probing and retries start over.
    void back(Probe& p) const;
    // A newer declaration from it; fresh: the first we hold of that session.
    void declared(Probe& p, TimeMs now, bool fresh) const;
    // Our start: knock on every remembered session soon; pings sent before we
    // started are no proof of life (replays).
    void restart(Probe& p, TimeMs now) const;

    // A lost session's knock is due.
    bool retry_due(const Probe& p, TimeMs now) const { return now >= p.retry_at; }
    // After a knock: the next one backs off.
    void back_off(Probe& p, TimeMs now) const;

    // At most kIndirectProbes of the candidates (common neighbours), without
    // repeats, in a random order.
    std::vector<Addr> pick_neighbours(std::vector<Addr> candidates);

    // Ping challenges grow strictly (time in the high bits, so also across
    // restarts), with random low bits: the receiver takes a higher one than it
    // has seen for fresh, and we still only accept a pong echoing the current one.
    std::uint64_t ping_nonce(TimeMs now, std::uint64_t random);

private:
    // Whether we are the side of this pair that probes.
    bool prober(const SessionId& other) const { return self_ < other; }
    // When a silent session gets its next probe round. The answering side waits
    // for the prober's longest interval and two more pings before it probes.
    TimeMs due(const Probe& p, const SessionId& other) const;

    static constexpr std::size_t kIndirectProbes = 3;  // common neighbours asked to reach a silent session
    const Config& cfg_;
    SessionId self_;
    std::uint64_t ping_counter_ = 0;
    // The shuffle of common neighbours: portable, so that a seed replays the
    // same probes with every standard library.
    Rng rng_;
};

}  // namespace dc::core
