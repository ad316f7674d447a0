// An honest pair chatting while one of them is flooded (issue 3, point 4).
//
//   flood_bench [--rate 50000] [--seconds 10] [--interval-ms 100] [--no-claim]
//               [--identities 1000] [--bin-dir DIR]   (default: the build directory this program is in)
//
// Real processes on 127.0.0.1: a super-client S, alice and bob (alice \add bob).
// Three phases of --seconds each, in one run:
//   baseline  alice says a line to bob every --interval-ms, nothing else;
//   flood     the same while dcattack floods bob with --rate forged and random
//             datagrams per second (made-up identities, fresh keys claiming
//             alice's name, truncated, nested, wrong-version, oversized, random;
//             --identities made-up identities, 64 source ports);
//   claim     the same flood plus packets carrying alice's own name, session,
//             key and port in the header with a bad signature (--no-claim skips it).
// For each phase: lines sent, shown by bob (once each?), acked ("* delivered"
// at alice, waiting up to 15 s after the phase), the latency from writing a
// line to alice until bob prints it (median, p99, max), bob's VmRSS (peak of
// samples every 200 ms) and VmHWM, bob's CPU time, the datagrams the kernel
// dropped at bob's socket (its receive buffer full: /proc/net/udp), and the
// rate dcattack reached. The node's own budget counters are not exported, so
// packets dropped by its budgets are not shown.
// Bounded: every wait has a deadline; every process is stopped by pid.
#include "bench_util.hpp"

#include <map>

using namespace dc::bench;

namespace {

struct Node {
    std::string name;
    Child proc;
    int port = -1;
};

Node start(const std::vector<std::string>& argv, const std::string& name, const std::string& stderr_file) {
    Node n;
    n.name = name;
    SpawnOptions o;
    o.stderr_file = stderr_file;
    o.pipe_in = argv[0].find("darkchatd") == std::string::npos;
    if (!o.pipe_in) {  // darkchatd: its output to files
        o.pipe_out = false;
        o.stdout_file = stderr_file + ".out";
        n.proc = spawn_tracked(argv, o);
        std::optional<std::string> l;
        for (auto deadline = after_ms(10000); !l && now() < deadline;) {
            for (auto& f : {stderr_file, o.stdout_file})
                if (!l) l = wait_for_file_line(f, "* ready:", after_ms(50));
        }
        if (!l) die(name + " printed no ready line (" + stderr_file + ")");
        n.port = ready_port(*l);
        return n;
    }
    n.proc = spawn_tracked(argv, o);
    auto deadline = after_ms(10000);
    for (int guard = 0; guard < 1000; ++guard) {
        auto l = n.proc.out_lines.next(deadline);
        if (!l) break;
        if (l->rfind("* ready:", 0) == 0) {
            n.port = ready_port(*l);
            return n;
        }
    }
    die(name + " printed no ready line (" + stderr_file + ")");
}

void say(Node& n, const std::string& line) {
    if (!write_all(n.proc.in, line + "\n")) die("cannot write to " + n.name);
}

void expect(Node& n, const std::string& prefix, long ms = 10000) {
    auto deadline = after_ms(ms);
    for (int guard = 0; guard < 100000; ++guard) {
        auto l = n.proc.out_lines.next(deadline);
        if (!l) break;
        if (l->rfind(prefix, 0) == 0) return;
    }
    die(n.name + " did not print '" + prefix + "'");
}

// Datagrams the kernel dropped at the UDP socket bound to 127.0.0.1:port.
long long socket_drops(int port) {
    std::istringstream in(read_file("/proc/net/udp"));
    std::string line;
    char want[32];
    std::snprintf(want, sizeof want, "0100007F:%04X", port);
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string slot, local;
        f >> slot >> local;
        if (local != want) continue;
        std::string last, x;
        while (f >> x) last = x;
        return std::atoll(last.c_str());
    }
    return -1;
}

