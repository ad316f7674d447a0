// The relay fan-out of a room of 10: one author, nine readers, one relay.
//
//   room_bench [--members 10] [--burst 900] [--rate 50] [--paced 300] [--file-mib 0]
//              [--anchor-rounds 20000] [--bin-dir DIR]   (default: the build directory this program is in)
//
// Real processes on 127.0.0.1 in a fresh temporary directory: a directory
// (darkchatd --directory), one relay registered with it (darkchatd --relay --dir)
// and --members users (darkchat --dir) driven through pipes. u0 asks the others
// for a chat (\request), each accepts; once a first line reached everyone:
//
//   (a) burst: --burst lines written to u0's standard input at once (as fast as
//       u0 reads them); deliveries per second = lines shown by the readers / time
//       from the first write until the last reader showed the last line. Lines u0
//       refused are counted; every reader's lines are checked (each shown once, in
//       order).
//   (b) paced: --paced lines at --rate lines per second, each on its own schedule
//       (a late line does not delay the next one's start, so waiting is not
//       hidden); latency of a line = from its write until the last reader showed it.
//
// Anchors measured in the same run: the raw UDP round trip between two processes
// (udp_pingpong) for (b), and a raw UDP fan-out for (a): one socket sending the
// same datagram (the size of one room line packet) to --members - 1 sockets,
// received by the same process, deliveries per second.
//
// With --file-mib M, instead of (a) and (b): a file of M MiB shared in the room
// (darkchat(1), FILES IN ROOMS), timed from u0's \send to each member's "received"
// line. The anchor, in the same run a moment before: the same file shared in the same
// room and taken by u1 alone (the others decline it), so one copy over the same path.
// Then every member takes it at once. Every copy is compared with the file, byte for byte.
//
// A benchmark, not a test: it prints figures and asserts nothing about them.
// Every wait and loop is bounded; every process is stopped by its pid.
#include "bench_util.hpp"

using namespace dc::bench;

