// Start-up time to a ready prompt: from fork until darkchat prints "* ready:",
// with a fresh data directory (a new identity and database) and with the
// existing one, against the time to spawn /bin/true and reap it, and to spawn
// /bin/echo and read its line through a pipe, measured in the same run.
//
//   start_bench [--darkchat PATH] [--samples N]
#include "bench_util.hpp"

using namespace dc::bench;

namespace {

// From fork to the first line starting with prefix; the child is then stopped
// (for darkchat: end of input, so it quits). With cpu_us, the CPU time the child
// used over its whole life, which unlike the wall-clock time does not depend on
// what else the machine runs.
double time_to_line(const std::vector<std::string>& argv, const std::string& prefix, const std::string& err_file,
                    double* cpu_us = nullptr) {
    SpawnOptions o;
    o.stderr_file = err_file;
    auto t0 = now();
    Child c = spawn(argv, o);
    auto deadline = after_ms(20000);
    double t = -1;
    for (int guard = 0; guard < 1000; ++guard) {
        auto l = c.out_lines.next(deadline);
        if (!l) break;
        if (l->rfind(prefix, 0) == 0) {
            t = us_between(t0, now());
            break;
        }
    }
    stop(c, 3000, cpu_us);
    if (t < 0) die(argv[0] + " printed no '" + prefix + "' line");
    return t;
}

double time_to_exit(const std::vector<std::string>& argv, double* cpu_us) {
    SpawnOptions o;
    o.pipe_in = o.pipe_out = false;
    auto t0 = now();
    Child c = spawn(argv, o);
    if (!wait_exit(c.pid, after_ms(10000), nullptr, cpu_us)) die(argv[0] + " did not exit");
    return us_between(t0, now());
}

}  // namespace

int main(int argc, char** argv) {
    std::string darkchat = self_dir() + "/../darkchat";
    std::size_t samples = 20;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--darkchat") darkchat = v;
        else if (k == "--samples") samples = std::strtoull(v.c_str(), nullptr, 10);
        else die("unknown option " + k);
    }
    TempDir tmp("start");
    std::vector<double> t_true, t_echo, t_fresh, t_existing, cpu_true, cpu_fresh, cpu_existing;
    for (std::size_t i = 0; i < samples + 2; ++i) {  // the first two warm up
        double ca = 0, cc = 0, ce = 0;
        double a = time_to_exit({"/bin/true"}, &ca);
        double b = time_to_line({"/bin/echo", "* ready: echo"}, "* ready:", "");
        std::string d = tmp.path + "/n" + std::to_string(i);
        std::vector<std::string> args = {darkchat, "-u", "bench", "-p", "0", "--bind", "127.0.0.1", "--data-dir", d};
        double c = time_to_line(args, "* ready:", d + ".stderr", &cc);
        double e = time_to_line(args, "* ready:", d + ".stderr2", &ce);
        if (i < 2) continue;
        t_true.push_back(a);
        t_echo.push_back(b);
        t_fresh.push_back(c);
        t_existing.push_back(e);
        cpu_true.push_back(ca);
        cpu_fresh.push_back(cc);
        cpu_existing.push_back(ce);
    }
    auto ct = summarize(cpu_true), cf = summarize(cpu_fresh), cx = summarize(cpu_existing);
    auto tt = summarize(t_true), te = summarize(t_echo), tf = summarize(t_fresh), tx = summarize(t_existing);
    std::printf("# start_bench: %zu samples each, darkchat %s, data dirs under %s\n", tf.n, darkchat.c_str(),
                tmp.path.c_str());
    std::printf("# /bin/true spawn+exit: median %.0f us, p99 %.0f; /bin/echo spawn to line: median %.0f us, p99 %.0f\n",
                tt.median, tt.p99, te.median, te.p99);
    std::printf("# darkchat fresh: median %.0f us, p99 %.0f, min %.0f, max %.0f\n", tf.median, tf.p99, tf.min, tf.max);
    std::printf("# darkchat existing: median %.0f us, p99 %.0f, min %.0f, max %.0f\n", tx.median, tx.p99, tx.min,
                tx.max);
    std::printf("# CPU time (user + system) of the whole process: /bin/true median %.0f us; darkchat fresh median "
                "%.0f us, existing median %.0f us (start, ready, end of input, \\quit)\n",
                ct.median, cf.median, cx.median);
    auto ratio = [](double x, double y) { return y > 0 ? fmt(x / y, 1) + "x" : "n/a"; };
    row("start-up to `* ready:`, fresh data dir, median", fmt(tf.median / 1000.0, 2) + " ms",
        "spawn and reap /bin/true, median", fmt(tt.median / 1000.0, 2) + " ms", ratio(tf.median, tt.median));
    row("start-up to `* ready:`, existing data dir, median", fmt(tx.median / 1000.0, 2) + " ms",
        "spawn and reap /bin/true, median", fmt(tt.median / 1000.0, 2) + " ms", ratio(tx.median, tt.median));
    row("start-up to `* ready:`, existing data dir, median", fmt(tx.median / 1000.0, 2) + " ms",
        "spawn /bin/echo, read its line, median", fmt(te.median / 1000.0, 2) + " ms", ratio(tx.median, te.median));
    row("CPU time of a whole run to `* ready:` and out again, fresh data dir, median", fmt(cf.median / 1000.0, 2) + " ms",
        "CPU time of /bin/true, median", fmt(ct.median / 1000.0, 2) + " ms", ratio(cf.median, ct.median));
    row("CPU time of a whole run to `* ready:` and out again, existing data dir, median",
        fmt(cx.median / 1000.0, 2) + " ms", "CPU time of /bin/true, median", fmt(ct.median / 1000.0, 2) + " ms",
        ratio(cx.median, ct.median));
    return 0;
}