struct Phase {
    std::string name;
    std::size_t sent = 0, shown = 0, duplicates = 0, delivered = 0;
    std::vector<double> latency_ms;
    long long rss_before_kb = 0, rss_peak_kb = 0, hwm_after_kb = 0;
    double cpu_s = 0, seconds = 0;
    long long drops = 0;
    std::string attack;  // dcattack's summary line
};

// One phase: alice says a line every interval for `seconds` while `attack`
// (if any) runs; then waits for the stragglers.
Phase run_phase(const std::string& name, Node& alice, Node& bob, double seconds, long interval_ms,
                const std::vector<std::string>& attack) {
    Phase p;
    p.name = name;
    auto before = sample_proc(bob.proc.pid);
    p.rss_before_kb = before ? before->rss_kb : -1;
    p.rss_peak_kb = p.rss_before_kb;
    long long drops0 = socket_drops(bob.port);

    Child flood;
    if (!attack.empty()) {
        SpawnOptions o;
        o.pipe_in = false;
        o.stderr_file = "/tmp/flood_bench-dcattack.stderr";
        flood = spawn_tracked(attack, o);
        // It makes its packets first, then says it is sending.
        bool sending = false;
        auto deadline = after_ms(60000);
        for (int guard = 0; guard < 1000 && !sending; ++guard) {
            auto l = flood.out_lines.next(deadline);
            if (!l) break;
            sending = l->find("sending") != std::string::npos;
        }
        if (!sending) die("dcattack did not start its flood (" + o.stderr_file + ")");
    }

    std::map<std::string, TimePoint> written;
    std::map<std::string, int> seen;
    auto start = now();
    auto next_line = start;
    auto next_sample = start;
    auto end = start + std::chrono::milliseconds(static_cast<long>(seconds * 1000));
    auto drain_end = end + std::chrono::seconds(15);
    std::size_t i = 0;
    for (int guard = 0; guard < 10000000; ++guard) {
        auto t = now();
        if (t >= next_sample) {
            if (auto s = sample_proc(bob.proc.pid)) p.rss_peak_kb = std::max(p.rss_peak_kb, s->rss_kb);
            next_sample = t + std::chrono::milliseconds(200);
        }
        if (t < end && t >= next_line) {
            std::string text = name + " " + std::to_string(i++);
            written[text] = now();
            say(alice, text);
            ++p.sent;
            next_line += std::chrono::milliseconds(interval_ms);
        }
        if (t >= end && p.delivered >= p.sent) break;
        if (t >= drain_end) break;
        auto wake = std::min({t < end ? next_line : drain_end, next_sample, drain_end});
        pump_lines({&alice.proc.out_lines, &bob.proc.out_lines}, std::min(wake, t + std::chrono::milliseconds(50)),
                   [&](std::size_t who, const std::string& l) {
                       if (who == 0 && l.rfind("* delivered", 0) == 0) ++p.delivered;
                       if (who == 1 && l.rfind("<alice> " + name + " ", 0) == 0) {
                           std::string text = l.substr(8);
                           if (++seen[text] == 1) {
                               ++p.shown;
                               if (auto w = written.find(text); w != written.end())
                                   p.latency_ms.push_back(us_between(w->second, now()) / 1000.0);
                           } else {
                               ++p.duplicates;
                           }
                       }
                       return false;
                   });
    }
    p.seconds = s_between(start, now());
    if (!attack.empty()) {
        auto l = flood.out_lines.next(after_ms(70000));
        if (l) p.attack = *l;
        stop_tracked(flood, 5000);
    }
    auto after = sample_proc(bob.proc.pid);
    p.hwm_after_kb = after ? after->hwm_kb : -1;
    p.cpu_s = after && before ? static_cast<double>(after->cpu_ticks - before->cpu_ticks) /
                                    static_cast<double>(::sysconf(_SC_CLK_TCK))
                              : -1;
    p.drops = socket_drops(bob.port) - drops0;
    return p;
}

