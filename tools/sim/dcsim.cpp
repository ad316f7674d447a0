// dcsim: runs darkchat's users (each the host::Host that darkchat runs, the
// super-client the one darkchatd -s runs) on the simulated network and prints
// the figures of BENCHMARKS.md. Deterministic: the same flags and --seed give the same run
// (the trace hash printed at the end says so); a failure prints the command
// that replays it.
//
//   dcsim --nodes 1000 --degree 10 --latency 10 --topology random --seed 7
//   dcsim --table 100,1000,10000          the whole table, one column per size
//   dcsim --nodes 10000 --resilience --upset crash    one upset of the resilience table
#include "sim/scenario.hpp"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace dc;
using namespace dc::sim;

namespace {

const char* kUsage =
    "usage: dcsim [options]\n"
    "  --nodes N          simulated users (default 100)\n"
    "  --degree D         links per user (default 10)\n"
    "  --topology T       figure3 | random | social (default random)\n"
    "  --latency MS       one-way delay of every link (default 10)\n"
    "  --jitter MS        plus uniform 0..MS per datagram (default 2)\n"
    "  --loss P[,P...]    loss levels for the liveness figures (default 0,0.01,0.05)\n"
    "  --crypto K         fast (keyed hash, default) | real (libsodium Ed25519)\n"
    "  --super            add one super-client (-s) that every user knows (-sip)\n"
    "  --join-window MS   users start making their links at random times within it (default 5000);\n"
    "                     longer spreads the join's answers (fewer in flight at once)\n"
    "  --samples K        status changes and crashes measured (default 40)\n"
    "  --idle MS          idle window for traffic and speed (default 10000)\n"
    "  --fp-window MS     idle window per loss level for false positives (default 30000)\n"
    "  --churn MS         churn window (default 30000)\n"
    "  --churn-rate R     departures per user per second during churn (default 0.001)\n"
    "  --probe-interval MS, --probe-interval-max MS, --probe-timeout MS, --indirect-timeout MS,\n"
    "  --refresh MS       the users' liveness and refresh timers (core::Config; defaults 1000,\n"
    "                     2000, 500, 3000, 60000), to try other settings\n"
    "  --no-views         skip comparing every view with the truth after churn\n"
    "  --no-bare          skip the bare event-loop baseline\n"
    "  --seed S           (default 1)\n"
    "  --table N[,N...]   run every size and print the BENCHMARKS.md table; windows\n"
    "                     shrink with size unless given: 1,000+ users idle 10 s, fp-window\n"
    "                     and churn 20 s; 10,000+ users 5 s, 5 s, 10 s and no view check\n"
    "  --resilience       instead: the super-client removed, 30% of the users crashing at\n"
    "                     once, the network cut in two halves for 60 s; for each, how long\n"
    "                     until every surviving pair within two hops sees the other right\n"
    "                     (median, p99, worst), false offlines, lines lost or shown twice\n"
    "  --upset U[,U...]   resilience: only these upsets, of superclient, crash, partition\n"
    "                     (default all three, in that order; one takes ~25 min wall at 10,000)\n"
    "  --watch MS         resilience: how long to watch after the upset (default 60000)\n"
    "  --stride K         resilience: every K-th user observes (default 1; 10 at 10,000+)\n"
    "  --messages N       resilience: chat lines sent while it happens (default 200)\n"
    "  -v                 progress on stderr\n";

[[noreturn]] void usage_error(const std::string& what) {
    std::fprintf(stderr, "dcsim: %s\n%s", what.c_str(), kUsage);
    std::exit(1);
}

// "a,b,c" -> {"a", "b", "c"}; "" -> {""}.
std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> parts;
    std::size_t i = 0;
    while (i <= s.size()) {
        auto j = s.find(',', i);
        if (j == std::string::npos) j = s.size();
        parts.push_back(s.substr(i, j - i));
        i = j + 1;
    }
    return parts;
}

std::vector<double> parse_list(const std::string& s) {
    std::vector<double> v;
    for (const auto& part : split_commas(s)) {
        char* end = nullptr;
        double x = std::strtod(part.c_str(), &end);
        if (part.empty() || *end) usage_error("not a number: " + part);
        v.push_back(x);
    }
    return v;
}

std::string fmt(double x, const char* f = "%.0f") {
    if (std::isnan(x)) return "-";
    char b[64];
    std::snprintf(b, sizeof b, f, x);
    return b;
}

std::string thousands(std::size_t n) {
    std::string s = std::to_string(n), out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (i && (s.size() - i) % 3 == 0) out += ',';
        out += s[i];
    }
    return out;
}

