// Relay killed: time to the chat working again (issue 5, point 5).
//
//   relocation_bench [--runs 10] [--relays 2] [--interval-ms 20] [--kill-after 50]
//                    [--after-ms 1000] [--phase-ms 1000] [--seed N]
//                    [--relay-timeout MS] [--pass-interval MS]
//                    [--bin-dir DIR]   (default: the build directory this program is in)
//
// Real processes on 127.0.0.1, fresh ones in a fresh temporary directory each
// run: a directory (darkchatd --directory), --relays relays registered with it
// (darkchatd --relay --dir), alice and bob (darkchat --dir). Alice asks for a
// chat (\request bob), bob accepts; once both are in the room, after a random
// pause of 0..--phase-ms (so that the kill falls at any point of the relays'
// heartbeat and the directory's pass; --seed makes it repeatable), alice writes
// "line N" to her standard input every --interval-ms. Right after line
// --kill-after is written the relay hosting the room gets SIGKILL (by pid);
// alice goes on writing until --after-ms after bob showed the first line
// written after the kill, then we wait for the last line and for strays.
//
// Figures of a run, all from the kill, as the bench reads the processes' output:
//   (a) bob prints "* room ID moved to relay ... (relay died)";
//   (b) bob prints the first alice line written after the kill: the chat works again;
// and on the way: the directory's "relay ... out of service", alice's "moved"
// line, and the last of the two joins the new relay logs. Every line 1..N shown
// by bob exactly once and in order? Counted: lost (never shown), duplicated
// (shown again), out of order (shown after a higher number). Baseline, same run:
// the one-way latency of a line (written to alice, shown by bob) on the healthy
// room, over the lines written and shown before the kill (those caught by the
// kill, written before it and shown after, are counted apart); and the bound the figures
// compare with, the directory's relay timeout and pass interval as it printed
// them at start-up.
//
// A benchmark, not a test: it prints figures and asserts nothing about them.
// Every wait has a deadline; every process is stopped by pid; every run's
// temporary directory is removed.
#include "bench_util.hpp"

#include "darkchat/roles.hpp"

#include <map>
#include <random>

using namespace dc::bench;

