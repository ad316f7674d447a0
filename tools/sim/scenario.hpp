// The figures of BENCHMARKS.md, measured on one simulated network: how fast a
// change of status reaches the two-hop sphere, how fast a crash is detected and
// how often a live node is taken for dead, what a node sends idle and under
// churn, what a simulated node costs in memory and in time.
#pragma once

#include "sim/sim.hpp"
#include "sim/topology.hpp"

#include <optional>
#include <string>
#include <vector>

namespace dc::sim {

// A sample of durations (ms) or other values.
struct Dist {
    std::vector<double> v;
    void add(double x) { v.push_back(x); }
    std::size_t size() const { return v.size(); }
    double quantile(double q) const;  // nearest rank; NaN when empty
    double median() const { return quantile(0.5); }
    double p99() const { return quantile(0.99); }
    double max() const { return quantile(1.0); }
    double mean() const;
};

struct FigureOptions {
    std::string topology = "random";
    std::size_t nodes = 100;
    std::size_t degree = 10;
    TimeMs latency = 10;
    TimeMs jitter = 2;
    std::vector<double> losses = {0.0, 0.01, 0.05};
    CryptoKind crypto = CryptoKind::fast;
    std::uint64_t seed = 1;
    bool super_client = false;   // one more node, -s, that every node knows (-sip)
    core::Config node;           // every user's configuration (timers); port, address, servers are set per node
    TimeMs join_window = JoinPlan{}.window;  // users start making their links at random times in [0, this)
    std::size_t samples = 40;    // status changes and crashes measured (per loss level)
    TimeMs idle = 10000;         // idle traffic window
    TimeMs fp_window = 30000;    // idle window per loss level for false positives
    TimeMs churn = 30000;        // churn window
    double churn_rate = 0.001;   // departures per node per second during churn
    bool check_views = true;     // compare every view with the truth after churn (slow for 10k+)
    bool bare = true;            // measure the bare event-loop baseline
    bool verbose = false;        // progress on stderr
};

struct LossFigures {
    double loss = 0;
    Dist detect_ms;              // crash -> a contact shows it offline
    std::size_t undetected = 0;  // contacts that had not within 10 s
    std::size_t false_offline = 0;  // live contacts shown offline
    double fp_node_hours = 0;    // node-hours watched for false positives
    std::size_t flapping_pairs = 0; // (observer, contact) pairs with at least one false offline
    std::size_t watched_pairs = 0;
};

struct Figures {
    FigureOptions opts;
    std::size_t nodes = 0;
    double mean_degree = 0;
    TimeMs join_ms = 0;        // virtual time to make every link
    double wall_setup_s = 0;
    Dist offline_ms;           // \quit -> a two-hop node stored the offline declaration
    Dist online_ms;            // restart at a new address -> a two-hop node stored the new declaration
    std::size_t change_targets = 0, change_missed = 0;  // (change, two-hop node) pairs; not reached in 5 s
    std::vector<LossFigures> liveness;
    double idle_packets = 0, idle_bytes = 0;    // per node per second, sent
    double churn_packets = 0, churn_bytes = 0;
    double signs_per_node_s = 0, verifies_per_node_s = 0;  // idle
    std::size_t churn_departures = 0;
    ViewCheck after_churn;     // 30 s after churn stopped
    bool views_checked = false;
    double mem_per_node = 0;   // bytes, RSS growth over the nodes (core + in-memory store), after join
    double mem_end_per_node = 0;  // at the end of the run
    double mem_core_per_node = 0; // at the end, with the in-memory stores dropped
    // Speeds are per CPU second of this process (the machine may be shared);
    // on an idle machine a CPU second is a wall second.
    double sim_per_wall = 0;   // simulated seconds per CPU second, idle
    double idle_wall_s = 0;    // wall time of the idle window, for comparison
    double wall_us_per_node_s = 0;  // CPU microseconds per node per simulated second, idle
    double bare_us_per_node_s = 0;  // the same for the bare event loop
    double bare_sim_per_wall = 0;
    double wall_us_per_datagram = 0, bare_us_per_datagram = 0;
    double super_us_per_event = 0;  // wall time per event handled by the super-client (when there is one)
    double node_us_per_event = 0;   // and by an ordinary node
    std::vector<std::string> problems;
    std::uint64_t trace = 0;
    double wall_total_s = 0;
    double cpu_total_s = 0;
};

Figures measure(const FigureOptions& o);

// The simulator and the network every figure starts from: the graph of o, one
// simulated user per node (and the super-client, when asked), every link made.
Options sim_options(const FigureOptions& o);
struct Built {
    Graph g;
    std::optional<NodeId> super;
    std::vector<NodeId> ids;  // indexed like g
};
Built build(Simulator& sim, const FigureOptions& o);

// Resilience (issue 20, point 5): a network built as for the figures, settled, then
// one of three things happens to it; from then on every surviving (observer, user)
// pair of check_views is sampled every 250 ms for `watch` ms.
enum class Upset { super_removed, mass_crash, partition };
const char* upset_name(Upset u);
struct ResilienceOptions {
    FigureOptions net;            // nodes, degree, seed, ...; super_client is forced on
    TimeMs watch = 60000;         // after the upset (after the healing, for a partition)
    TimeMs partition_ms = 60000;  // how long the halves stay apart
    double crash_fraction = 0.3;
    std::size_t messages = 200;   // chat lines between linked users while it happens
    std::size_t stride = 1;       // every stride-th node observes (big networks)
};
struct Resilience {
    Upset upset{};
    std::size_t nodes = 0;
    std::size_t pairs = 0;          // surviving pairs checked at the end
    std::size_t affected = 0;       // of those, seen wrong at some sample of the watch
    Dist settle_ms;                 // upset (healing) -> an affected pair seen right from then on
    std::size_t unsettled = 0;      // pairs still wrong at the end of the watch
    std::size_t unknown = 0, wrong_status = 0, wrong_addr = 0;  // what the unsettled see
    std::vector<std::string> examples;  // the first few unsettled pairs, readable
    std::size_t false_offline = 0;  // (observer, contact) pairs: the contact up and reachable, shown offline
    std::size_t sent = 0, delivered = 0, lost = 0, shown_twice = 0;
    double wall_s = 0;
    std::uint64_t trace = 0;
};
Resilience resilience(Upset u, const ResilienceOptions& o);

// The bare baseline: the same event queue and network model, N nodes on the
// same graph, each probing every neighbour once a second with a datagram of
// the size darkchat's pings have, answered by a pong. No protocol.
struct BareResult {
    double sim_per_wall = 0;
    double us_per_node_s = 0;
    double us_per_datagram = 0;
    std::uint64_t datagrams = 0;
};
BareResult bare_loop(const Graph& g, const NetModel& net, TimeMs duration, std::uint64_t seed);

}  // namespace dc::sim
