// The first moments with a contact, between two real darkchat processes on
// loopback, against the raw UDP round trip measured in the same run:
//
//  - from \add to the first message delivered: alice writes "\ping", "\add bob",
//    "\chat bob" and a message at once (as a script would); the time from the
//    \add line to alice's "* delivered". With --mode after-ping, alice waits for
//    the answer to her \ping before the rest; with --mode after-online, she
//    writes \ping and \add at once and the message once bob is shown online
//    (as a person would);
//  - from start to a remembered contact shown online: alice and bob are linked,
//    alice quits and starts again on the same data directory; the time from
//    fork to alice's "* online bob" (bob answers from what alice remembered).
//  - from a cold start through a super-client: a darkchatd -s that bob declared
//    to, and alice started on a new data directory with -sip/-sp of it, typing
//    "\add bob" at once; the time from fork to alice's "* online bob".
//
// Any "* offline" line on the way is counted (there should be none).
//
//   contact_bench [--darkchat PATH] [--samples N] [--mode at-once|after-ping|after-online]
#include "bench_util.hpp"

using namespace dc::bench;


int main(int argc, char** argv) {
    std::string dir = self_dir();
    std::string darkchat = dir + "/../darkchat";
    std::size_t samples = 20;
    std::string mode = "at-once";
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--darkchat") darkchat = v;
        else if (k == "--samples") samples = std::strtoull(v.c_str(), nullptr, 10);
        else if (k == "--mode") mode = v;
        else die("unknown option " + k);
    }
    if (mode != "at-once" && mode != "after-ping" && mode != "after-online") die("unknown mode " + mode);
    std::atexit(kill_tracked);  // a super-client left by a run that dies is killed by pid
    auto udp = run_and_collect({dir + "/udp_pingpong", "--samples", "300"}, 120000);
    double udp_med = value_of(udp, "udp_rtt_median_us");

    TempDir tmp("contact");
    std::vector<double> add_to_delivered, start_to_online, cold_to_online;
    const std::string darkchatd = std::filesystem::path(darkchat).parent_path().string() + "/darkchatd";
    std::size_t offline = 0;
    for (std::size_t i = 0; i < samples + 2; ++i) {  // the first two warm up
        std::string a_dir = tmp.path + "/alice" + std::to_string(i), b_dir = tmp.path + "/bob" + std::to_string(i);
        DarkchatNode b = start_darkchat(darkchat, "bob", b_dir);
        DarkchatNode a = start_darkchat(darkchat, "alice", a_dir);
        send_line(a, "\\ping 127.0.0.1 " + std::to_string(b.port));
        if (mode == "after-ping") expect_line(a, "* ping: bob answered");
        auto t0 = now();
        send_line(a, "\\add bob");
        if (mode == "after-online") expect_line(a, "* online bob", 10000, &offline);
        send_line(a, "\\chat bob");
        send_line(a, "first message");
        auto t1 = expect_line(a, "* delivered", 20000, &offline);
        // alice leaves and comes back: bob is a remembered contact.
        send_line(a, "\\quit");
        stop(a.proc);
        TimePoint t2;
        DarkchatNode again = start_darkchat(darkchat, "alice", a_dir, &t2);
        auto t3 = expect_line(again, "* online bob", 20000, &offline);
        stop(again.proc);
        // A cold start that knows only a super-client, which bob declared to.
        std::string s_dir = tmp.path + "/S" + std::to_string(i);
        Child server = spawn_tracked({darkchatd, "-s", "-u", "S", "-p", "0", "--bind", "127.0.0.1", "--data-dir", s_dir},
                             {.pipe_in = false, .pipe_out = false, .stdout_file = {}, .stderr_file = s_dir + ".stderr"});
        auto ready = wait_for_file_line(s_dir + ".stderr", "* ready: S at ", after_ms(10000));
        if (!ready) die("the super-client did not start");
        std::vector<std::string> sip = {"-sip", "127.0.0.1", "-sp", std::to_string(ready_port(*ready))};
        stop(b.proc);
        DarkchatNode b2 = start_darkchat(darkchat, "bob", b_dir, nullptr, sip);
        ::usleep(500000);  // bob declares itself to S as it starts (no line says so)
        TimePoint t4;
        DarkchatNode cold = start_darkchat(darkchat, "alice", a_dir + "-cold", &t4, sip);
        send_line(cold, "\\add bob");
        auto t5 = expect_line(cold, "* online bob", 20000, &offline);
        stop(cold.proc);
        stop(b2.proc);
        stop_tracked(server);
        if (i < 2) continue;
        add_to_delivered.push_back(us_between(t0, t1));
        start_to_online.push_back(us_between(t2, t3));
        cold_to_online.push_back(us_between(t4, t5));
    }
    auto ad = summarize(add_to_delivered), so = summarize(start_to_online), co = summarize(cold_to_online);
    std::printf("# contact_bench: %zu fresh pairs, darkchat %s; %zu '* offline' lines on the way\n", ad.n,
                darkchat.c_str(), offline);
    std::printf("# \\add to first message delivered: median %.1f us, p99 %.1f us, max %.1f us\n", ad.median, ad.p99,
                ad.max);
    std::printf("# start to remembered contact online: median %.1f us, p99 %.1f us, max %.1f us\n", so.median, so.p99,
                so.max);
    auto ratio = [](double x, double y) { return y > 0 ? fmt(x / y, 1) + "x" : "n/a"; };
    std::string how = mode == "after-ping"     ? "(\\add, \\chat, message after the \\ping answer)"
                      : mode == "after-online" ? "(\\ping, \\add at once; the message once bob is online)"
                                               : "(\\ping, \\add, \\chat, message at once)";
    row("\\add to first message delivered " + how + ", median",
        fmt(ad.median / 1000, 2) + " ms", "raw UDP round trip, median", fmt(udp_med) + " us", ratio(ad.median, udp_med));
    row("\\add to first message delivered " + how + ", max", fmt(ad.max / 1000, 2) + " ms", "raw UDP round trip, median",
        fmt(udp_med) + " us", ratio(ad.max, udp_med));
    row("start (fork) to a remembered contact shown online, median", fmt(so.median / 1000, 2) + " ms",
        "raw UDP round trip, median", fmt(udp_med) + " us", ratio(so.median, udp_med));
    row("start to a remembered contact shown online, max", fmt(so.max / 1000, 2) + " ms", "raw UDP round trip, median",
        fmt(udp_med) + " us", ratio(so.max, udp_med));
    // Tox's figure: 9.3 s from start to a friend online, measured on this machine (issue 20).
    auto of_tox = [](double ms) { return ms > 0 ? "1/" + fmt(9300 / ms, 0) : std::string("n/a"); };
    row("cold start through a super-client to the contact online, median", fmt(co.median / 1000, 2) + " ms",
        "Tox, start to friend online", "9300 ms", of_tox(co.median / 1000));
    row("cold start through a super-client to the contact online, max", fmt(co.max / 1000, 2) + " ms",
        "Tox, start to friend online", "9300 ms", of_tox(co.max / 1000));
    row("start to a remembered contact shown online, median (again)", fmt(so.median / 1000, 2) + " ms",
        "Tox, start to friend online", "9300 ms", of_tox(so.median / 1000));
    return 0;
}
