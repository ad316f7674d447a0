#include "sim/scenario.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <malloc.h>
#include <queue>
#include <set>
#include <time.h>
#include <unordered_map>
#include <unordered_set>

namespace dc::sim {

double Dist::quantile(double q) const {
    if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
    auto s = v;
    std::sort(s.begin(), s.end());
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(s.size())));
    return s[std::clamp<std::size_t>(rank, 1, s.size()) - 1];
}

double Dist::mean() const {
    if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
    double t = 0;
    for (auto x : v) t += x;
    return t / static_cast<double>(v.size());
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}
// CPU time of this process: the machine may be shared, so speeds are per CPU second.
double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Picks up to k random nodes that are up, pairwise more than two hops apart,
// so that one's change does not cut the paths another's change travels along.
std::vector<std::uint32_t> pick_apart(Simulator& sim, const Graph& g, const std::vector<NodeId>& ids, std::size_t k) {
    std::vector<std::uint32_t> order(g.size());
    for (std::uint32_t i = 0; i < g.size(); ++i) order[i] = i;
    sim.rng().shuffle(order);
    std::unordered_set<std::uint32_t> blocked;
    std::vector<std::uint32_t> out;
    for (auto v : order) {
        if (out.size() >= k) break;
        if (!sim.peer(ids[v]).up || blocked.count(v) || g.adj[v].empty()) continue;
        out.push_back(v);
        blocked.insert(v);
        for (auto u : g.sphere(v)) blocked.insert(u);
    }
    return out;
}

std::vector<bool> up_vector(Simulator& sim, const std::vector<NodeId>& ids) {
    std::vector<bool> up(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) up[i] = sim.peer(ids[i]).up;
    return up;
}

std::size_t count_up(Simulator& sim) {
    std::size_t n = 0;
    for (NodeId i = 0; i < sim.size(); ++i) n += sim.peer(i).up;
    return n;
}

struct TrafficSnapshot {
    std::uint64_t packets = 0, bytes = 0, signs = 0, verifies = 0;
};

TrafficSnapshot traffic(Simulator& sim, const std::vector<NodeId>& ids) {
    TrafficSnapshot t;
    for (auto i : ids) {
        t.packets += sim.peer(i).counters.sent.packets;
        t.bytes += sim.peer(i).counters.sent.bytes;
    }
    t.signs = sim.signs();
    t.verifies = sim.verifies();
    return t;
}

void say(const FigureOptions& o, const char* what, Clock::time_point t0) {
    if (o.verbose) std::fprintf(stderr, "dcsim: %-40s wall %7.1f s\n", what, seconds_since(t0));
}

// Runs the simulation for d ms; with -v, in steps of a simulated second, each
// reported with the resident size and the CPU so far (a large run's curve:
// how far it got, and at what cost, if it is stopped).
void run_reporting(Simulator& sim, const FigureOptions& o, TimeMs d, const char* what) {
    if (!o.verbose) return sim.run_for(d);
    const TimeMs end = sim.now() + d;
    while (sim.now() < end) {
        sim.run_until(std::min(end, sim.now() + 1000));
        std::fprintf(stderr, "dcsim: %s: %.1f simulated s, resident %.0f MiB, CPU %.1f s\n", what,
                     static_cast<double>(sim.elapsed()) / 1000, static_cast<double>(resident_bytes()) / (1 << 20),
                     cpu_seconds());
    }
}

}  // namespace

Options sim_options(const FigureOptions& o) {
    Options so;
    so.seed = o.seed;
    so.crypto = o.crypto;
    so.net.latency = o.latency;
    so.net.jitter = o.jitter;
    so.keep_events = false;
    so.pack_store = true;  // restarts as from a MemStore, in a fraction of its memory
    so.profile = true;
    return so;
}

Built build(Simulator& sim, const FigureOptions& o) {
    Built b;
    b.g = make_graph(o.topology, o.nodes, o.degree, sim.rng());
    core::Config cfg = o.node;
    if (o.super_client) {
        // As darkchatd -s configures its node: it remembers the whole network.
        core::Config scfg = o.node;
        scfg.super_client = true;
        scfg.max_users = 1000000;
        b.super = sim.add("super", scfg);
        sim.start(*b.super);
        cfg.servers = {sim.peer(*b.super).addr};
    }
    b.ids = populate(sim, b.g, cfg);
    JoinPlan plan;
    plan.window = o.join_window;
    schedule_links(sim, b.g, b.ids, plan);
    run_reporting(sim, o, plan.window + 4 * plan.step, "join");
    return b;
}