std::string bytes(double b) {
    if (b >= 1 << 20) return fmt(b / (1 << 20), "%.1f MiB");
    if (b >= 1 << 10) return fmt(b / (1 << 10), "%.1f KiB");
    return fmt(b, "%.0f B");
}

std::string replay(const FigureOptions& o) {
    std::string s = "dcsim --nodes " + std::to_string(o.nodes) + " --degree " + std::to_string(o.degree) +
                    " --topology " + o.topology + " --latency " + std::to_string(o.latency) + " --jitter " +
                    std::to_string(o.jitter) + " --crypto " + (o.crypto == CryptoKind::fast ? "fast" : "real") +
                    " --samples " + std::to_string(o.samples) + " --seed " + std::to_string(o.seed);
    s += " --idle " + std::to_string(o.idle) + " --fp-window " + std::to_string(o.fp_window) + " --churn " +
         std::to_string(o.churn) + " --churn-rate " + fmt(o.churn_rate, "%g") + " --loss ";
    for (std::size_t i = 0; i < o.losses.size(); ++i) s += (i ? "," : "") + fmt(o.losses[i], "%g");
    if (o.join_window != FigureOptions{}.join_window) s += " --join-window " + std::to_string(o.join_window);
    if (o.super_client) s += " --super";
    if (!o.check_views) s += " --no-views";
    core::Config d;
    if (o.node.probe_interval != d.probe_interval) s += " --probe-interval " + std::to_string(o.node.probe_interval);
    if (o.node.probe_interval_max != d.probe_interval_max)
        s += " --probe-interval-max " + std::to_string(o.node.probe_interval_max);
    if (o.node.probe_timeout != d.probe_timeout) s += " --probe-timeout " + std::to_string(o.node.probe_timeout);
    if (o.node.indirect_timeout != d.indirect_timeout) s += " --indirect-timeout " + std::to_string(o.node.indirect_timeout);
    if (o.node.refresh_interval != d.refresh_interval) s += " --refresh " + std::to_string(o.node.refresh_interval);
    return s;
}

void print_run(const Figures& f) {
    const auto& o = f.opts;
    std::printf("dcsim: %zu users, %s graph, mean degree %.2f, links %" PRId64 " ms + 0..%" PRId64
                " ms jitter, %s crypto%s, seed %" PRIu64 "\n",
                f.nodes, o.topology.c_str(), f.mean_degree, o.latency, o.jitter,
                o.crypto == CryptoKind::fast ? "fast" : "real", o.super_client ? ", one super-client" : "", o.seed);
    std::printf("join: links made within %.1f s (virtual), network built in %.1f s wall\n", static_cast<double>(f.join_ms) / 1000,
                f.wall_setup_s);
    std::printf("status change -> two-hop sphere (ms): offline median %s p99 %s max %s (%zu); "
                "online at a new address median %s p99 %s max %s (%zu); %zu of %zu not reached in 5 s\n",
                fmt(f.offline_ms.median()).c_str(), fmt(f.offline_ms.p99()).c_str(), fmt(f.offline_ms.max()).c_str(),
                f.offline_ms.size(), fmt(f.online_ms.median()).c_str(), fmt(f.online_ms.p99()).c_str(),
                fmt(f.online_ms.max()).c_str(), f.online_ms.size(), f.change_missed, f.change_targets);
    for (auto& l : f.liveness)
        std::printf("loss %4.1f%%: crash seen by contacts (ms) median %s p99 %s max %s (%zu), %zu undetected in 10 s; "
                    "false offline %zu in %.1f node-hours (%s per node-hour), %zu of %zu watched pairs flapped\n",
                    l.loss * 100, fmt(l.detect_ms.median()).c_str(), fmt(l.detect_ms.p99()).c_str(),
                    fmt(l.detect_ms.max()).c_str(), l.detect_ms.size(), l.undetected, l.false_offline, l.fp_node_hours,
                    fmt(l.fp_node_hours > 0 ? static_cast<double>(l.false_offline) / l.fp_node_hours : 0, "%.2f").c_str(),
                    l.flapping_pairs, l.watched_pairs);
    std::printf("traffic per user, sent: idle %.1f packets/s %.0f B/s; churn (%zu departures) %.1f packets/s %.0f B/s\n",
                f.idle_packets, f.idle_bytes, f.churn_departures, f.churn_packets, f.churn_bytes);
    std::printf("crypto per user per second, idle: %.1f signs, %.1f verifies\n", f.signs_per_node_s, f.verifies_per_node_s);
    if (f.views_checked) std::printf("views 30 s after churn: %s\n", f.after_churn.summary().c_str());
    std::printf("memory per user: %s after join, %s at the end, %s without the in-memory stores\n",
                bytes(f.mem_per_node).c_str(), bytes(f.mem_end_per_node).c_str(), bytes(f.mem_core_per_node).c_str());
    std::printf("speed: %.2f simulated s per wall s idle; %.1f us wall per user-second (bare loop %.2f, ratio %.0f); "
                "%.2f us per datagram (bare %.3f)\n",
                f.sim_per_wall, f.wall_us_per_node_s, f.bare_us_per_node_s,
                f.bare_us_per_node_s > 0 ? f.wall_us_per_node_s / f.bare_us_per_node_s : 0, f.wall_us_per_datagram,
                f.bare_us_per_datagram);
    std::printf("cost per handled input: %.2f us at a user", f.node_us_per_event);
    if (o.super_client) std::printf(", %.2f us at the super-client", f.super_us_per_event);
    std::printf("\ntrace %016" PRIx64 ", %.1f s wall in all\n", f.trace, f.wall_total_s);
    for (auto& p : f.problems) std::printf("PROBLEM: %s\n", p.c_str());
    if (!f.problems.empty()) std::printf("replay: %s\n", replay(o).c_str());
}