namespace {

struct Config {
    std::string bin;
    int members = 10;
    int burst = 900;
    double rate = 50;
    int paced = 300;
    int anchor_rounds = 20000;
    int file_mib = 0;
};

// Feeds text to p's standard input without blocking while everyone's output is read
// (p may stop reading while its window is full, and the readers must not stall on a
// full pipe meanwhile). True when all of it was written before the deadline.
bool feed(Run& run, Proc& p, const std::string& text, TimePoint deadline) {
    std::size_t off = 0;
    for (int guard = 0; off < text.size() && guard < 10000000; ++guard) {
        ssize_t n = ::write(p.c.in, text.data() + off, text.size() - off);
        if (n > 0) off += static_cast<std::size_t>(n);
        else if (n < 0 && errno != EAGAIN && errno != EINTR) die("cannot write to " + p.name);
        if (off == text.size() || now() >= deadline) break;
        run.pump(std::min(deadline, after_ms(1)));
    }
    return off == text.size();
}

// u0 shares src (its bytes: data) in the room; each other member declines it but the
// first `takers`, who accept it as soon as they are told. Seconds from the \send to each
// taker's "received" line; every copy is checked against data.
std::vector<double> share_file(Run& run, std::vector<Proc>& users, const std::string& room, const std::string& src,
                               const std::string& data, std::size_t takers) {
    std::vector<std::size_t> mark;
    for (auto& u : users) mark.push_back(u.lines.size());
    const TimePoint t0 = now();
    say(users[0], "\\send " + src);
    for (std::size_t i = 1; i < users.size(); ++i) {
        const std::string& l = users[i].lines[run.expect(users[i], " shared by u0 in room " + room, 30000, mark[i])];
        say(users[i], (i <= takers ? "\\accept " : "\\decline ") + l.substr(7, 8));
    }
    std::vector<double> secs;
    const std::string got = " received from u0: ";
    for (std::size_t i = 1; i <= takers && i < users.size(); ++i) {
        const std::size_t k = run.expect(users[i], got, 600000, mark[i]);
        secs.push_back(s_between(t0, users[i].when[k]));
        const std::string path = users[i].lines[k].substr(users[i].lines[k].find(got) + got.size());
        if (read_file(path) != data) die(users[i].name + "'s copy of the file differs: " + path);
    }
    return secs;
}

void file_part(Run& run, std::vector<Proc>& users, const std::string& room, const std::string& dir, int mib) {
    const std::string src = dir + "/src/file.bin";
    const std::string data = write_random_file(src, static_cast<std::size_t>(mib), 7);
    const std::size_t readers = users.size() - 1;
    std::printf("# file: %d MiB shared in a room of %zu on one relay\n", mib, users.size());
    const double one = share_file(run, users, room, src, data, 1).front();
    run.pump(after_ms(1000));
    auto before = sample_proc(users[0].c.pid);
    auto secs = share_file(run, users, room, src, data, readers);
    auto after = sample_proc(users[0].c.pid);
    const double bytes = static_cast<double>(data.size());
    std::vector<double> rates;
    for (double x : secs) rates.push_back(bytes / x / 1e6);
    auto per = summarize(rates);
    const double last = *std::max_element(secs.begin(), secs.end());
    const double total = bytes * static_cast<double>(readers) / last / 1e6;
    const double alone = bytes / one / 1e6;
    const std::string room_s = "room of " + std::to_string(users.size());
    std::printf("\n| figure | value | baseline (same run) | baseline value | ratio |\n|---|---|---|---|---|\n");
    row(room_s + ": per member, \\send to received, median (min .. max)",
        fmt(per.median) + " MB/s (" + fmt(per.min) + " .. " + fmt(per.max) + ")",
        "the same file in the same room, taken by one member, \\send to received", fmt(alone) + " MB/s",
        fmt(per.median / alone, 2) + "x");
    row(room_s + ": in total, " + std::to_string(readers) + " copies until the last",
        fmt(total) + " MB/s (" + fmt(last, 2) + " s)", "the same, one member", fmt(alone) + " MB/s (" + fmt(one, 2) + " s)",
        fmt(total / alone, 2) + "x");
    if (before && after) {
        const double cpu_s = (after->cpu_ns - before->cpu_ns) / 1e9;
        std::printf("| author: CPU over the room's transfer | %.2f s (%.0f%% of one core) | | | |\n", cpu_s,
                    100.0 * cpu_s / last);
        std::printf("| author: peak resident (VmHWM, since start) | %lld KiB | the file | %zu KiB | %.1fx |\n",
                    after->hwm_kb, data.size() >> 10,
                    static_cast<double>(after->hwm_kb) / static_cast<double>(std::max<std::size_t>(1, data.size() >> 10)));
    }
    std::printf("| copies byte for byte the file | %zu of %zu | | | |\n", secs.size(), readers);
    std::fflush(stdout);
}

// The number after prefix in line, or 0 when the line does not start with it.
int number_after(const std::string& line, const std::string& prefix) {
    return line.rfind(prefix, 0) == 0 ? std::atoi(line.c_str() + prefix.size()) : 0;
}

double cpu_ms(pid_t pid) {
    auto s = sample_proc(pid);
    return s ? s->cpu_ns / 1e6 : 0;
}

// Raw UDP fan-out: one socket sends each datagram to `to` sockets, in rounds of 32,
// and the same thread reads them all back. Deliveries per second.
double udp_fanout(int to, std::size_t size, int rounds) {
    auto udp = [](sockaddr_in& bound) {
        int s = udp_socket(bound);
        int buf = 4 << 20;
        ::setsockopt(s, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
        return s;
    };
    sockaddr_in src{};
    int out = udp(src);
    std::vector<int> socks;
    std::vector<sockaddr_in> addrs(static_cast<std::size_t>(to));
    for (auto& a : addrs) socks.push_back(udp(a));
    std::vector<char> msg(size, 'x'), in(65536);
    std::uint64_t received = 0, sent = 0;
    auto start = now();
    auto deadline = after_ms(30000);
    for (int r = 0; r < rounds && now() < deadline; r += 32) {
        for (int k = 0; k < 32; ++k)
            for (auto& a : addrs)
                if (::sendto(out, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a) > 0) ++sent;
        for (int s : socks)
            for (int k = 0; k < 64; ++k) {
                if (::recv(s, in.data(), in.size(), MSG_DONTWAIT) <= 0) break;
                ++received;
            }
    }
    double secs = s_between(start, now());
    ::close(out);
    for (int s : socks) ::close(s);
    std::printf("# raw UDP fan-out: %llu datagrams of %zu bytes sent to %d sockets, %llu received, in %.3f s\n",
                static_cast<unsigned long long>(sent), size, to, static_cast<unsigned long long>(received), secs);
    return static_cast<double>(received) / secs;
}

}  // namespace

int main(int argc, char** argv) {
    Config cfg;
    cfg.bin = self_dir() + "/..";
    parse_options(argc, argv, [&](const std::string& k, const std::string& v) {
        if (k == "--members") cfg.members = std::atoi(v.c_str());
        else if (k == "--burst") cfg.burst = std::atoi(v.c_str());
        else if (k == "--rate") cfg.rate = std::atof(v.c_str());
        else if (k == "--paced") cfg.paced = std::atoi(v.c_str());
        else if (k == "--anchor-rounds") cfg.anchor_rounds = std::atoi(v.c_str());
        else if (k == "--bin-dir") cfg.bin = v;
        else if (k == "--file-mib") cfg.file_mib = std::atoi(v.c_str());
        else return false;
        return true;
    });
    if (!(cfg.members >= 2 && cfg.members <= 16 && cfg.burst >= 1 && cfg.burst <= 1000000 && cfg.rate >= 1 &&
          cfg.rate <= 100000 && cfg.paced >= 1 && cfg.paced <= 1000000 && cfg.anchor_rounds >= 32 &&
          cfg.anchor_rounds <= 10000000 && cfg.file_mib >= 0 && cfg.file_mib <= 4096))
        die("out of range: --members 2..16, --burst 1..1000000, --rate 1..100000, --paced 1..1000000, "
            "--anchor-rounds 32..10000000, --file-mib 0..4096");
    ::signal(SIGPIPE, SIG_IGN);
    std::atexit(kill_tracked);
    const int readers = cfg.members - 1;

    // Anchors first, while nothing else of ours runs.
    auto udp = run_and_collect({self_dir() + "/udp_pingpong", "--samples", "1000"}, 120000);
    const double udp_rtt = value_of(udp, "udp_rtt_median_us");
    const double fanout = udp_fanout(readers, 300, cfg.anchor_rounds);

    TempDir tmp("room");
    ::setenv("HOME", tmp.path.c_str(), 1);
    ::setenv("XDG_DATA_HOME", (tmp.path + "/xdg").c_str(), 1);
    Run run;
    Proc dir, relay;
    dir.name = "dir";
    relay.name = "relay";
    start_daemon(run, dir, cfg.bin, "directory", tmp.path);
    const std::string dir_addr = "127.0.0.1:" + std::to_string(dir.port);
    start_daemon(run, relay, cfg.bin, "relay", tmp.path, {"--dir", dir_addr});
    std::vector<Proc> users(static_cast<std::size_t>(cfg.members));
    for (std::size_t i = 0; i < users.size(); ++i) {
        users[i].name = "u" + std::to_string(i);
        start_user(run, users[i], cfg.bin, tmp.path, {"--dir", dir_addr});
    }
    for (auto& u : users) wait_relays_measured(run, u, 1);
    run.pump(after_ms(1500));  // the delay vectors reach the directory with the next heartbeat

    // u0 asks everyone, everyone accepts.
    Proc& author = users[0];
    std::string request = "\\request";
    for (int i = 1; i < cfg.members; ++i) request += " u" + std::to_string(i);
    std::vector<std::size_t> mark;
    for (auto& u : users) mark.push_back(u.lines.size());
    say(author, request);
    for (int i = 1; i < cfg.members; ++i) {
        run.expect(users[static_cast<std::size_t>(i)], "* u0 asks for a chat", 10000, mark[static_cast<std::size_t>(i)]);
        say(users[static_cast<std::size_t>(i)], "\\accept u0");
    }
    for (int i = 1; i < cfg.members; ++i) run.expect(author, "* request u" + std::to_string(i) + ": REQ_ACCEPTED", 20000, mark[0]);
    const std::string joined = author.lines[run.expect(author, "* room ", 10000, mark[0])];
    const std::string room = joined.substr(7, 8);
    for (std::size_t i = 0; i < users.size(); ++i) run.expect(users[i], "* lines now go to room " + room, 20000, mark[i]);
    const int flags = ::fcntl(author.c.in, F_GETFL);
    ::fcntl(author.c.in, F_SETFL, flags | O_NONBLOCK);

    // One line to everyone, acked by everyone: the room is complete on the relay.
    const std::string shown = "[" + room + "] <u0> ";
    const std::string delivered = "* delivered to room " + room + ": ";
    say(author, "warm");
    for (int i = 1; i < cfg.members; ++i) run.expect(users[static_cast<std::size_t>(i)], shown + "warm", 30000);
    run.expect(author, delivered + "warm", 30000);
    if (cfg.file_mib > 0) {
        file_part(run, users, room, tmp.path, cfg.file_mib);
        for (auto& u : users) stop_tracked(u.c);
        stop_tracked(relay.c);
        stop_tracked(dir.c);
        return 0;
    }

    // (a) The burst.
    for (auto& u : users) mark[&u - users.data()] = u.lines.size();
    std::string text;
    for (int n = 1; n <= cfg.burst; ++n) text += "b" + std::to_string(n) + "\n";
    const double cpu_relay0 = cpu_ms(relay.c.pid), cpu_author0 = cpu_ms(author.c.pid),
                 cpu_reader0 = cpu_ms(users[1].c.pid);
    const TimePoint t0 = now();
    const TimePoint burst_end = after_ms(180000);
    feed(run, author, text, burst_end);
    // Until every reader showed the last line, or u0 refused some and nothing moved for 5 s.
    std::vector<int> last(users.size(), 0);
    std::vector<std::size_t> read(mark);
    TimePoint last_progress = now();
    for (int guard = 0; guard < 10000000 && now() < burst_end; ++guard) {
        bool all = true, moved = false;
        for (int i = 1; i < cfg.members; ++i) {
            auto& u = users[static_cast<std::size_t>(i)];
            for (auto& k = read[static_cast<std::size_t>(i)]; k < u.lines.size(); ++k) {
                int n = number_after(u.lines[k], shown + "b");
                if (n > last[static_cast<std::size_t>(i)]) last[static_cast<std::size_t>(i)] = n, moved = true;
            }
            all &= last[static_cast<std::size_t>(i)] == cfg.burst;
        }
        if (moved) last_progress = now();
        if (all || now() - last_progress > std::chrono::seconds(5)) break;
        run.pump(after_ms(2));
    }
    const double cpu_relay = cpu_ms(relay.c.pid) - cpu_relay0, cpu_author = cpu_ms(author.c.pid) - cpu_author0,
                 cpu_reader = cpu_ms(users[1].c.pid) - cpu_reader0;
    long refused = 0;
    for (std::size_t k = mark[0]; k < author.lines.size(); ++k)
        refused += author.lines[k].find("too many lines waiting") != std::string::npos;
    TimePoint t_last = t0;
    long shows = 0, dups = 0, disorder = 0;
    for (int i = 1; i < cfg.members; ++i) {
        auto& u = users[static_cast<std::size_t>(i)];
        int highest = 0;
        std::vector<char> seen(static_cast<std::size_t>(cfg.burst) + 1, 0);
        for (std::size_t k = mark[static_cast<std::size_t>(i)]; k < u.lines.size(); ++k) {
            int n = number_after(u.lines[k], shown + "b");
            if (n < 1 || n > cfg.burst) continue;
            if (seen[static_cast<std::size_t>(n)]++) {
                ++dups;
                continue;
            }
            ++shows;
            disorder += n < highest;
            highest = std::max(highest, n);
            t_last = std::max(t_last, u.when[k]);
        }
    }
    const double burst_s = s_between(t0, t_last);
    const double per_s = static_cast<double>(shows) / burst_s;
    std::printf("# burst: %d lines written to u0, %ld refused by u0; %ld of %ld deliveries shown (%ld twice, %ld out "
                "of order) in %.3f s: %.0f deliveries/s\n",
                cfg.burst, refused, shows, static_cast<long>(cfg.burst - refused) * readers, dups, disorder, burst_s,
                per_s);
    std::printf("# burst CPU: relay %.0f ms, u0 %.0f ms, u1 %.0f ms (per delivery: relay %.1f us, per line: u0 %.1f us, "
                "u1 %.1f us)\n",
                cpu_relay, cpu_author, cpu_reader, cpu_relay * 1000 / std::max<double>(1, static_cast<double>(shows)),
                cpu_author * 1000 / std::max(1, cfg.burst), cpu_reader * 1000 / std::max(1, cfg.burst));
    std::fflush(stdout);

    // Quiet again: the last line u0 wrote that it did not refuse is acked by everyone.
    int last_kept = 0;
    for (std::size_t k = mark[0]; k < author.lines.size(); ++k) last_kept = std::max(last_kept, number_after(author.lines[k], delivered + "b"));
    if (last_kept < cfg.burst - refused && !run.wait(author, delivered + "b" + std::to_string(cfg.burst - refused), after_ms(60000), mark[0]))
        std::printf("# the burst's last line was not acked by everyone within 60 s\n");
    run.pump(after_ms(1000));
    // What the processes spend while no line is typed (timers, heartbeats), to tell from a paced line's cost.
    const double qcpu_relay0 = cpu_ms(relay.c.pid), qcpu_author0 = cpu_ms(author.c.pid),
                 qcpu_reader0 = cpu_ms(users[1].c.pid);
    const TimePoint q0 = now();
    run.pump(after_ms(2000));
    const double quiet_s = s_between(q0, now());
    std::printf("# quiet CPU per second: relay %.2f ms, u0 %.2f ms, u1 %.2f ms\n",
                (cpu_ms(relay.c.pid) - qcpu_relay0) / quiet_s, (cpu_ms(author.c.pid) - qcpu_author0) / quiet_s,
                (cpu_ms(users[1].c.pid) - qcpu_reader0) / quiet_s);

    // (b) Paced.
    for (auto& u : users) mark[&u - users.data()] = u.lines.size();
    std::vector<TimePoint> written(static_cast<std::size_t>(cfg.paced) + 1);
    const auto period = std::chrono::nanoseconds(static_cast<long long>(1e9 / cfg.rate));
    const TimePoint p0 = now() + std::chrono::milliseconds(10);
    const TimePoint paced_end = p0 + period * cfg.paced + std::chrono::seconds(30);
    const double pcpu_relay0 = cpu_ms(relay.c.pid), pcpu_author0 = cpu_ms(author.c.pid),
                 pcpu_reader0 = cpu_ms(users[1].c.pid);
    int next = 1;
    std::vector<std::vector<TimePoint>> seen_at(static_cast<std::size_t>(cfg.paced) + 1);
    std::vector<std::size_t> scan(mark);
    long paced_dups = 0;
    for (int guard = 0; guard < 10000000 && now() < paced_end; ++guard) {
        const TimePoint due = p0 + period * (next - 1);
        if (next <= cfg.paced && now() >= due) {
            written[static_cast<std::size_t>(next)] = now();
            feed(run, author, "p" + std::to_string(next) + "\n", paced_end);
            ++next;
            continue;
        }
        bool all = next > cfg.paced;
        for (int i = 1; i < cfg.members; ++i) {
            auto& u = users[static_cast<std::size_t>(i)];
            for (auto& k = scan[static_cast<std::size_t>(i)]; k < u.lines.size(); ++k) {
                int n = number_after(u.lines[k], shown + "p");
                if (n < 1 || n > cfg.paced) continue;
                auto& v = seen_at[static_cast<std::size_t>(n)];
                if (v.size() >= static_cast<std::size_t>(readers)) ++paced_dups;
                else v.push_back(u.when[k]);
            }
        }
        for (int n = 1; all && n <= cfg.paced; ++n) all = seen_at[static_cast<std::size_t>(n)].size() == static_cast<std::size_t>(readers);
        if (all) break;
        run.pump(next <= cfg.paced ? std::min(p0 + period * (next - 1), after_ms(5)) : after_ms(5));
    }
    const double pcpu_relay = cpu_ms(relay.c.pid) - pcpu_relay0, pcpu_author = cpu_ms(author.c.pid) - pcpu_author0,
                 pcpu_reader = cpu_ms(users[1].c.pid) - pcpu_reader0;
    std::vector<double> lat, first;  // to the last reader; to the first (the author's and the relay's part)
    long incomplete = 0;
    for (int n = 1; n <= cfg.paced; ++n) {
        auto& v = seen_at[static_cast<std::size_t>(n)];
        if (v.size() < static_cast<std::size_t>(readers)) {
            ++incomplete;
            continue;
        }
        lat.push_back(us_between(written[static_cast<std::size_t>(n)], *std::max_element(v.begin(), v.end())));
        first.push_back(us_between(written[static_cast<std::size_t>(n)], *std::min_element(v.begin(), v.end())));
    }
    auto pl = summarize(lat);
    auto pf = summarize(first);
    std::printf("# paced: %d lines at %.0f lines/s (%.0f deliveries/s offered); latency to the last of %d readers over "
                "%zu lines: p50 %.0f us, p90 %.0f us, p99 %.0f us, max %.0f us (%ld lines not shown by everyone, %ld "
                "shown twice)\n",
                cfg.paced, cfg.rate, cfg.rate * readers, readers, pl.n, pl.median, pl.p90, pl.p99, pl.max, incomplete,
                paced_dups);
    std::printf("# paced: latency to the first reader p50 %.0f us, p90 %.0f us\n", pf.median, pf.p90);
    std::printf("# paced CPU per line: relay %.1f us, u0 %.1f us, u1 %.1f us\n", pcpu_relay * 1000 / cfg.paced,
                pcpu_author * 1000 / cfg.paced, pcpu_reader * 1000 / cfg.paced);
    std::fflush(stdout);

    for (auto& u : users) stop_tracked(u.c);
    stop_tracked(relay.c);
    stop_tracked(dir.c);

    const std::string room_s = "room of " + std::to_string(cfg.members) + ", one relay";
    row("burst of " + std::to_string(cfg.burst) + " lines, " + room_s + ": deliveries/s",
        fmt(per_s, 0) + (refused ? " (" + std::to_string(refused) + " refused)" : ""),
        "raw UDP fan-out to " + std::to_string(readers) + " sockets, one process", fmt(fanout, 0) + "/s",
        fmt(per_s / fanout, 4) + "x");
    row("paced " + fmt(cfg.rate, 0) + " lines/s, latency to the last member p50 / p90 / p99",
        fmt(pl.median, 0) + " / " + fmt(pl.p90, 0) + " / " + fmt(pl.p99, 0) + " us", "raw UDP round trip, median",
        fmt(udp_rtt, 1) + " us", fmt(pl.median / udp_rtt, 1) + "x");
    return 0;
}
