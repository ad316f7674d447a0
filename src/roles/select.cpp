// Relay selection: pure functions (see select.hpp). This file is the one place that
// decides how a relay is chosen and when a chat is worth moving.

#include "select.hpp"

#include <algorithm>
#include <limits>

namespace dc::roles {

namespace {

struct StrategyName {
    Strategy s;
    const char* name;
};
constexpr StrategyName kStrategyNames[] = {
    {Strategy::min_max, "min-max"},
    {Strategy::round_robin, "round-robin"},
    {Strategy::random, "random"},
    {Strategy::least_loaded, "least-loaded"},
    {Strategy::client_round_robin, "client-round-robin"},
    {Strategy::cpu, "cpu"},
};

// A uniformly random element of a non-empty list of indices.
std::size_t pick(const std::vector<std::size_t>& v, Selector& sel) {
    return v[sel.rng.below(v.size())];
}

// min-max: the seed's rule. Minimise the slowest participant's rtt; maxima within
// kTieMs are equal (measurement noise is larger than that), then the smallest sum
// (the other participants are better off), then uniformly at random so that equal
// relays share the load.
std::optional<std::size_t> min_max(std::span<const Candidate> c, std::span<const DelayVector> parts, Selector& sel) {
    std::vector<std::pair<std::size_t, Score>> eligible;
    for (std::size_t i = 0; i < c.size(); ++i)
        if (auto sc = score(c[i].key, parts)) eligible.emplace_back(i, *sc);
    if (eligible.empty()) return std::nullopt;
    std::uint32_t best_max = std::numeric_limits<std::uint32_t>::max();
    for (auto& [i, sc] : eligible) best_max = std::min(best_max, sc.max);
    std::uint64_t best_sum = std::numeric_limits<std::uint64_t>::max();
    for (auto& [i, sc] : eligible)
        if (sc.max <= best_max + kTieMs) best_sum = std::min(best_sum, sc.sum);
    std::vector<std::size_t> tied;
    for (auto& [i, sc] : eligible)
        if (sc.max <= best_max + kTieMs && sc.sum == best_sum) tied.push_back(i);
    return pick(tied, sel);
}

std::optional<std::size_t> least_loaded(std::span<const Candidate> c, Selector& sel) {
    std::uint64_t best = std::numeric_limits<std::uint64_t>::max();
    for (auto& x : c) best = std::min(best, x.load.score());
    std::vector<std::size_t> tied;
    for (std::size_t i = 0; i < c.size(); ++i)
        if (c[i].load.score() == best) tied.push_back(i);
    return pick(tied, sel);
}

// cpu (seed 002's balancing by CPU utilisation): among the relays every participant
// measured (reaches), those that report their CPU use before those that do not; the
// lowest use of the relay's own process, uses within kCpuTie counting as equal (a busy
// relay is what slows its rooms; the machine's figure is the same for two relays on one
// machine, so it only breaks ties); then the fewest members (raised by what was just
// placed, so a burst of chats spreads before the heartbeats show it); then min-max's
// figure; then at random.
std::optional<std::size_t> least_busy(std::span<const Candidate> c, std::span<const DelayVector> parts,
                                      Selector& sel) {
    struct Eligible {
        std::size_t i;
        Score sc;
    };
    std::vector<Eligible> eligible;
    for (std::size_t i = 0; i < c.size(); ++i)
        if (auto sc = score(c[i].key, parts)) eligible.push_back({i, *sc});
    if (eligible.empty()) return std::nullopt;
    const auto measured = [&](const Eligible& e) { return c[e.i].load.cpu.cores > 0; };
    if (std::any_of(eligible.begin(), eligible.end(), measured))
        std::erase_if(eligible, [&](const Eligible& e) { return !measured(e); });
    // Each criterion in turn keeps those within its tie of the best.
    const auto keep_best = [&](auto figure, std::uint64_t tie) {
        std::uint64_t best = std::numeric_limits<std::uint64_t>::max();
        for (auto& e : eligible) best = std::min<std::uint64_t>(best, figure(e));
        std::erase_if(eligible, [&](const Eligible& e) { return figure(e) > best + tie; });
    };
    keep_best([&](const Eligible& e) { return c[e.i].load.cpu.self; }, kCpuTie);
    keep_best([&](const Eligible& e) { return c[e.i].load.cpu.machine; }, kCpuTie);
    keep_best([&](const Eligible& e) { return c[e.i].load.members; }, 0);
    keep_best([&](const Eligible& e) { return e.sc.max; }, kTieMs);
    keep_best([&](const Eligible& e) { return e.sc.sum; }, 0);
    std::vector<std::size_t> tied;
    for (auto& e : eligible) tied.push_back(e.i);
    return pick(tied, sel);
}

}  // namespace

std::optional<Strategy> parse_strategy(std::string_view name) {
    for (auto& n : kStrategyNames)
        if (name == n.name) return n.s;
    return std::nullopt;
}

std::string directory_strategy_names() {
    std::string out;
    for (auto& n : kStrategyNames) {
        if (n.s == Strategy::client_round_robin) continue;
        out += out.empty() ? "" : ", ";
        out += n.name;
    }
    return out;
}

const char* strategy_name(Strategy s) {
    for (auto& n : kStrategyNames)
        if (n.s == s) return n.name;
    return "unknown";
}

std::optional<Score> score(const PublicKey& relay, std::span<const DelayVector> participants) {
    if (participants.empty()) return std::nullopt;
    Score sc;
    for (auto& v : participants) {
        auto it = v.find(relay);
        if (it == v.end()) return std::nullopt;
        sc.max = std::max(sc.max, it->second);
        sc.sum += it->second;
    }
    return sc;
}

std::optional<std::size_t> select_relay(Strategy s, std::span<const Candidate> candidates,
                                        std::span<const DelayVector> participants, Selector& sel) {
    if (candidates.empty()) return std::nullopt;
    switch (s) {
    case Strategy::min_max: return min_max(candidates, participants, sel);
    case Strategy::random: {
        return sel.rng.below(candidates.size());
    }
    case Strategy::least_loaded: return least_loaded(candidates, sel);
    case Strategy::cpu: return least_busy(candidates, participants, sel);
    case Strategy::round_robin:
    case Strategy::client_round_robin: {
        const std::size_t i = sel.cursor % candidates.size();
        sel.cursor = i + 1;
        return i;
    }
    }
    return std::nullopt;
}

bool clearly_better(std::uint32_t current_max, std::uint32_t candidate_max, const Hysteresis& h) {
    if (candidate_max >= current_max) return false;
    const std::uint32_t gain = current_max - candidate_max;
    return gain >= h.min_ms && static_cast<double>(gain) >= h.min_fraction * static_cast<double>(current_max);
}

}  // namespace dc::roles