Figures measure(const FigureOptions& o) {
    Figures f;
    f.opts = o;
    auto wall0 = Clock::now();
    double cpu0 = cpu_seconds();
    std::size_t rss0 = resident_bytes();

    Simulator sim(sim_options(o));
    Built b = build(sim, o);
    Graph& g = b.g;
    auto& ids = b.ids;
    const std::optional<NodeId> super = b.super;
    f.nodes = g.size();
    f.mean_degree = g.mean_degree();
    f.join_ms = sim.elapsed();
    run_reporting(sim, o, 15000, "settle");
    f.wall_setup_s = seconds_since(wall0);
    f.mem_per_node = static_cast<double>(resident_bytes() - rss0) / static_cast<double>(ids.size());
    say(o, "network built", wall0);

    // ---- idle: traffic and speed -----------------------------------------------------
    {
        for (NodeId i = 0; i < sim.size(); ++i) sim.peer(i).busy_ns = sim.peer(i).handled = 0;
        auto before = traffic(sim, ids);
        auto delivered0 = sim.totals().delivered;
        auto t0 = Clock::now();
        double c0 = cpu_seconds();
        sim.run_for(o.idle);
        double wall = cpu_seconds() - c0;
        f.idle_wall_s = seconds_since(t0);
        auto after = traffic(sim, ids);
        double node_s = static_cast<double>(ids.size()) * static_cast<double>(o.idle) / 1000.0;
        f.idle_packets = static_cast<double>(after.packets - before.packets) / node_s;
        f.idle_bytes = static_cast<double>(after.bytes - before.bytes) / node_s;
        f.signs_per_node_s = static_cast<double>(after.signs - before.signs) / node_s;
        f.verifies_per_node_s = static_cast<double>(after.verifies - before.verifies) / node_s;
        f.sim_per_wall = (static_cast<double>(o.idle) / 1000.0) / wall;
        f.wall_us_per_node_s = wall * 1e6 / node_s;
        auto dg = sim.totals().delivered - delivered0;
        f.wall_us_per_datagram = dg ? wall * 1e6 / static_cast<double>(dg) : 0;
        std::uint64_t ns = 0, n = 0;
        for (auto i : ids) {
            ns += sim.peer(i).busy_ns;
            n += sim.peer(i).handled;
        }
        f.node_us_per_event = n ? static_cast<double>(ns) / 1000.0 / static_cast<double>(n) : 0;
        if (super && sim.peer(*super).handled)
            f.super_us_per_event =
                static_cast<double>(sim.peer(*super).busy_ns) / 1000.0 / static_cast<double>(sim.peer(*super).handled);
    }
    say(o, "idle measured", wall0);

    // ---- a change of status reaching the two-hop sphere ---------------------------------
    {
        struct Watch {
            std::string user;
            SessionId session{};
            NodeId x = 0;
            std::uint64_t seq = 0;
            TimeMs t0 = 0;
            std::unordered_set<NodeId> pending;
            Dist* into = nullptr;
        };
        std::unordered_map<std::string, Watch> watches;
        sim.on_store = [&](NodeId i, const StoreOp& op) {
            auto* ps = std::get_if<store_op::PutSession>(&op);
            if (!ps) return;
            auto it = watches.find(ps->session.user);
            if (it == watches.end() || ps->session.session != it->second.session) return;
            Watch& w = it->second;
            if (i == w.x) {
                w.seq = std::max(w.seq, ps->session.seq);
                return;
            }
            if (w.seq && ps->session.seq >= w.seq && w.pending.erase(i)) w.into->add(static_cast<double>(sim.now() - w.t0));
        };
        auto begin_watch = [&](std::uint32_t v, Dist& into) {
            auto up = up_vector(sim, ids);
            Watch w;
            w.x = ids[v];
            w.user = sim.peer(ids[v]).name;
            w.session = sim.peer(ids[v]).id.session;
            w.t0 = sim.now();
            w.into = &into;
            for (auto u : g.sphere(v, &up))
                if (up[u]) w.pending.insert(ids[u]);
            f.change_targets += w.pending.size();
            watches[w.user] = std::move(w);
        };
        auto end_watches = [&] {
            for (auto& [n, w] : watches) f.change_missed += w.pending.size();
            watches.clear();
        };
        std::size_t done = 0;
        while (done < o.samples) {
            auto batch = pick_apart(sim, g, ids, std::min<std::size_t>(o.samples - done, std::max<std::size_t>(1, g.size() / 50)));
            if (batch.empty()) break;
            for (auto v : batch) {
                TimeMs t = sim.now() + sim.rng().between(0, 200);
                sim.at(t, [&, v] {
                    begin_watch(v, f.offline_ms);
                    sim.quit(ids[v]);
                });
            }
            sim.run_for(5000);
            end_watches();
            for (auto v : batch) {
                TimeMs t = sim.now() + sim.rng().between(0, 200);
                sim.at(t, [&, v] {
                    // Started elsewhere: the same session at a new address.
                    sim.crash(ids[v]);
                    sim.move(ids[v]);
                    begin_watch(v, f.online_ms);
                    sim.start(ids[v]);
                });
            }
            sim.run_for(5000);
            end_watches();
            done += batch.size();
        }
        sim.on_store = nullptr;
    }
    say(o, "status changes measured", wall0);

    // ---- liveness: crash detection and false positives at each loss level -------------
    for (double loss : o.losses) {
        LossFigures lf;
        lf.loss = loss;
        lf.watched_pairs = 2 * g.edges();
        sim.net().loss = loss;
        struct Crash {
            TimeMs t0 = 0;
            SessionId session{};
            std::unordered_set<NodeId> pending;
        };
        std::unordered_map<std::string, Crash> crashes;
        std::set<std::pair<NodeId, std::string>> flapped;
        sim.on_event = [&](NodeId i, const core::Event& e) {
            auto* p = std::get_if<core::ev::Presence>(&e);
            if (!p || p->online) return;
            auto c = crashes.find(p->user);
            if (c != crashes.end() && c->second.session == p->session) {
                if (c->second.pending.erase(i)) lf.detect_ms.add(static_cast<double>(sim.now() - c->second.t0));
                return;
            }
            auto who = sim.find(p->user);
            if (!who) return;
            const Peer& u = sim.peer(*who);
            if (u.up && u.id.session == p->session) {
                ++lf.false_offline;
                flapped.insert({i, p->user});
            }
        };
        auto watch_for = [&](TimeMs d) {
            lf.fp_node_hours += static_cast<double>(count_up(sim)) * static_cast<double>(d) / 3.6e6;
            sim.run_for(d);
        };
        watch_for(o.fp_window);
        std::size_t done = 0;
        while (done < o.samples) {
            auto batch = pick_apart(sim, g, ids, std::min<std::size_t>(o.samples - done, std::max<std::size_t>(1, g.size() / 50)));
            if (batch.empty()) break;
            for (auto v : batch) {
                Crash c;
                c.t0 = sim.now();
                c.session = sim.peer(ids[v]).id.session;
                for (auto u : g.adj[v])
                    if (sim.peer(ids[u]).up) c.pending.insert(ids[u]);
                crashes[sim.peer(ids[v]).name] = std::move(c);
                sim.crash(ids[v]);
            }
            watch_for(10000);
            for (auto& [n, c] : crashes) lf.undetected += c.pending.size();
            crashes.clear();
            for (auto v : batch) sim.start(ids[v]);
            watch_for(5000);
            done += batch.size();
        }
        lf.flapping_pairs = flapped.size();
        sim.on_event = nullptr;
        f.liveness.push_back(std::move(lf));
        char what[64];
        std::snprintf(what, sizeof what, "liveness at %.0f%% loss measured", loss * 100);
        say(o, what, wall0);
    }
    sim.net().loss = 0;

    // ---- churn ------------------------------------------------------------------------
    {
        auto before = traffic(sim, ids);
        double up_node_s = 0;
        TimeMs end = sim.now() + o.churn;
        TimeMs last_return = sim.now();
        while (sim.now() < end) {
            for (std::size_t v = 0; v < ids.size(); ++v) {
                NodeId i = ids[v];
                if (!sim.peer(i).up || !sim.rng().chance(o.churn_rate)) continue;
                ++f.churn_departures;
                if (sim.rng().chance(0.5)) sim.crash(i);
                else sim.quit(i);
                bool elsewhere = sim.rng().below(3) == 0;
                TimeMs back = sim.now() + sim.rng().between(5000, 15000);
                last_return = std::max(last_return, back);
                sim.at(back, [&sim, i, elsewhere] {
                    if (elsewhere) sim.move(i);
                    sim.start(i);
                });
            }
            up_node_s += static_cast<double>(count_up(sim) - (super ? 1 : 0));
            sim.run_for(1000);
        }
        auto after = traffic(sim, ids);
        f.churn_packets = static_cast<double>(after.packets - before.packets) / up_node_s;
        f.churn_bytes = static_cast<double>(after.bytes - before.bytes) / up_node_s;
        if (o.check_views) {
            sim.run_until(last_return + 30000);
            std::size_t stride = std::max<std::size_t>(1, ids.size() / 1000);
            f.after_churn = check_views(sim, g, ids, stride);
            f.views_checked = true;
        }
    }
    say(o, "churn measured", wall0);

    f.mem_end_per_node = static_cast<double>(resident_bytes() - rss0) / static_cast<double>(ids.size());
    for (NodeId i = 0; i < sim.size(); ++i) sim.peer(i).forget_stored();
    malloc_trim(0);
    f.mem_core_per_node = static_cast<double>(resident_bytes() - rss0) / static_cast<double>(ids.size());
    f.problems = sim.problems();
    f.trace = sim.trace_hash();

    if (o.bare) {
        auto b = bare_loop(g, sim_options(o).net, o.idle, o.seed);
        f.bare_sim_per_wall = b.sim_per_wall;
        f.bare_us_per_node_s = b.us_per_node_s;
        f.bare_us_per_datagram = b.us_per_datagram;
    }
    f.wall_total_s = seconds_since(wall0);
    f.cpu_total_s = cpu_seconds() - cpu0;
    return f;
}

