#include "sim/topology.hpp"

#include <algorithm>
#include <stdexcept>

namespace dc::sim {

std::uint32_t Graph::add_node(std::string name) {
    names.push_back(std::move(name));
    adj.emplace_back();
    return static_cast<std::uint32_t>(names.size() - 1);
}

void Graph::link(std::uint32_t a, std::uint32_t b) {
    if (a == b || linked(a, b)) return;
    adj[a].insert(std::lower_bound(adj[a].begin(), adj[a].end(), b), b);
    adj[b].insert(std::lower_bound(adj[b].begin(), adj[b].end(), a), a);
}

bool Graph::linked(std::uint32_t a, std::uint32_t b) const {
    return std::binary_search(adj[a].begin(), adj[a].end(), b);
}

std::size_t Graph::edges() const {
    std::size_t e = 0;
    for (auto& a : adj) e += a.size();
    return e / 2;
}

double Graph::mean_degree() const { return size() ? 2.0 * static_cast<double>(edges()) / static_cast<double>(size()) : 0; }

std::vector<std::uint32_t> Graph::sphere(std::uint32_t v, const std::vector<bool>* up) const {
    std::vector<std::uint32_t> out = adj[v];
    for (auto w : adj[v]) {
        if (up && !(*up)[w]) continue;
        for (auto u : adj[w])
            if (u != v) out.push_back(u);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::vector<std::uint32_t> Graph::two_hop(std::uint32_t v, const std::vector<bool>* up) const {
    auto s = sphere(v, up);
    std::vector<std::uint32_t> out;
    for (auto u : s)
        if (!linked(v, u)) out.push_back(u);
    return out;
}

std::uint32_t Graph::index(std::string_view name) const {
    for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == name) return static_cast<std::uint32_t>(i);
    throw std::out_of_range("no node " + std::string(name) + " in the graph");
}

Graph figure3() {
    Graph g;
    for (auto n : {"A", "B", "C", "Q", "R", "E"}) g.add_node(n);
    auto l = [&](const char* a, const char* b) { g.link(g.index(a), g.index(b)); };
    l("C", "Q");
    l("C", "R");
    l("C", "A");
    l("C", "B");
    l("Q", "R");
    l("Q", "E");
    l("A", "B");
    return g;
}

namespace {
std::string user_name(std::size_t i) { return "u" + std::to_string(i); }
}  // namespace

Graph random_graph(std::size_t n, std::size_t degree, Rng& rng) {
    Graph g;
    for (std::size_t i = 0; i < n; ++i) g.add_node(user_name(i));
    if (n < 2) return g;
    degree = std::min(degree, n - 1);
    std::vector<std::uint32_t> stubs;
    stubs.reserve(n * degree);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t k = 0; k < degree; ++k) stubs.push_back(static_cast<std::uint32_t>(i));
    // Pair the stubs at random; retry the pairs that would make a self-link or
    // a double link a few times with fresh partners, then drop what is left.
    for (int round = 0; round < 8 && stubs.size() >= 2; ++round) {
        rng.shuffle(stubs);
        std::vector<std::uint32_t> left;
        for (std::size_t i = 0; i + 1 < stubs.size(); i += 2) {
            auto a = stubs[i], b = stubs[i + 1];
            if (a == b || g.linked(a, b)) {
                left.push_back(a);
                left.push_back(b);
            } else {
                g.link(a, b);
            }
        }
        if (stubs.size() % 2) left.push_back(stubs.back());
        stubs.swap(left);
    }
    return g;
}

Graph social_graph(std::size_t n, std::size_t degree, Rng& rng) {
    Graph g;
    for (std::size_t i = 0; i < n; ++i) g.add_node(user_name(i));
    if (n < 2) return g;
    std::size_t cluster = std::max<std::size_t>(2, std::min(n, 2 * degree));
    std::size_t clusters = (n + cluster - 1) / cluster;
    auto first = [&](std::size_t c) { return c * cluster; };
    auto members = [&](std::size_t c) { return std::min(n, first(c) + cluster) - first(c); };
    // Dense inside: about degree-1 links per user.
    for (std::size_t c = 0; c < clusters; ++c) {
        std::size_t m = members(c);
        double p = m > 1 ? std::min(1.0, static_cast<double>(degree - 1) / static_cast<double>(m - 1)) : 0;
        for (std::size_t i = 0; i < m; ++i)
            for (std::size_t j = i + 1; j < m; ++j)
                if (rng.chance(p))
                    g.link(static_cast<std::uint32_t>(first(c) + i), static_cast<std::uint32_t>(first(c) + j));
    }
    if (clusters < 2) return g;
    // Sparse between: a ring of bridges keeps it connected, and one user in
    // five has a friend in another cluster.
    for (std::size_t c = 0; c < clusters; ++c) {
        std::size_t d = (c + 1) % clusters;
        auto a = static_cast<std::uint32_t>(first(c) + rng.below(members(c)));
        auto b = static_cast<std::uint32_t>(first(d) + rng.below(members(d)));
        g.link(a, b);
    }
    for (std::size_t i = 0; i < n; ++i) {
        if (!rng.chance(0.2)) continue;
        std::size_t c = i / cluster;
        std::size_t d = (c + 1 + rng.below(clusters - 1)) % clusters;
        g.link(static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(first(d) + rng.below(members(d))));
    }
    return g;
}

Graph make_graph(std::string_view topology, std::size_t n, std::size_t degree, Rng& rng) {
    if (topology == "figure3") return figure3();
    if (topology == "random") return random_graph(n, degree, rng);
    if (topology == "social") return social_graph(n, degree, rng);
    throw std::invalid_argument("unknown topology " + std::string(topology) + " (figure3, random, social)");
}

std::vector<NodeId> populate(Simulator& sim, const Graph& g, const core::Config& cfg) {
    std::vector<NodeId> ids;
    ids.reserve(g.size());
    for (auto& name : g.names) ids.push_back(sim.add(name, cfg));
    for (auto i : ids) sim.start(i);
    return ids;
}

void schedule_links(Simulator& sim, const Graph& g, const std::vector<NodeId>& ids, const JoinPlan& plan) {
    Rng& rng = sim.rng();
    TimeMs t0 = sim.now();
    std::vector<TimeMs> when(g.size());
    for (auto& w : when) w = t0 + rng.between(0, plan.window > 0 ? plan.window - 1 : 0);
    for (std::uint32_t a = 0; a < g.size(); ++a) {
        for (auto b : g.adj[a]) {
            // The end that starts later makes the link: it pings the other
            // (a user typing \ping ip), then adds it; the other end accepts.
            if (when[a] < when[b] || (when[a] == when[b] && a < b)) continue;
            NodeId from = ids[a], to = ids[b];
            TimeMs t = when[a];
            TimeMs ping_at = plan.add_first ? t + plan.step : t, add_at = plan.add_first ? t : t + plan.step;
            if (plan.ping)
                sim.at(ping_at, [&sim, from, to] { sim.command(from, core::cmd::Ping{sim.peer(to).addr}); });
            sim.at(add_at, [&sim, from, to] { sim.command(from, core::cmd::Add{sim.peer(to).name}); });
            if (plan.mutual)
                sim.at(t + 3 * plan.step, [&sim, from, to] { sim.command(to, core::cmd::Add{sim.peer(from).name}); });
        }
    }
}

bool sees_online_at(Simulator& sim, NodeId observer, NodeId user) {
    const Peer& u = sim.peer(user);
    auto v = sim.node(observer).user(u.name);
    if (!v) return false;
    for (auto& s : v->sessions)
        if (s.session == u.id.session) return s.online && s.addr == u.addr;
    return false;
}

bool sees_online(Simulator& sim, NodeId observer, const std::string& user) {
    auto v = sim.node(observer).user(user);
    return v && v->online();
}

std::string ViewCheck::summary() const {
    std::string s = std::to_string(checked) + " pairs checked, " + std::to_string(missing) + " missing, " +
                    std::to_string(wrong_status) + " wrong status, " + std::to_string(wrong_addr) + " wrong address";
    for (auto& e : examples) s += "\n  " + e;
    return s;
}

void for_each_view(Simulator& sim, const Graph& g, const std::vector<NodeId>& ids, std::size_t stride,
                   const std::function<void(std::uint32_t, std::uint32_t, bool, Seen)>& fn) {
    std::vector<bool> up(g.size());
    for (std::size_t i = 0; i < g.size(); ++i) up[i] = sim.peer(ids[i]).up;
    for (std::uint32_t v = 0; v < g.size(); v += static_cast<std::uint32_t>(std::max<std::size_t>(stride, 1))) {
        if (!up[v]) continue;
        core::Node& node = sim.node(ids[v]);
        for (auto u : g.sphere(v, &up)) {
            const bool contact = g.linked(v, u);
            const Peer& pu = sim.peer(ids[u]);
            auto view = node.user(pu.name);
            const core::SessionView* s = nullptr;
            if (view)
                for (auto& x : view->sessions)
                    if (x.session == pu.id.session) s = &x;
            // A two-hop user that is down may be unknown (nobody told us of it),
            // but if we know it, we must see it offline.
            if (!up[u] && !contact && !s) continue;
            if (!s) fn(v, u, contact, Seen::missing);
            else if (s->online != up[u]) fn(v, u, contact, Seen::wrong_status);
            else if (up[u] && s->addr != pu.addr) fn(v, u, contact, Seen::wrong_addr);
            else fn(v, u, contact, Seen::ok);
        }
    }
}

ViewCheck check_views(Simulator& sim, const Graph& g, const std::vector<NodeId>& ids, std::size_t stride) {
    ViewCheck r;
    auto note = [&](std::string s) {
        if (r.examples.size() < 8) r.examples.push_back(std::move(s));
    };
    for_each_view(sim, g, ids, stride, [&](std::uint32_t v, std::uint32_t u, bool contact, Seen seen) {
        ++r.checked;
        const Peer& pu = sim.peer(ids[u]);
        std::string who = g.names[v] + " sees " + g.names[u] + (contact ? " (contact)" : " (two hops)");
        switch (seen) {
        case Seen::ok: break;
        case Seen::missing:
            ++r.missing;
            note(who + ": unknown" + (pu.up ? "" : " (it is down)"));
            break;
        case Seen::wrong_status:
            ++r.wrong_status;
            note(who + (pu.up ? ": offline, but it is up" : ": online, but it is down"));
            break;
        case Seen::wrong_addr: {
            ++r.wrong_addr;
            auto view = sim.node(ids[v]).user(pu.name);
            std::string at = "?";
            if (view)
                for (auto& x : view->sessions)
                    if (x.session == pu.id.session) at = x.addr.to_string();
            note(who + ": at " + at + ", but it is at " + pu.addr.to_string());
            break;
        }
        }
    });
    return r;
}

}  // namespace dc::sim
