// Resilience (scenario.hpp): a settled network, one upset, and every surviving pair's
// view sampled until it is right for good; chat lines sent meanwhile counted at their
// readers.

#include "sim/scenario.hpp"

#include <chrono>
#include <map>
#include <unordered_map>
#include <unordered_set>

namespace dc::sim {

const char* upset_name(Upset u) {
    switch (u) {
    case Upset::super_removed: return "super-client removed";
    case Upset::mass_crash: return "30% crash at once";
    case Upset::partition: return "cut in two halves, joined again";
    }
    return "?";
}

namespace {

constexpr TimeMs kStep = 250;

std::uint64_t pair_key(std::uint32_t v, std::uint32_t u) { return (std::uint64_t{v} << 32) | u; }

}  // namespace

Resilience resilience(Upset upset, const ResilienceOptions& o) {
    const auto wall0 = std::chrono::steady_clock::now();
    FigureOptions fo = o.net;
    fo.super_client = true;
    Simulator sim(sim_options(fo));
    Built b = build(sim, fo);
    const Graph& g = b.g;
    const auto& ids = b.ids;
    sim.run_for(15000);  // settle, as the figures do

    Resilience r;
    r.upset = upset;
    r.nodes = g.size();

    // Lines are counted where they are shown: a reader shows each one once.
    std::unordered_map<std::string, std::size_t> shown;  // text -> times shown to its reader
    std::unordered_map<std::string, NodeId> reader_of;
    sim.on_event = [&](NodeId i, const core::Event& e) {
        auto* m = std::get_if<core::ev::Message>(&e);
        if (!m || m->outgoing) return;
        auto it = reader_of.find(m->msg.text);
        if (it != reader_of.end() && it->second == i) ++shown[m->msg.text];
    };

    // side[v]: 1 for the half cut off (partition), else 0 (kept after the healing: pairs
    // across the cut are the ones that must find each other again); crashed: down for good.
    std::vector<int> side(g.size(), 0);
    std::vector<bool> crashed(g.size(), false);
    const TimeMs t_upset = sim.now();
    switch (upset) {
    case Upset::super_removed: sim.crash(*b.super); break;
    case Upset::mass_crash: {
        std::vector<std::uint32_t> order(g.size());
        for (std::uint32_t i = 0; i < g.size(); ++i) order[i] = i;
        sim.rng().shuffle(order);
        const auto n = static_cast<std::size_t>(o.crash_fraction * static_cast<double>(g.size()));
        for (std::size_t k = 0; k < n; ++k) {
            crashed[order[k]] = true;
            sim.crash(ids[order[k]]);
        }
        break;
    }
    case Upset::partition: {
        std::vector<NodeId> half;
        for (std::uint32_t v = 0; v < g.size(); ++v)
            if (v % 2) {  // the graphs are random: every other node is a random half
                side[v] = 1;
                half.push_back(ids[v]);
            }
        sim.partition(half);
        break;
    }
    }

    // Chat lines between linked users that are up, spread over the upset (and the cut).
    const TimeMs spread = upset == Upset::partition ? o.partition_ms : o.watch / 2;
    for (std::size_t k = 0; k < o.messages; ++k) {
        const TimeMs at = t_upset + static_cast<TimeMs>(sim.rng().below(static_cast<std::uint64_t>(spread)));
        sim.at(at, [&, k] {
            for (int tries = 0; tries < 32; ++tries) {
                const auto v = static_cast<std::uint32_t>(sim.rng().below(g.size()));
                if (crashed[v] || g.adj[v].empty()) continue;
                const auto u = g.adj[v][sim.rng().below(g.adj[v].size())];
                if (crashed[u]) continue;
                const std::string text = "line " + std::to_string(k);
                reader_of[text] = ids[u];
                shown[text];
                ++r.sent;
                sim.command(ids[v], core::cmd::Chat{g.names[u], text});
                return;
            }
        });
    }

    // The contacts each observer must never see offline: both up and on one side
    // throughout (checked from the upset, or from the healing for a partition).
    std::unordered_set<std::uint64_t> falsely_offline;
    const auto watch_false = [&] {
        for_each_view(sim, g, ids, o.stride, [&](std::uint32_t v, std::uint32_t u, bool contact, Seen seen) {
            if (contact && seen == Seen::wrong_status && !crashed[u] && side[u] == side[v])
                falsely_offline.insert(pair_key(v, u));
        });
    };
    TimeMs t0 = t_upset;
    if (upset == Upset::partition) {
        for (TimeMs t = 0; t < o.partition_ms; t += kStep) {
            sim.run_for(kStep);
            watch_false();
        }
        sim.heal();
        t0 = sim.now();
    }

    // Every surviving pair: the last sample in which it was wrong.
    std::unordered_map<std::uint64_t, TimeMs> last_bad;
    std::unordered_map<std::uint64_t, Seen> seen_now;
    for (TimeMs t = 0; t < o.watch; t += kStep) {
        sim.run_for(kStep);
        seen_now.clear();
        for_each_view(sim, g, ids, o.stride, [&](std::uint32_t v, std::uint32_t u, bool contact, Seen seen) {
            const std::uint64_t key = pair_key(v, u);
            seen_now[key] = seen;
            if (seen != Seen::ok) last_bad[key] = sim.now();
            // Across the healed cut a contact is stale until found again: that is settling,
            // not a false offline.
            if (contact && seen == Seen::wrong_status && !crashed[u] && side[u] == side[v])
                falsely_offline.insert(key);
        });
    }
    for (auto& [key, seen] : seen_now) {
        ++r.pairs;
        const auto v = static_cast<std::uint32_t>(key >> 32), u = static_cast<std::uint32_t>(key);
        if (seen != Seen::ok) {
            ++r.unsettled;
            ++(seen == Seen::missing ? r.unknown : seen == Seen::wrong_status ? r.wrong_status : r.wrong_addr);
            if (r.examples.size() < 6)
                r.examples.push_back(g.names[v] + " sees " + g.names[u] + (g.linked(v, u) ? " (contact)" : " (two hops)") +
                                     (seen == Seen::missing        ? ": unknown"
                                      : seen == Seen::wrong_status ? (sim.peer(ids[u]).up ? ": offline, but up" : ": online, but down")
                                                                   : ": at an old address"));
            continue;
        }
        auto it = last_bad.find(key);
        if (it == last_bad.end()) continue;
        ++r.affected;
        r.settle_ms.add(static_cast<double>(it->second + kStep - t0));
    }
    r.false_offline = falsely_offline.size();

    // Lines still being retried get ten more seconds before they count as lost.
    sim.run_for(10000);
    for (auto& [text, n] : shown) {
        if (n == 0) ++r.lost;
        else ++r.delivered;
        if (n > 1) ++r.shown_twice;
    }
    r.trace = sim.trace_hash();
    r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    sim.on_event = nullptr;
    return r;
}

}  // namespace dc::sim
