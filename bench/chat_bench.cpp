// Message latency and acked throughput between two real darkchat processes on
// loopback, driven over pipes, against baselines measured in the same run.
//
//   chat_bench [--darkchat PATH] [--samples N] [--messages M] [--window W]
//
// Latency: N sequential messages; for each, the time from writing the line to
// A's standard input until B prints "<alice> text" (one way, through both
// processes and two pipes), and until A prints "* delivered" (acked round trip).
// Baselines: the raw UDP round trip between two processes (udp_pingpong) and
// the round trip of a line through a trivial echo process (line_echo), which is
// what the two pipes cost.
//
// Throughput: A is given M lines at once; acknowledged messages per second
// until A has printed M "* delivered" lines (or refused some), then the same
// with at most W lines written and not yet delivered. Baseline: udp_pingpong's
// acknowledged datagrams per second.
#include "bench_util.hpp"

#include <fcntl.h>

#include <cerrno>
#include <map>

using namespace dc::bench;

namespace {

using Node = DarkchatNode;

// Reads what is already there without waiting.
void drain(Node& n) {
    for (int guard = 0; guard < 1000; ++guard) {
        pollfd p{n.proc.out, POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0) return;
        if (!n.proc.out_lines.fill()) return;
        while (n.proc.out_lines.take()) {
        }
    }
}

struct Throughput {
    std::size_t delivered = 0, refused = 0, received = 0;
    long long rcvbuf_drops = 0;  // datagrams the kernel dropped meanwhile (receive buffers full)
    double seconds = 0;
    bool complete = false;
};

// Gives A m lines, at most `window` written and not yet delivered or refused
// (0: all at once), and counts until every line is accounted for.
Throughput burst(Node& a, Node& b, std::size_t m, std::size_t window, const std::string& tag, long limit_ms) {
    Throughput t;
    long long drops_before = udp_rcvbuf_errors();
    std::size_t written = 0;
    auto start = now();
    auto deadline = after_ms(limit_ms);
    auto last = start;
    // Only what the pipe takes without waiting is written; the rest when a line
    // comes back. Waiting for the pipe while alice waits for us to read her
    // output would stop both.
    ::fcntl(a.proc.in, F_SETFL, ::fcntl(a.proc.in, F_GETFL) | O_NONBLOCK);
    std::string pending;
    auto write_more = [&] {
        while (written < m && (window == 0 || written - t.delivered - t.refused < window)) {
            pending += tag + std::to_string(written) + "\n";
            ++written;
        }
        while (!pending.empty()) {
            ssize_t n = ::write(a.proc.in, pending.data(), pending.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) break;
            if (n <= 0) die("cannot write to alice");
            pending.erase(0, static_cast<std::size_t>(n));
        }
    };
    write_more();
    pump_lines({&a.proc.out_lines, &b.proc.out_lines}, deadline, [&](std::size_t i, const std::string& l) {
        if (i == 0) {
            if (l.rfind("* delivered", 0) == 0) {
                ++t.delivered;
                last = now();
            } else if (l.rfind("! outbox for", 0) == 0) {
                ++t.refused;
            }
        } else if (l.rfind("<alice> " + tag, 0) == 0) {
            ++t.received;
        }
        write_more();
        return t.delivered + t.refused >= m;
    });
    t.complete = t.delivered + t.refused >= m;
    t.seconds = s_between(start, last);
    t.rcvbuf_drops = udp_rcvbuf_errors() - drops_before;
    return t;
}

}  // namespace

