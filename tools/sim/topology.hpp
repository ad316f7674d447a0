// Who is linked to whom: the social graph the simulated users build with \add
// (seed 001, 3.1: an undirected graph of nodes and edges), and the truth the
// nodes' views are checked against.
#pragma once

#include "sim/sim.hpp"

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace dc::sim {

struct Graph {
    std::vector<std::string> names;
    std::vector<std::vector<std::uint32_t>> adj;  // sorted, no self-links, symmetric

    std::size_t size() const { return names.size(); }
    std::uint32_t add_node(std::string name);
    void link(std::uint32_t a, std::uint32_t b);
    bool linked(std::uint32_t a, std::uint32_t b) const;
    std::size_t edges() const;
    double mean_degree() const;
    // Nodes at distance 1 or 2 from v, v excluded. With `up`, a path may only
    // pass through nodes that are up (the ends themselves may be down).
    std::vector<std::uint32_t> sphere(std::uint32_t v, const std::vector<bool>* up = nullptr) const;
    // Nodes at distance exactly 2 (through nodes that are up, if given).
    std::vector<std::uint32_t> two_hop(std::uint32_t v, const std::vector<bool>* up = nullptr) const;
    std::uint32_t index(std::string_view name) const;  // throws when absent
};

// Seed 001, figure 3, as the project reads it (scripts/netns/darkchat_cluster.sh):
//
//        A ----- B        C-Q C-R C-A C-B Q-R Q-E A-B
//         \     /         C is linked to all but E; E only to Q,
//          \   /          two hops from C. R and E rely on C or Q.
//            C
//            | \.
//            |  R
//            | /
//            Q
//            |
//            E
Graph figure3();
// n nodes, every one with `degree` links (a random regular graph by the
// configuration model; the few stubs left by self-links and double links are
// dropped, so a handful of nodes may have one link less).
Graph random_graph(std::size_t n, std::size_t degree, Rng& rng);
// Clustered "social" graph: dense clusters of 2*degree users (each pair linked
// with the probability that gives about degree-1 links inside), a ring of
// bridges between consecutive clusters, and a sparse random bridge from one
// user in five to another cluster.
Graph social_graph(std::size_t n, std::size_t degree, Rng& rng);
inline Graph random_graph(std::size_t n, std::size_t degree, Rng&& rng) { return random_graph(n, degree, rng); }
inline Graph social_graph(std::size_t n, std::size_t degree, Rng&& rng) { return social_graph(n, degree, rng); }
// "figure3", "random" or "social"; throws on anything else.
Graph make_graph(std::string_view topology, std::size_t n, std::size_t degree, Rng& rng);

// How the links of a graph are made on the simulated network.
struct JoinPlan {
    TimeMs window = 5000;  // every user starts making its links at a random time in [0, window)
    TimeMs step = 100;     // \ping, then \add this much later; the far end \adds back later still
    bool mutual = true;    // both ends \add each other (a request and its acceptance)
    bool ping = true;      // \ping the other end's address first (off: \add alone, found through a server)
    bool add_first = false; // \add first, then \ping (a user adds a name, then says where it is)
};

// Adds one simulated user per graph node (named as in the graph, with cfg),
// starts them all now, and schedules the \ping and \add commands that make
// the graph's links. Returns the NodeIds, indexed like the graph.
std::vector<NodeId> populate(Simulator& sim, const Graph& g, const core::Config& cfg = {});
void schedule_links(Simulator& sim, const Graph& g, const std::vector<NodeId>& ids, const JoinPlan& plan);

// A node's view of its neighbourhood against the truth.
struct ViewCheck {
    std::size_t checked = 0;      // (observer, user) pairs looked at
    std::size_t missing = 0;      // user unknown to the observer
    std::size_t wrong_status = 0; // online taken for offline or the other way round
    std::size_t wrong_addr = 0;   // online at an address the user has left
    std::vector<std::string> examples;  // the first few mismatches, readable
    bool ok() const { return missing + wrong_status + wrong_addr == 0; }
    std::string summary() const;
};

// One (observer, user) pair of a view check and what the observer sees.
enum class Seen { ok, missing, wrong_status, wrong_addr };
// Calls fn(observer, user, contact, seen) for every pair check_views looks at, with
// the same rules (below); stride as there.
void for_each_view(Simulator& sim, const Graph& g, const std::vector<NodeId>& ids, std::size_t stride,
                   const std::function<void(std::uint32_t, std::uint32_t, bool, Seen)>& fn);

// For every node that is up, every user within two hops through nodes that
// are up must be seen online at its current address, and every contact that
// is down must be seen offline, as must every user two hops away that is down
// and known to the node (contacts tell their contacts what their probes find).
// With stride k, only every k-th node is an observer (big networks).
ViewCheck check_views(Simulator& sim, const Graph& g, const std::vector<NodeId>& ids, std::size_t stride = 1);

// Whether `observer` sees `user` online at its current session and address.
bool sees_online_at(Simulator& sim, NodeId observer, NodeId user);
bool sees_online(Simulator& sim, NodeId observer, const std::string& user);

}  // namespace dc::sim