BareResult bare_loop(const Graph& g, const NetModel& net, TimeMs duration, std::uint64_t seed) {
    struct Entry {
        TimeMs at;
        std::uint64_t seq;
        std::uint32_t node;
        std::uint32_t slot;  // datagram slot, or ~0 for the node's timer
        bool operator>(const Entry& o) const { return at != o.at ? at > o.at : seq > o.seq; }
    };
    struct Datagram {
        std::uint32_t from = 0;
        bool pong = false;
        Bytes data;
    };
    constexpr std::uint32_t kTimer = ~std::uint32_t{0};
    constexpr std::size_t kProbeBytes = 130;  // about a darkchat ping with its signed header
    std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> q;
    std::vector<Datagram> slots;
    std::vector<std::uint32_t> free_slots;
    std::vector<std::vector<TimeMs>> heard(g.size());
    Rng rng(seed);
    std::uint64_t seq = 0, datagrams = 0;
    TimeMs now = 0;
    for (std::uint32_t i = 0; i < g.size(); ++i) {
        heard[i].assign(g.adj[i].size(), 0);
        q.push(Entry{rng.between(0, 999), seq++, i, kTimer});
    }
    auto send = [&](std::uint32_t from, std::uint32_t to, bool pong) {
        ++datagrams;
        Bytes data(kProbeBytes, static_cast<std::uint8_t>(from));
        if (rng.chance(net.loss)) return;
        std::uint32_t s;
        if (!free_slots.empty()) {
            s = free_slots.back();
            free_slots.pop_back();
        } else {
            s = static_cast<std::uint32_t>(slots.size());
            slots.emplace_back();
        }
        slots[s] = Datagram{from, pong, std::move(data)};
        TimeMs d = net.latency + (net.jitter > 0 ? rng.between(0, net.jitter) : 0);
        q.push(Entry{now + d, seq++, to, s});
    };
    auto mark = [&](std::uint32_t at, std::uint32_t peer) {
        auto& a = g.adj[at];
        auto k = static_cast<std::size_t>(std::lower_bound(a.begin(), a.end(), peer) - a.begin());
        heard[at][k] = now;
    };
    double c0 = cpu_seconds();
    while (!q.empty() && q.top().at <= duration) {
        Entry e = q.top();
        q.pop();
        now = e.at;
        if (e.slot == kTimer) {
            for (std::size_t k = 0; k < g.adj[e.node].size(); ++k)
                if (now - heard[e.node][k] >= 1000) {
                    heard[e.node][k] = now;
                    send(e.node, g.adj[e.node][k], false);
                }
            q.push(Entry{now + 1000, seq++, e.node, kTimer});
            continue;
        }
        Datagram d = std::move(slots[e.slot]);
        free_slots.push_back(e.slot);
        mark(e.node, d.from);
        if (!d.pong) send(e.node, d.from, true);
    }
    double wall = cpu_seconds() - c0;
    BareResult r;
    double node_s = static_cast<double>(g.size()) * static_cast<double>(duration) / 1000.0;
    r.sim_per_wall = (static_cast<double>(duration) / 1000.0) / wall;
    r.us_per_node_s = wall * 1e6 / node_s;
    r.us_per_datagram = datagrams ? wall * 1e6 / static_cast<double>(datagrams) : 0;
    r.datagrams = datagrams;
    return r;
}

}  // namespace dc::sim