void print_table(const std::vector<Figures>& fs) {
    auto row = [&](const std::string& name, auto cell, const std::string& anchor) {
        std::printf("| %s |", name.c_str());
        for (auto& f : fs) std::printf(" %s |", cell(f).c_str());
        std::printf(" %s |\n", anchor.c_str());
    };
    std::printf("| figure |");
    for (auto& f : fs) std::printf(" %s users |", thousands(f.nodes).c_str());
    std::printf(" anchor |\n|---|");
    for (std::size_t i = 0; i < fs.size(); ++i) std::printf("---|");
    std::printf("---|\n");
    auto pair = [](const Dist& d) { return fmt(d.median()) + " / " + fmt(d.p99()); };
    row("status change (\\quit) reaches the two-hop sphere, median / p99 ms", [&](const Figures& f) { return pair(f.offline_ms); },
        "2 hops x 10 ms = 20 ms");
    row("restart at a new address reaches the two-hop sphere, median / p99 ms", [&](const Figures& f) { return pair(f.online_ms); },
        "2 hops x 10 ms = 20 ms");
    row("two-hop users not reached within 5 s", [&](const Figures& f) {
        return std::to_string(f.change_missed) + " of " + std::to_string(f.change_targets);
    }, "0");
    for (std::size_t k = 0; k < fs.front().liveness.size(); ++k) {
        double loss = fs.front().liveness[k].loss;
        std::string l = fmt(loss * 100, "%.0f") + "% loss";
        row("crash detected by contacts, median / p99 ms, " + l, [&](const Figures& f) { return pair(f.liveness[k].detect_ms); },
            k == 0 ? "memberlist (SWIM) defaults: probe 1 s, then suspicion 4 x log10(n) s = 8 / 12 / 16 s at 100 / 1k / 10k"
                   : "");
        row("contacts that missed a crash for 10 s, " + l, [&](const Figures& f) {
            return std::to_string(f.liveness[k].undetected) + " of " +
                   std::to_string(f.liveness[k].detect_ms.size() + f.liveness[k].undetected);
        }, "0");
        row("false offline per user-hour, " + l, [&](const Figures& f) {
            auto& x = f.liveness[k];
            return fmt(x.fp_node_hours > 0 ? static_cast<double>(x.false_offline) / x.fp_node_hours : 0, "%.2f") + " (" +
                   std::to_string(x.flapping_pairs) + " of " + std::to_string(x.watched_pairs) + " pairs)";
        }, "0");
    }
    row("packets / bytes per user per second, idle (sent)",
        [&](const Figures& f) { return fmt(f.idle_packets, "%.1f") + " / " + fmt(f.idle_bytes); },
        "Tox DHT: 632 B/s with no friends, 16 kB/s with 100");
    row("idle bytes against Tox's 632 B/s (0 friends)",
        [&](const Figures& f) { return fmt(f.idle_bytes / 632, "%.2f") + "x"; }, "1x");
    row("packets / bytes per user per second, churn (sent)",
        [&](const Figures& f) { return fmt(f.churn_packets, "%.1f") + " / " + fmt(f.churn_bytes); }, "");
    row("signs / verifies per user per second, idle",
        [&](const Figures& f) { return fmt(f.signs_per_node_s, "%.1f") + " / " + fmt(f.verifies_per_node_s, "%.1f"); }, "");
    row("memory per user (after join / end / without store)", [&](const Figures& f) {
        return bytes(f.mem_per_node) + " / " + bytes(f.mem_end_per_node) + " / " + bytes(f.mem_core_per_node);
    }, "");
    row("simulated seconds per wall second (idle)", [&](const Figures& f) { return fmt(f.sim_per_wall, "%.1f"); }, "");
    row("wall us per user-second: simulator / bare loop (ratio)", [&](const Figures& f) {
        return fmt(f.wall_us_per_node_s, "%.1f") + " / " + fmt(f.bare_us_per_node_s, "%.2f") + " (" +
               fmt(f.bare_us_per_node_s > 0 ? f.wall_us_per_node_s / f.bare_us_per_node_s : 0) + "x)";
    }, "bare loop = 1x");
    row("views 30 s after churn (mismatches / pairs)", [&](const Figures& f) {
        if (!f.views_checked) return std::string("-");
        auto& c = f.after_churn;
        return std::to_string(c.missing + c.wrong_status + c.wrong_addr) + " / " + std::to_string(c.checked);
    }, "0");
    row("wall time of the run (s)", [&](const Figures& f) { return fmt(f.wall_total_s, "%.0f"); }, "");
    for (auto& f : fs)
        std::printf("\n%zu users: trace %016" PRIx64 "%s", f.nodes, f.trace, f.problems.empty() ? "" : ", PROBLEMS:");
    std::printf("\n");
    for (auto& f : fs)
        for (auto& p : f.problems) std::printf("PROBLEM (%zu users, replay: %s): %s\n", f.nodes, replay(f.opts).c_str(), p.c_str());
}

