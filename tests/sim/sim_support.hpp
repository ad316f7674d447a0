// Shared by the simulation tests: seeds that replay, and networks built the
// way users build them (\ping, then \add).
//
// Every test takes its seed from SIM_SEED(default). DARKCHAT_SIM_SEED=<n>
// replays another seed, DARKCHAT_SIM_SEED=random picks a fresh one; either
// way a failing check prints the seed and the command that replays it.
#pragma once

#include "sim/scenario.hpp"
#include "sim/sim.hpp"
#include "sim/topology.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <random>
#include <string>

namespace dc::simtest {

inline std::uint64_t seed_or(std::uint64_t fallback) {
    const char* s = std::getenv("DARKCHAT_SIM_SEED");
    if (!s || !*s) return fallback;
    if (std::string(s) == "random") return (std::uint64_t{std::random_device{}()} << 32) | std::random_device{}();
    return std::strtoull(s, nullptr, 0);
}

inline std::string replay_hint(std::uint64_t seed) {
    // doctest splits a filter at commas, and the shell ends the quote at a quote:
    // each becomes '?', the wildcard for one character.
    std::string name = doctest::getContextOptions()->currentTest->m_name;
    for (char& c : name)
        if (c == ',' || c == '\'' || c == '\\') c = '?';
    return "seed " + std::to_string(seed) + " (replay: DARKCHAT_SIM_SEED=" + std::to_string(seed) + " " +
           std::string(doctest::getContextOptions()->binary_name.c_str()) + " -tc='" + name + "')";
}

// A network of simulated users on graph g, linked the way users link
// (\ping, then \add, both ends), and left to settle for a few seconds.
inline constexpr TimeMs kSettle = 3000;

struct Net {
    sim::Simulator sim;
    sim::Graph g;
    std::vector<sim::NodeId> ids;

    Net(sim::Options o, sim::Graph graph, const core::Config& cfg = {}, sim::JoinPlan plan = {}, TimeMs settle = kSettle)
        : sim(std::move(o)), g(std::move(graph)) {
        ids = sim::populate(sim, g, cfg);
        sim::schedule_links(sim, g, ids, plan);
        sim.run_for(plan.window + 4 * plan.step + settle);
    }
    sim::NodeId operator[](const std::string& name) const { return ids[g.index(name)]; }
    sim::Peer& peer(const std::string& name) { return sim.peer((*this)[name]); }
    sim::ViewCheck views() { return sim::check_views(sim, g, ids); }
};

inline sim::Options options(std::uint64_t seed, sim::CryptoKind crypto = sim::CryptoKind::fast) {
    sim::Options o;
    o.seed = seed;
    o.crypto = crypto;
    o.net.latency = 10;
    o.net.jitter = 2;
    return o;
}

}  // namespace dc::simtest

// The seed of this test, printed with every failing check.
#define SIM_SEED(fallback)                                      \
    const std::uint64_t seed = ::dc::simtest::seed_or(fallback); \
    const std::string seed_hint = ::dc::simtest::replay_hint(seed); \
    INFO(seed_hint)