namespace {

struct Config {
    std::string bin;
    int relays = 2;
    long interval_ms = 20, after_ms = 1000;
    int kill_after = 50;
    long phase_ms = 1000;
    std::uint64_t seed = 0;
    std::vector<std::string> dir_flags;  // --relay-timeout / --pass-interval, as given
};

struct Result {
    long relay_timeout = -1, pass_interval = -1;  // as the directory printed them
    std::vector<double> healthy_ms;  // one-way latency of the lines written and shown before the kill
    int caught = 0;                   // lines written before the kill and shown after it
    double detect_ms = -1;            // kill -> directory: relay out of service
    double moved_alice_ms = -1;
    double moved_ms = -1;             // (a) kill -> bob: moved (relay died)
    double joined_ms = -1;            // kill -> the new relay logged the second join
    double working_ms = -1;           // (b) kill -> bob shows the first line written after the kill
    std::string first_line;           // that line
    int sent = 0, shown = 0, lost = 0, duplicated = 0, reordered = 0;
    bool delivered_all = false;       // alice printed "* delivered" for the last line
};

double ms_since(TimePoint from, TimePoint t) { return us_between(from, t) / 1000.0; }

// "* room ID on relay 127.0.0.1:PORT with ..." or "* room ID moved to relay 127.0.0.1:PORT (...)": the port.
int relay_port_of(const std::string& line) {
    auto at = line.find("relay 127.0.0.1:");
    return at == std::string::npos ? -1 : std::atoi(line.c_str() + at + 16);
}

// "pass every 500 ms, relay timeout 1000 ms" in the directory's start-up line.
void parse_dir_config(const std::string& line, Result& r) {
    auto p = line.find("pass every ");
    auto t = line.find("relay timeout ");
    if (p != std::string::npos) r.pass_interval = std::atol(line.c_str() + p + 11);
    if (t != std::string::npos) r.relay_timeout = std::atol(line.c_str() + t + 14);
}

Result run_once(const Config& cfg, std::mt19937_64& rng) {
    Result res;
    TempDir tmp("reloc");
    // Nothing lands in the real home.
    ::setenv("HOME", tmp.path.c_str(), 1);
    ::setenv("XDG_DATA_HOME", (tmp.path + "/xdg").c_str(), 1);

    Run run;
    auto daemon = [&](Proc& p, const std::string& role, std::vector<std::string> extra) {
        start_daemon(run, p, cfg.bin, role, tmp.path, extra);
    };
    auto user = [&](Proc& p, const std::string& dir) { start_user(run, p, cfg.bin, tmp.path, {"--dir", dir}); };

    Proc dir, alice, bob;
    std::vector<Proc> relays(static_cast<std::size_t>(cfg.relays));
    dir.name = "dir";
    alice.name = "alice";
    bob.name = "bob";
    daemon(dir, "directory", cfg.dir_flags);
    parse_dir_config(dir.lines[run.expect(dir, "relay timeout ", 5000)], res);
    std::string dir_addr = "127.0.0.1:" + std::to_string(dir.port);
    for (std::size_t i = 0; i < relays.size(); ++i) {
        relays[i].name = "R" + std::to_string(i + 1);
        daemon(relays[i], "relay", {"--dir", dir_addr});
    }
    user(alice, dir_addr);
    user(bob, dir_addr);

    // Both users have measured every relay (\relays shows an rtt for each).
    for (auto* u : {&alice, &bob}) wait_relays_measured(run, *u, cfg.relays);
    // The delay vectors reach the directory with the next client heartbeat (each second).
    run.pump(after_ms(1500));

    // alice asks, bob accepts; SERVER_ERR (no relay measured by both yet) is asked again.
    std::size_t am = 0, bm = 0;
    for (int attempt = 0;; ++attempt) {
        am = alice.lines.size();
        bm = bob.lines.size();
        say(alice, "\\request bob");
        run.expect(bob, "* alice asks for a chat", 5000, bm);
        say(bob, "\\accept alice");
        std::size_t i = run.expect(alice, "* request bob: ", 5000, am);
        for (; alice.lines[i].find("REQ_ACCEPTED") == std::string::npos &&
               alice.lines[i].find("SERVER_ERR") == std::string::npos;)
            i = run.expect(alice, "* request bob: ", 5000, i + 1);
        if (alice.lines[i].find("REQ_ACCEPTED") != std::string::npos) break;
        if (attempt >= 4) die("SERVER_ERR five times");
        run.pump(after_ms(1000));
    }
    const std::string joined = bob.lines[run.expect(bob, "* room ", 5000, bm)];
    std::string room = joined.substr(7, 8);
    int host_port = relay_port_of(joined);
    run.expect(alice, "* lines now go to room " + room, 5000, am);
    run.expect(bob, "* lines now go to room " + room, 5000, bm);
    run.pump(after_ms(500 + static_cast<long>(rng() % static_cast<std::uint64_t>(cfg.phase_ms + 1))));

    // The stream. Lines 1..kill_after are written before the kill, the rest after.
    const std::string shown_prefix = "[" + room + "] <alice> line ";
    const std::string moved = "* room " + room + " moved to relay ";
    std::vector<TimePoint> written(1);  // written[n]: when line n went to alice's stdin
    std::size_t bob_from = bob.lines.size(), alice_from = alice.lines.size();
    std::size_t scan = bob_from;
    Proc* victim = nullptr;
    TimePoint killed{}, next_line = now();
    std::optional<TimePoint> working;
    auto hard_end = next_line + std::chrono::milliseconds(cfg.interval_ms * cfg.kill_after + 20000);
    for (int guard = 0; guard < 10000000; ++guard) {
        auto t = now();
        if (t >= next_line) {
            int n = static_cast<int>(written.size());
            written.push_back(now());
            say(alice, "line " + std::to_string(n));
            next_line += std::chrono::milliseconds(cfg.interval_ms);
            if (n == cfg.kill_after) {
                // The relay hosting the room now: where it was created or last moved (bob's view).
                for (auto& r : relays)
                    if (r.port == host_port) victim = &r;
                if (!victim) die("no relay of ours at port " + std::to_string(host_port));
                ::kill(victim->c.pid, SIGKILL);
                killed = now();
            }
        }
        for (; scan < bob.lines.size(); ++scan) {
            const std::string& l = bob.lines[scan];
            if (!victim && l.rfind(moved, 0) == 0) host_port = relay_port_of(l);  // moved before the kill ("better")
            if (victim && !working && l.rfind(shown_prefix, 0) == 0 &&
                std::atoi(l.c_str() + shown_prefix.size()) > cfg.kill_after)
                working = bob.when[scan];
        }
        if (working && t >= *working + std::chrono::milliseconds(cfg.after_ms)) break;
        if (t >= hard_end) break;
        run.pump(std::min(next_line, hard_end));
    }
    res.sent = static_cast<int>(written.size()) - 1;

    // The last line shown and acked (bounded), then a while for stray resends (every second).
    const std::string last = "line " + std::to_string(res.sent);
    run.wait(bob, shown_prefix + std::to_string(res.sent), after_ms(15000), bob_from);
    res.delivered_all = run.wait(alice, "* delivered to room " + room + ": " + last, after_ms(15000), alice_from).has_value();
    run.pump(after_ms(1500));

    // The figures, from what everyone printed.
    if (victim) {
        std::string victim_addr = "127.0.0.1:" + std::to_string(victim->port);
        auto first_after = [&](Proc& p, const std::string& needle, std::size_t from = 0) -> double {
            for (std::size_t i = from; i < p.lines.size(); ++i)
                if (p.when[i] >= killed && p.lines[i].find(needle) != std::string::npos) return ms_since(killed, p.when[i]);
            return -1;
        };
        res.detect_ms = first_after(dir, "* relay " + victim_addr + " out of service");
        res.moved_ms = first_after(bob, moved, bob_from);
        res.moved_alice_ms = first_after(alice, moved, alice_from);
        // The relay the room moved to logs each member's join.
        int to_port = -1;
        for (std::size_t i = bob_from; i < bob.lines.size() && to_port < 0; ++i)
            if (bob.lines[i].rfind(moved, 0) == 0) to_port = relay_port_of(bob.lines[i]);
        for (auto& r : relays)
            if (r.port == to_port && &r != victim) {
                double a = first_after(r, "room " + room + ": alice joined");
                double b = first_after(r, "room " + room + ": bob joined");
                res.joined_ms = a < 0 || b < 0 ? -1 : std::max(a, b);
            }
        if (working) res.working_ms = ms_since(killed, *working);
    }
    std::map<int, int> times_shown;
    int highest = 0;
    for (std::size_t i = bob_from; i < bob.lines.size(); ++i) {
        const std::string& l = bob.lines[i];
        if (l.rfind(shown_prefix, 0) != 0) continue;
        int n = std::atoi(l.c_str() + shown_prefix.size());
        if (n < 1 || n > res.sent) continue;
        if (++times_shown[n] > 1) {
            ++res.duplicated;
            continue;
        }
        ++res.shown;
        if (working && res.first_line.empty() && n > cfg.kill_after) res.first_line = "line " + std::to_string(n);
        if (n < highest) ++res.reordered;
        highest = std::max(highest, n);
        if (n > cfg.kill_after) continue;
        if (victim && bob.when[i] >= killed) ++res.caught;
        else res.healthy_ms.push_back(ms_since(written[static_cast<std::size_t>(n)], bob.when[i]));
    }
    res.lost = res.sent - res.shown;

    stop_tracked(alice.c);
    stop_tracked(bob.c);
    for (auto& r : relays)
        if (&r == victim) {
            std::erase(tracked_pids, r.c.pid);
            wait_exit(r.c.pid, after_ms(2000));  // reaped
            if (r.c.out >= 0) ::close(r.c.out);
        } else {
            stop_tracked(r.c);
        }
    stop_tracked(dir.c);
    return res;
}

std::string ms_or_dash(double ms) { return ms < 0 ? "-" : fmt(ms, 0); }

}  // namespace