// --upset superclient,crash,partition: the upsets to run, in the order given, each once.
std::vector<Upset> parse_upsets(const std::string& s) {
    std::vector<Upset> v;
    for (const auto& name : split_commas(s)) {
        Upset u{};
        if (name == "superclient") u = Upset::super_removed;
        else if (name == "crash") u = Upset::mass_crash;
        else if (name == "partition") u = Upset::partition;
        else usage_error("unknown upset '" + name + "' (superclient, crash or partition)");
        for (auto w : v)
            if (w == u) usage_error("upset '" + name + "' given twice");
        v.push_back(u);
    }
    return v;
}

std::string ms(double v) { return std::isnan(v) ? "-" : std::to_string(static_cast<long long>(v)) + " ms"; }

int run_resilience(const ResilienceOptions& ro, const std::vector<Upset>& upsets) {
    std::printf("| upset (%zu users, seed %" PRIu64 ") | pairs | affected | settled: median | p99 | worst | "
                "unsettled | false offline | lines sent | lost | shown twice | wall | trace |\n",
                ro.net.nodes, ro.net.seed);
    std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    std::vector<std::string> notes;
    bool ok = true;
    for (auto u : upsets) {
        Resilience r = resilience(u, ro);
        std::printf("| %s | %zu | %zu | %s | %s | %s | %zu | %zu | %zu | %zu | %zu | %.0f s | %016" PRIx64 " |\n",
                    upset_name(u), r.pairs, r.affected, ms(r.settle_ms.median()).c_str(), ms(r.settle_ms.p99()).c_str(),
                    ms(r.settle_ms.max()).c_str(), r.unsettled, r.false_offline, r.sent, r.lost, r.shown_twice,
                    r.wall_s, r.trace);
        std::fflush(stdout);
        if (r.unsettled)
            notes.push_back(std::string(upset_name(u)) + ": " + std::to_string(r.unknown) + " unknown, " +
                            std::to_string(r.wrong_status) + " wrong status, " + std::to_string(r.wrong_addr) +
                            " at an old address; e.g. " + (r.examples.empty() ? "" : r.examples.front()));
        for (std::size_t i = 1; i < r.examples.size(); ++i) notes.push_back("  " + r.examples[i]);
        ok = ok && r.lost == 0 && r.shown_twice == 0;
    }
    for (auto& n : notes) std::printf("%s\n", n.c_str());
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    FigureOptions o;
    std::vector<double> table;
    bool idle_set = false, fp_set = false, churn_set = false, views_set = false;
    bool resilient = false, stride_set = false;
    ResilienceOptions ro;
    std::vector<Upset> upsets{Upset::super_removed, Upset::mass_crash, Upset::partition};
    bool upsets_set = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage_error(a + " needs a value");
            return argv[++i];
        };
        auto number = [&]() {
            auto v = parse_list(value());
            if (v.size() != 1 || v[0] < 0) usage_error(a + " needs one number");
            return v[0];
        };
        if (a == "--nodes") o.nodes = static_cast<std::size_t>(number());
        else if (a == "--degree") o.degree = static_cast<std::size_t>(number());
        else if (a == "--topology") o.topology = value();
        else if (a == "--latency") o.latency = static_cast<TimeMs>(number());
        else if (a == "--jitter") o.jitter = static_cast<TimeMs>(number());
        else if (a == "--loss") o.losses = parse_list(value());
        else if (a == "--crypto") {
            auto k = value();
            if (k == "fast") o.crypto = CryptoKind::fast;
            else if (k == "real") o.crypto = CryptoKind::real;
            else usage_error("--crypto is fast or real");
        } else if (a == "--super") o.super_client = true;
        else if (a == "--join-window") o.join_window = static_cast<TimeMs>(number());
        else if (a == "--samples") o.samples = static_cast<std::size_t>(number());
        else if (a == "--idle") o.idle = static_cast<TimeMs>(number()), idle_set = true;
        else if (a == "--fp-window") o.fp_window = static_cast<TimeMs>(number()), fp_set = true;
        else if (a == "--churn") o.churn = static_cast<TimeMs>(number()), churn_set = true;
        else if (a == "--churn-rate") o.churn_rate = number();
        else if (a == "--probe-interval") o.node.probe_interval = static_cast<TimeMs>(number());
        else if (a == "--probe-interval-max") o.node.probe_interval_max = static_cast<TimeMs>(number());
        else if (a == "--probe-timeout") o.node.probe_timeout = static_cast<TimeMs>(number());
        else if (a == "--indirect-timeout") o.node.indirect_timeout = static_cast<TimeMs>(number());
        else if (a == "--refresh") o.node.refresh_interval = static_cast<TimeMs>(number());
        else if (a == "--no-views") o.check_views = false, views_set = true;
        else if (a == "--no-bare") o.bare = false;
        else if (a == "--seed") o.seed = std::strtoull(value().c_str(), nullptr, 0);
        else if (a == "--table") table = parse_list(value());
        else if (a == "--resilience") resilient = true;
        else if (a == "--upset") upsets = parse_upsets(value()), upsets_set = true;
        else if (a == "--watch") ro.watch = static_cast<TimeMs>(number());
        else if (a == "--stride") ro.stride = static_cast<std::size_t>(number()), stride_set = true;
        else if (a == "--messages") ro.messages = static_cast<std::size_t>(number());
        else if (a == "-v") o.verbose = true;
        else if (a == "--help" || a == "-h") {
            std::printf("%s", kUsage);
            return 0;
        } else usage_error("unknown option " + a);
    }
    if (o.topology != "figure3" && o.topology != "random" && o.topology != "social")
        usage_error("unknown topology " + o.topology);
    if (o.idle <= 0) usage_error("--idle must be positive");
    if (o.join_window <= 0) usage_error("--join-window must be positive");
    if (upsets_set && !resilient) usage_error("--upset needs --resilience");
    try {
        if (resilient) {
            if (ro.watch <= 0 || ro.stride == 0) usage_error("--watch and --stride must be positive");
            if (!stride_set && o.nodes >= 10000) ro.stride = 10;
            ro.net = o;
            return run_resilience(ro, upsets);
        }
        if (table.empty()) {
            auto f = measure(o);
            print_run(f);
            return f.problems.empty() ? 0 : 1;
        }
        std::vector<Figures> fs;
        bool ok = true;
        for (double n : table) {
            FigureOptions x = o;
            x.nodes = static_cast<std::size_t>(n);
            // Bigger networks give enough samples in shorter windows.
            if (x.nodes >= 1000) {
                if (!idle_set) x.idle = 10000;
                if (!fp_set) x.fp_window = 20000;
                if (!churn_set) x.churn = 20000;
            }
            if (x.nodes >= 10000) {
                if (!idle_set) x.idle = 5000;
                if (!fp_set) x.fp_window = 5000;
                if (!churn_set) x.churn = 10000;
                if (!views_set) x.check_views = false;
            }
            fs.push_back(measure(x));
            print_run(fs.back());
            std::printf("\n");
            std::fflush(stdout);
            ok = ok && fs.back().problems.empty();
        }
        print_table(fs);
        return ok ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dcsim: %s (seed %" PRIu64 ")\nreplay: %s\n", e.what(), o.seed, replay(o).c_str());
        return 1;
    }
}