void print(const Phase& p) {
    auto s = summarize(p.latency_ms);
    std::printf("| %s | %zu | %zu | %zu | %zu | %s / %s / %s | %.1f / %.1f | %.1f | %.2f | %lld |\n", p.name.c_str(),
                p.sent, p.shown, p.duplicates, p.delivered, fmt(s.median).c_str(), fmt(s.p99).c_str(),
                fmt(s.max).c_str(), static_cast<double>(p.rss_before_kb) / 1024.0,
                static_cast<double>(p.rss_peak_kb) / 1024.0, static_cast<double>(p.hwm_after_kb) / 1024.0, p.cpu_s,
                p.drops);
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    std::string bin = self_dir() + "/..";
    double rate = 50000, seconds = 10;
    long interval_ms = 100;
    bool claim = true;
    std::string identities = "1000";
    for (int i = 1; i < argc; ++i) {
        std::string k = argv[i];
        if (k == "--no-claim") {
            claim = false;
            continue;
        }
        if (i + 1 >= argc) die(k + " needs a value");
        std::string v = argv[++i];
        if (k == "--rate") rate = std::strtod(v.c_str(), nullptr);
        else if (k == "--seconds") seconds = std::strtod(v.c_str(), nullptr);
        else if (k == "--interval-ms") interval_ms = std::strtol(v.c_str(), nullptr, 10);
        else if (k == "--bin-dir") bin = v;
        else if (k == "--identities") identities = v;
        else die("unknown option " + k);
    }
    if (!(rate >= 1 && rate <= 1e6 && seconds > 0 && seconds <= 60 && interval_ms >= 10 && interval_ms <= 10000))
        die("out of range: --rate 1..1000000, --seconds up to 60, --interval-ms 10..10000");
    std::string darkchat = bin + "/darkchat", darkchatd = bin + "/darkchatd", dcattack = bin + "/tools/attack/dcattack";

    std::atexit(kill_tracked);
    TempDir tmp("flood");
    Node s = start({darkchatd, "-s", "-u", "S", "-p", "0", "--bind", "127.0.0.1", "--data-dir", tmp.path + "/S"}, "S",
                   tmp.path + "/S.stderr");
    auto node = [&](const std::string& name) {
        return start({darkchat, "-u", name, "-p", "0", "--bind", "127.0.0.1", "--data-dir", tmp.path + "/" + name,
                      "-sip", "127.0.0.1", "-sp", std::to_string(s.port)},
                     name, tmp.path + "/" + name + ".stderr");
    };
    Node alice = node("alice"), bob = node("bob");
    say(alice, "\\add bob");
    expect(alice, "* online bob");
    expect(bob, "* online alice");
    say(alice, "\\chat bob");

    std::string target = "127.0.0.1:" + std::to_string(bob.port);
    std::vector<std::string> attack = {dcattack,       "flood", "--target",     target, "--rate", fmt(rate, 0),
                                       "--seconds",    fmt(seconds, 3), "--identities", identities, "--ports", "64",
                                       "--as",         "alice"};
    std::printf("# flood_bench: %s datagrams/s for %s s at bob; alice says a line every %ld ms\n", fmt(rate, 0).c_str(),
                fmt(seconds, 1).c_str(), interval_ms);
    std::printf("| phase | lines sent | shown by bob | shown twice | acked | latency ms median / p99 / max | bob "
                "VmRSS MiB before / peak | bob VmHWM MiB after | bob CPU s | kernel drops at bob |\n");
    std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
    std::vector<Phase> phases;
    phases.push_back(run_phase("baseline", alice, bob, seconds, interval_ms, {}));
    print(phases.back());
    phases.push_back(run_phase("flood", alice, bob, seconds, interval_ms, attack));
    print(phases.back());
    if (claim) {
        auto with_claim = attack;
        with_claim.insert(with_claim.end(), {"--claim-peer", "127.0.0.1:" + std::to_string(alice.port)});
        phases.push_back(run_phase("claim", alice, bob, seconds, interval_ms, with_claim));
        print(phases.back());
    }
    for (auto& p : phases)
        if (!p.attack.empty()) std::printf("# %s: %s\n", p.name.c_str(), p.attack.c_str());
    stop_tracked(alice.proc);
    stop_tracked(bob.proc);
    stop_tracked(s.proc);
    return 0;
}