int main(int argc, char** argv) {
    std::string dir = self_dir();
    std::string darkchat = dir + "/../darkchat";
    std::size_t samples = 300, messages = 2000, window = 100;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--darkchat") darkchat = v;
        else if (k == "--samples") samples = std::strtoull(v.c_str(), nullptr, 10);
        else if (k == "--messages") messages = std::strtoull(v.c_str(), nullptr, 10);
        else if (k == "--window") window = std::strtoull(v.c_str(), nullptr, 10);
        else die("unknown option " + k);
    }

    // Baseline 1: raw UDP between two processes.
    auto udp = run_and_collect({dir + "/udp_pingpong", "--samples", std::to_string(samples)}, 120000);
    double udp_med = value_of(udp, "udp_rtt_median_us"), udp_p99 = value_of(udp, "udp_rtt_p99_us");
    double udp_rate = value_of(udp, "udp_acked_per_s");

    // Baseline 2: a line through two pipes and a trivial process.
    std::vector<double> pipe_rtt;
    {
        Child e = spawn({dir + "/line_echo"});
        for (std::size_t i = 0; i < samples + 50; ++i) {
            std::string line = "echo " + std::to_string(i);
            auto t0 = now();
            if (!write_all(e.in, line + "\n")) die("cannot write to line_echo");
            auto got = e.out_lines.next(after_ms(5000));
            auto t1 = now();
            if (!got || *got != line) die("line_echo did not echo");
            if (i >= 50) pipe_rtt.push_back(us_between(t0, t1));
        }
        stop(e);
    }
    auto pipe = summarize(pipe_rtt);

    // Two darkchat nodes that know each other.
    TempDir tmp("chat");
    Node a = start_darkchat(darkchat, "alice", tmp.path + "/alice");
    Node b = start_darkchat(darkchat, "bob", tmp.path + "/bob");
    send_line(a, "\\ping 127.0.0.1 " + std::to_string(b.port));
    expect_line(a, "* ping: bob answered");
    send_line(a, "\\add bob");
    expect_line(a, "* online bob");
    expect_line(b, "* online alice");
    send_line(a, "\\chat bob");
    expect_line(a, "* chatting with bob");

    std::vector<double> one_way, acked;
    std::size_t failed = 0;
    for (std::size_t i = 0; i < samples + 20; ++i) {  // the first 20 warm up
        std::string text = "lat " + std::to_string(i);
        bool seen_b = false, seen_ack = false;
        TimePoint tb{}, ta{};
        auto t0 = now();
        send_line(a, text);
        bool ok = pump_lines({&a.proc.out_lines, &b.proc.out_lines}, after_ms(10000),
                             [&](std::size_t which, const std::string& l) {
                                 if (which == 1 && l == "<alice> " + text) {
                                     seen_b = true;
                                     tb = now();
                                 } else if (which == 0 && l.rfind("* delivered", 0) == 0) {
                                     seen_ack = true;
                                     ta = now();
                                 }
                                 return seen_b && seen_ack;
                             });
        if (!ok) {
            ++failed;
            continue;
        }
        if (i >= 20) {
            one_way.push_back(us_between(t0, tb));
            acked.push_back(us_between(t0, ta));
        }
    }
    drain(a);
    drain(b);
    auto ow = summarize(one_way), ak = summarize(acked);

    auto all_at_once = burst(a, b, messages, 0, "burst ", 120000);
    drain(a);
    drain(b);
    auto windowed = burst(a, b, messages, window, "win ", 120000);

    stop(a.proc);
    stop(b.proc);

    std::printf("# chat_bench: %zu sequential messages alice -> bob (%zu failed), darkchat %s\n", ow.n, failed,
                darkchat.c_str());
    std::printf("# pipe echo round trip: median %.1f us, p99 %.1f us (%zu samples)\n", pipe.median, pipe.p99, pipe.n);
    std::printf("# one way: median %.1f us, p99 %.1f us, mean %.1f, max %.1f\n", ow.median, ow.p99, ow.mean, ow.max);
    std::printf("# to * delivered: median %.1f us, p99 %.1f us, mean %.1f, max %.1f\n", ak.median, ak.p99, ak.mean,
                ak.max);
    auto tp_line = [&](const char* what, const Throughput& t) {
        std::printf("# %s: %zu lines, %zu delivered, %zu refused (outbox full), %zu shown by bob, %.3f s%s; "
                    "%lld UDP datagrams dropped by full receive buffers meanwhile (whole machine)\n",
                    what, messages, t.delivered, t.refused, t.received, t.seconds, t.complete ? "" : " (TIMED OUT)",
                    t.rcvbuf_drops);
    };
    tp_line("all at once", all_at_once);
    tp_line(("window " + std::to_string(window)).c_str(), windowed);

    auto ratio = [](double x, double y) { return y > 0 ? fmt(x / y, 1) + "x" : "n/a"; };
    row("message latency one way, median (A stdin to B stdout)", fmt(ow.median) + " us",
        "raw UDP round trip, median", fmt(udp_med) + " us", ratio(ow.median, udp_med));
    row("message latency one way, p99", fmt(ow.p99) + " us", "raw UDP round trip, p99", fmt(udp_p99) + " us",
        ratio(ow.p99, udp_p99));
    row("message latency one way, median", fmt(ow.median) + " us", "pipe echo round trip, median",
        fmt(pipe.median) + " us", ratio(ow.median, pipe.median));
    row("message latency one way, p99", fmt(ow.p99) + " us", "pipe echo round trip, p99", fmt(pipe.p99) + " us",
        ratio(ow.p99, pipe.p99));
    row("one way minus pipe echo (medians)", fmt(ow.median - pipe.median) + " us", "raw UDP round trip, median",
        fmt(udp_med) + " us", ratio(ow.median - pipe.median, udp_med));
    row("send to `* delivered` (acked round trip), median", fmt(ak.median) + " us", "raw UDP round trip, median",
        fmt(udp_med) + " us", ratio(ak.median, udp_med));
    row("send to `* delivered`, p99", fmt(ak.p99) + " us", "raw UDP round trip, p99", fmt(udp_p99) + " us",
        ratio(ak.p99, udp_p99));
    auto rate = [](const Throughput& t) { return t.seconds > 0 ? static_cast<double>(t.delivered) / t.seconds : 0.0; };
    row("acked messages/s one way, " + std::to_string(messages) + " lines at once (" +
            std::to_string(all_at_once.refused) + " refused)",
        fmt(rate(all_at_once), 0) + "/s", "raw UDP acked datagrams/s (window 64)", fmt(udp_rate, 0) + "/s",
        ratio(udp_rate, rate(all_at_once)) + " slower");
    row("acked messages/s one way, " + std::to_string(messages) + " lines, window " + std::to_string(window),
        fmt(rate(windowed), 0) + "/s", "raw UDP acked datagrams/s (window 64)", fmt(udp_rate, 0) + "/s",
        ratio(udp_rate, rate(windowed)) + " slower");
    return 0;
}