int main(int argc, char** argv) {
    Config cfg;
    cfg.bin = self_dir() + "/..";
    int runs = 10;
    for (int i = 1; i < argc; ++i) {
        std::string k = argv[i];
        if (i + 1 >= argc) die(k + " needs a value");
        std::string v = argv[++i];
        if (k == "--runs") runs = std::atoi(v.c_str());
        else if (k == "--relays") cfg.relays = std::atoi(v.c_str());
        else if (k == "--interval-ms") cfg.interval_ms = std::atol(v.c_str());
        else if (k == "--kill-after") cfg.kill_after = std::atoi(v.c_str());
        else if (k == "--after-ms") cfg.after_ms = std::atol(v.c_str());
        else if (k == "--phase-ms") cfg.phase_ms = std::atol(v.c_str());
        else if (k == "--seed") cfg.seed = std::strtoull(v.c_str(), nullptr, 10);
        else if (k == "--relay-timeout" || k == "--pass-interval") cfg.dir_flags.insert(cfg.dir_flags.end(), {k, v});
        else if (k == "--bin-dir") cfg.bin = v;
        else die("unknown option " + k);
    }
    if (!(runs >= 1 && runs <= 1000 && cfg.relays >= 2 && cfg.relays <= 16 && cfg.interval_ms >= 5 &&
          cfg.interval_ms <= 1000 && cfg.kill_after >= 5 && cfg.kill_after <= 10000 && cfg.after_ms >= 0 &&
          cfg.after_ms <= 60000 && cfg.phase_ms >= 0 && cfg.phase_ms <= 60000))
        die("out of range: --runs 1..1000, --relays 2..16, --interval-ms 5..1000, --kill-after 5..10000, "
            "--after-ms 0..60000, --phase-ms 0..60000");
    if (cfg.seed == 0) cfg.seed = static_cast<std::uint64_t>(now().time_since_epoch().count()) | 1;
    std::mt19937_64 rng(cfg.seed);
    ::signal(SIGPIPE, SIG_IGN);  // a process that died must not kill the bench
    std::atexit(kill_tracked);

    const dc::roles::RelayConfig relay_defaults;
    const dc::roles::RoomClientConfig client_defaults;
    std::printf("# relocation_bench: %d runs, %d relays; alice writes a line every %ld ms, the room's relay gets "
                "kill -9 right after line %d, after a pause of 0..%ld ms (--seed %llu)\n",
                runs, cfg.relays, cfg.interval_ms, cfg.kill_after, cfg.phase_ms,
                static_cast<unsigned long long>(cfg.seed));
    std::printf("# | run | line latency before the kill, median ms | dir: relay out of service | alice: moved | "
                "(a) bob: moved | new relay: both joined | (b) bob: first line written after the kill | lines "
                "sent | caught by the kill | lost | duplicated | out of order |\n");
    std::printf("# |---|---|---|---|---|---|---|---|---|---|---|---|\n");
    std::fflush(stdout);
    std::vector<Result> all;
    std::vector<double> a_ms, b_ms, detect, joined, healthy;
    int lost = 0, dup = 0, reordered = 0, sent = 0, unacked = 0;
    for (int i = 1; i <= runs; ++i) {
        Result r = run_once(cfg, rng);
        auto h = summarize(r.healthy_ms);
        std::printf("# | %d | %s | %s | %s | %s | %s | %s (%s) | %d | %d | %d | %d | %d |\n", i, fmt(h.median, 2).c_str(),
                    ms_or_dash(r.detect_ms).c_str(), ms_or_dash(r.moved_alice_ms).c_str(),
                    ms_or_dash(r.moved_ms).c_str(), ms_or_dash(r.joined_ms).c_str(), ms_or_dash(r.working_ms).c_str(),
                    r.first_line.empty() ? "none" : r.first_line.c_str(), r.sent, r.caught, r.lost, r.duplicated, r.reordered);
        std::fflush(stdout);
        if (r.moved_ms >= 0) a_ms.push_back(r.moved_ms);
        if (r.working_ms >= 0) b_ms.push_back(r.working_ms);
        if (r.detect_ms >= 0) detect.push_back(r.detect_ms);
        if (r.joined_ms >= 0) joined.push_back(r.joined_ms);
        healthy.insert(healthy.end(), r.healthy_ms.begin(), r.healthy_ms.end());
        lost += r.lost;
        dup += r.duplicated;
        reordered += r.reordered;
        sent += r.sent;
        unacked += !r.delivered_all;
        all.push_back(std::move(r));
    }

    const Result& first = all.front();
    const bool given = !cfg.dir_flags.empty();
    long bound = first.relay_timeout + first.pass_interval;
    std::printf("# directory, from its start-up line: relay timeout %ld ms, pass every %ld ms (%s)\n",
                first.relay_timeout, first.pass_interval,
                given ? "flags given to this bench" : "no flags: the defaults of DirectoryConfig, include/darkchat/roles.hpp");
    std::printf("# fixed defaults (include/darkchat/roles.hpp): relays beat every %lld ms; clients resend unacked "
                "lines every %lld ms and at once after a join, repeat an unanswered join every %lld ms\n",
                static_cast<long long>(relay_defaults.heartbeat_interval),
                static_cast<long long>(client_defaults.resend_interval),
                static_cast<long long>(client_defaults.rejoin_interval));
    std::printf("# the directory sees the relay out of service %ld..%ld ms after the kill (relay timeout less one "
                "relay heartbeat, up to relay timeout plus one pass)\n",
                first.relay_timeout - static_cast<long>(relay_defaults.heartbeat_interval), bound);
    auto sa = summarize(a_ms), sb = summarize(b_ms), sd = summarize(detect), sj = summarize(joined),
         sh = summarize(healthy);
    std::printf("# medians / max over %zu runs: directory out of service %s / %s ms, bob moved (a) %s / %s ms, both "
                "joined the new relay %s / %s ms, first line after the kill (b) %s / %s ms\n",
                all.size(), fmt(sd.median, 0).c_str(), fmt(sd.max, 0).c_str(), fmt(sa.median, 0).c_str(),
                fmt(sa.max, 0).c_str(), fmt(sj.median, 0).c_str(), fmt(sj.max, 0).c_str(), fmt(sb.median, 0).c_str(),
                fmt(sb.max, 0).c_str());
    std::printf("# lines: %d sent, %d lost, %d duplicated, %d out of order; runs whose last line was not acked: %d; "
                "runs with no move seen: %zu, with no line after the kill: %zu\n",
                sent, lost, dup, reordered, unacked, all.size() - a_ms.size(), all.size() - b_ms.size());
    std::printf("# healthy room, one-way line latency over %zu lines written and shown before a kill: median %s ms, p99 %s ms, max %s ms\n", sh.n,
                fmt(sh.median, 2).c_str(), fmt(sh.p99, 2).c_str(), fmt(sh.max, 2).c_str());
    std::fflush(stdout);

    std::string runs_s = std::to_string(all.size()) + " runs";
    row("relay kill -9 to bob's `moved ... (relay died)` (a), median / max", fmt(sa.median, 0) + " / " +
        fmt(sa.max, 0) + " ms (" + runs_s + ")", "directory: relay timeout + pass interval", std::to_string(bound) + " ms",
        fmt(sa.median / static_cast<double>(bound), 2) + "x");
    row("relay kill -9 to the first line written after it shown by bob (b), median / max",
        fmt(sb.median, 0) + " / " + fmt(sb.max, 0) + " ms", "directory: relay timeout + pass interval",
        std::to_string(bound) + " ms", fmt(sb.median / static_cast<double>(bound), 2) + "x");
    row("(b) against the healthy room's line latency", fmt(sb.median, 0) + " ms",
        "one-way line latency before the kill, median", fmt(sh.median, 2) + " ms",
        fmt(sb.median / std::max(sh.median, 1e-3), 0) + "x");
    row("lines lost / duplicated / out of order", std::to_string(lost) + " / " + std::to_string(dup) + " / " +
        std::to_string(reordered) + " of " + std::to_string(sent), "", "", "");
    return 0;
}
