// Small helpers shared by the benchmarks: clocks, statistics, child processes
// on pipes (stopped by pid), line reading with deadlines, /proc sampling.
// Benchmarks only: nothing here is used by darkchat itself.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace dc::bench {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

inline TimePoint now() { return Clock::now(); }
inline double us_between(TimePoint a, TimePoint b) {
    return std::chrono::duration<double, std::micro>(b - a).count();
}
inline double s_between(TimePoint a, TimePoint b) { return std::chrono::duration<double>(b - a).count(); }
inline TimePoint after_ms(long ms) { return now() + std::chrono::milliseconds(ms); }
inline int ms_until(TimePoint deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now()).count();
    return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1000000));
}

[[noreturn]] inline void die(const std::string& what) {
    std::fprintf(stderr, "bench: %s\n", what.c_str());
    std::exit(1);
}

// A UDP socket bound to 127.0.0.1, port 0; bound: the address it got.
inline int udp_socket(sockaddr_in& bound) {
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) die("socket");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("bind");
    socklen_t len = sizeof bound;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&bound), &len);
    return s;
}

// ---- statistics ---------------------------------------------------------------

struct Summary {
    std::size_t n = 0;
    double median = 0, p90 = 0, p99 = 0, mean = 0, min = 0, max = 0;
};

// Nearest-rank percentiles of the samples.
inline Summary summarize(std::vector<double> v) {
    Summary s;
    s.n = v.size();
    if (v.empty()) return s;
    std::sort(v.begin(), v.end());
    auto rank = [&](double p) {
        auto k = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
        return v[std::clamp<std::size_t>(k, 1, v.size()) - 1];
    };
    s.median = rank(50);
    s.p90 = rank(90);
    s.p99 = rank(99);
    double sum = 0;
    for (double x : v) sum += x;
    s.mean = sum / static_cast<double>(v.size());
    s.min = v.front();
    s.max = v.back();
    return s;
}

inline std::string fmt(double x, int prec = 1) {
    char b[64];
    std::snprintf(b, sizeof b, "%.*f", prec, x);
    return b;
}

// A row of the results table: | figure | value | baseline | baseline value | ratio |
inline void row(const std::string& figure, const std::string& value, const std::string& baseline,
                const std::string& base_value, const std::string& ratio) {
    std::printf("| %s | %s | %s | %s | %s |\n", figure.c_str(), value.c_str(), baseline.c_str(), base_value.c_str(),
                ratio.c_str());
    std::fflush(stdout);
}

// Reads "--key value" pairs; on(key, value) returns false for a key it does not know.
inline void parse_options(int argc, char** argv,
                          const std::function<bool(const std::string&, const std::string&)>& on) {
    for (int i = 1; i < argc; ++i) {
        std::string k = argv[i];
        if (i + 1 >= argc) die(k + " needs a value");
        if (!on(k, argv[++i])) die("unknown option " + k);
    }
}

// ---- temporary directories ------------------------------------------------------

struct TempDir {
    std::string path;
    explicit TempDir(const std::string& tag) {
        // $TMPDIR if set (e.g. a tmpfs, to see what the disk costs), else /tmp.
        const char* base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base && *base ? base : "/tmp") + "/darkchat-bench-" + tag + "-XXXXXX";
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        if (!::mkdtemp(buf.data())) die("mkdtemp: " + std::string(std::strerror(errno)));
        path = buf.data();
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
};

// ---- lines from a file descriptor ----------------------------------------------

class LineReader {
public:
    explicit LineReader(int fd = -1) : fd_(fd) {}
    int fd() const { return fd_; }
    bool eof() const { return eof_; }

    // A complete line already buffered, if any.
    std::optional<std::string> take() {
        auto nl = buf_.find('\n', start_);
        if (nl == std::string::npos) return std::nullopt;
        std::string line = buf_.substr(start_, nl - start_);
        start_ = nl + 1;
        if (start_ > 65536) {
            buf_.erase(0, start_);
            start_ = 0;
        }
        return line;
    }

    // Reads what is available now (fd must be readable or non-blocking). False at EOF.
    bool fill() {
        char b[65536];
        ssize_t n = ::read(fd_, b, sizeof b);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
        if (n <= 0) {
            eof_ = true;
            return false;
        }
        buf_.append(b, static_cast<std::size_t>(n));
        return true;
    }

    // The next line, waiting at most until deadline.
    std::optional<std::string> next(TimePoint deadline) {
        for (int guard = 0; guard < 1000000; ++guard) {
            if (auto l = take()) return l;
            if (eof_) return std::nullopt;
            pollfd p{fd_, POLLIN, 0};
            int r = ::poll(&p, 1, ms_until(deadline));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return std::nullopt;
            fill();
        }
        return std::nullopt;
    }

private:
    int fd_;
    std::string buf_;
    std::size_t start_ = 0;
    bool eof_ = false;
};

// Waits on several readers at once; calls on_line(index, line) for every line
// until it returns true (done) or the deadline passes. True when done.
inline bool pump_lines(std::vector<LineReader*> readers, TimePoint deadline,
                       const std::function<bool(std::size_t, const std::string&)>& on_line) {
    for (int guard = 0; guard < 10000000; ++guard) {
        for (std::size_t i = 0; i < readers.size(); ++i)
            while (auto l = readers[i]->take())
                if (on_line(i, *l)) return true;
        std::vector<pollfd> fds;
        for (auto* r : readers) fds.push_back(pollfd{r->eof() ? -1 : r->fd(), POLLIN, 0});
        int ms = ms_until(deadline);
        if (ms == 0) return false;
        int r = ::poll(fds.data(), fds.size(), ms);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return false;
        if (r == 0) return false;
        for (std::size_t i = 0; i < readers.size(); ++i)
            if (fds[i].revents) readers[i]->fill();
    }
    return false;
}

inline bool write_all(int fd, const std::string& s) {
    std::size_t off = 0;
    for (int guard = 0; off < s.size() && guard < 100000; ++guard) {
        ssize_t n = ::write(fd, s.data() + off, s.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            pollfd p{fd, POLLOUT, 0};
            ::poll(&p, 1, 100);
            continue;
        }
        if (n <= 0) return false;
        off += static_cast<std::size_t>(n);
    }
    return off == s.size();
}

// ---- child processes --------------------------------------------------------------

struct Child {
    pid_t pid = -1;
    int in = -1;   // its standard input (ours to write), or -1
    int out = -1;  // its standard output (ours to read), or -1
    LineReader out_lines;
};

struct SpawnOptions {
    bool pipe_in = true;
    bool pipe_out = true;
    std::string stdout_file;  // when not piped: a file, else /dev/null
    std::string stderr_file;  // a file, else /dev/null
};

inline Child spawn(const std::vector<std::string>& argv, const SpawnOptions& o = {}) {
    int inp[2] = {-1, -1}, outp[2] = {-1, -1};
    if (o.pipe_in && ::pipe2(inp, O_CLOEXEC) != 0) die("pipe");
    if (o.pipe_out && ::pipe2(outp, O_CLOEXEC) != 0) die("pipe");
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        int devnull = ::open("/dev/null", O_RDWR);
        ::dup2(o.pipe_in ? inp[0] : devnull, 0);
        if (o.pipe_out) ::dup2(outp[1], 1);
        else {
            int f = o.stdout_file.empty() ? devnull : ::open(o.stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
            ::dup2(f, 1);
        }
        int e = o.stderr_file.empty() ? devnull : ::open(o.stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ::dup2(e, 2);
        ::execv(args[0], args.data());
        _exit(127);
    }
    Child c;
    c.pid = pid;
    if (o.pipe_in) {
        ::close(inp[0]);
        c.in = inp[1];
    }
    if (o.pipe_out) {
        ::close(outp[1]);
        c.out = outp[0];
        c.out_lines = LineReader(c.out);
    }
    return c;
}

// Waits for the child to exit, at most until deadline. True when it has.
// Sleeps on a pidfd when the kernel has them (exact), else polls every 200 us.
// With cpu_us, also the CPU time (user + system) the child used, in microseconds.
inline bool wait_exit(pid_t pid, TimePoint deadline, int* status = nullptr, double* cpu_us = nullptr) {
    int pfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    for (int guard = 0; guard < 1000000; ++guard) {
        int st = 0;
        struct rusage ru {};
        pid_t r = ::wait4(pid, &st, WNOHANG, &ru);
        if (r == pid || r < 0) {  // exited, or not ours any more
            if (r == pid && status) *status = st;
            if (r == pid && cpu_us)
                *cpu_us = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
                          static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
            if (pfd >= 0) ::close(pfd);
            return true;
        }
        if (now() >= deadline) break;
        if (pfd >= 0) {
            pollfd p{pfd, POLLIN, 0};
            ::poll(&p, 1, std::max(1, ms_until(deadline)));
        } else {
            ::usleep(200);
        }
    }
    if (pfd >= 0) ::close(pfd);
    return false;
}

// Stops a child we started: closes its input (darkchat quits at end of input),
// then SIGTERM, then SIGKILL, each with a bounded wait. By pid only.
// With cpu_us, the CPU time the child used over its whole life (see wait_exit).
inline void stop(Child& c, long grace_ms = 3000, double* cpu_us = nullptr) {
    if (c.pid <= 0) return;
    if (c.in >= 0) {
        ::close(c.in);
        c.in = -1;
    } else {
        ::kill(c.pid, SIGTERM);
    }
    if (!wait_exit(c.pid, after_ms(grace_ms), nullptr, cpu_us)) {
        ::kill(c.pid, SIGTERM);
        if (!wait_exit(c.pid, after_ms(2000))) {
            ::kill(c.pid, SIGKILL);
            wait_exit(c.pid, after_ms(2000));
        }
    }
    if (c.out >= 0) ::close(c.out);
    c.out = -1;
    c.pid = -1;
}

// Every process started with spawn_tracked and not stopped yet, killed by pid
// when the benchmark exits early (die() calls exit): install with
// std::atexit(kill_tracked).
inline std::vector<pid_t> tracked_pids;
inline void kill_tracked() {
    for (pid_t p : tracked_pids) ::kill(p, SIGKILL);
}
inline Child spawn_tracked(const std::vector<std::string>& argv, const SpawnOptions& o = {}) {
    Child c = spawn(argv, o);
    tracked_pids.push_back(c.pid);
    return c;
}
inline void stop_tracked(Child& c, long grace_ms = 3000) {
    std::erase(tracked_pids, c.pid);
    stop(c, grace_ms);
}

// Stops many children at once, as stop_tracked does one by one: every input is
// closed (a child without one gets SIGTERM) before any is waited for, so n
// processes take one grace period, not n. By pid only.
inline void stop_tracked_all(const std::vector<Child*>& cs, long grace_ms = 3000) {
    for (auto* c : cs) {
        if (c->pid <= 0) continue;
        if (c->in >= 0) {
            ::close(c->in);
            c->in = -1;
        } else {
            ::kill(c->pid, SIGTERM);
        }
    }
    const TimePoint deadline = after_ms(grace_ms);
    for (auto* c : cs) {
        if (c->pid <= 0) continue;
        if (!wait_exit(c->pid, deadline)) {
            ::kill(c->pid, SIGTERM);
            if (!wait_exit(c->pid, after_ms(2000))) {
                ::kill(c->pid, SIGKILL);
                wait_exit(c->pid, after_ms(2000));
            }
        }
        std::erase(tracked_pids, c->pid);
        if (c->out >= 0) ::close(c->out);
        c->out = -1;
        c->pid = -1;
    }
}

// Waits until a line of file contains needle; returns that line.
inline std::optional<std::string> wait_for_file_line(const std::string& file, const std::string& needle,
                                                     TimePoint deadline) {
    for (int guard = 0; guard < 1000000; ++guard) {
        std::ifstream f(file);
        std::string line;
        while (std::getline(f, line))
            if (line.find(needle) != std::string::npos) return line;
        if (now() >= deadline) return std::nullopt;
        ::usleep(1000);
    }
    return std::nullopt;
}

// The port of a "* ready: user at ip:port (session ...)" line.
inline int ready_port(const std::string& line) {
    auto at = line.find(" at ");
    if (at == std::string::npos) return -1;
    auto colon = line.find(':', at + 4);
    if (colon == std::string::npos) return -1;
    return std::atoi(line.c_str() + colon + 1);
}

// ---- /proc sampling --------------------------------------------------------------

struct ProcSample {
    double cpu_ns = 0;           // on-CPU time of all threads (schedstat), ns
    long long cpu_ticks = 0;     // utime + stime of the process, clock ticks
    long long rss_kb = 0;        // VmRSS
    long long hwm_kb = 0;        // VmHWM
    long long voluntary = 0;     // context switches of all threads
    long long involuntary = 0;
    int threads = 0;
};

inline long long status_field(const std::string& path, const std::string& key) {
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line))
        if (line.compare(0, key.size(), key) == 0 && line.size() > key.size() && line[key.size()] == ':')
            return std::atoll(line.c_str() + key.size() + 1);
    return -1;
}

inline std::optional<ProcSample> sample_proc(pid_t pid) {
    ProcSample s;
    std::string base = "/proc/" + std::to_string(pid);
    {
        std::ifstream f(base + "/stat");
        std::string all;
        if (!std::getline(f, all)) return std::nullopt;
        auto rp = all.rfind(')');
        if (rp == std::string::npos) return std::nullopt;
        std::istringstream rest(all.substr(rp + 2));
        std::vector<std::string> fields;
        std::string x;
        while (rest >> x) fields.push_back(x);
        // fields[0] is field 3 (state); utime is field 14, stime field 15.
        if (fields.size() < 13) return std::nullopt;
        s.cpu_ticks = std::atoll(fields[11].c_str()) + std::atoll(fields[12].c_str());
    }
    s.rss_kb = status_field(base + "/status", "VmRSS");
    s.hwm_kb = status_field(base + "/status", "VmHWM");
    std::error_code ec;
    for (auto& t : std::filesystem::directory_iterator(base + "/task", ec)) {
        ++s.threads;
        std::string tp = t.path().string();
        std::ifstream ss(tp + "/schedstat");
        double run = 0;
        if (ss >> run) s.cpu_ns += run;
        s.voluntary += std::max(0LL, status_field(tp + "/status", "voluntary_ctxt_switches"));
        s.involuntary += std::max(0LL, status_field(tp + "/status", "nonvoluntary_ctxt_switches"));
    }
    return s;
}

inline std::string read_file(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Writes mib MiB of seeded pseudo-random bytes to path (its folder made) and returns them.
inline std::string write_random_file(const std::string& path, std::size_t mib, unsigned seed) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::string data(mib << 20, '\0');
    std::mt19937_64 g(seed);
    for (std::size_t i = 0; i + 8 <= data.size(); i += 8) {
        const std::uint64_t x = g();
        std::memcpy(data.data() + i, &x, 8);
    }
    std::ofstream(path, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
    return data;
}

// Runs a program to its end (bounded) and collects its "key value" lines;
// lines starting with '#' are passed through to our standard output.
inline std::vector<std::pair<std::string, double>> run_and_collect(const std::vector<std::string>& argv,
                                                                   long timeout_ms) {
    SpawnOptions o;
    o.pipe_in = false;
    Child c = spawn(argv, o);
    std::vector<std::pair<std::string, double>> kv;
    auto deadline = after_ms(timeout_ms);
    for (int guard = 0; guard < 100000; ++guard) {
        auto line = c.out_lines.next(deadline);
        if (!line) break;
        if (!line->empty() && (*line)[0] == '#') {
            std::printf("%s\n", line->c_str());
            continue;
        }
        auto sp = line->find(' ');
        if (sp == std::string::npos) continue;
        kv.emplace_back(line->substr(0, sp), std::atof(line->c_str() + sp + 1));
    }
    stop(c, 1000);
    return kv;
}

inline double value_of(const std::vector<std::pair<std::string, double>>& kv, const std::string& key) {
    for (auto& [k, v] : kv)
        if (k == key) return v;
    die("missing figure " + key);
}

// The kernel's count of UDP datagrams dropped because a receive buffer was full
// (all sockets of the machine: /proc/net/snmp, Udp RcvbufErrors).
inline long long udp_rcvbuf_errors() {
    std::istringstream in(read_file("/proc/net/snmp"));
    std::string names, values;
    for (int guard = 0; guard < 1000 && std::getline(in, names); ++guard) {
        if (names.rfind("Udp:", 0) != 0) continue;
        if (!std::getline(in, values)) return -1;
        std::istringstream n(names), v(values);
        std::string k, x;
        while (n >> k && v >> x)
            if (k == "RcvbufErrors") return std::atoll(x.c_str());
        return -1;
    }
    return -1;
}

// The directory of this executable (the other bench programs live beside it).
inline std::string self_dir() {
    std::error_code ec;
    auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return ".";
    return p.parent_path().string();
}


// ---- darkchat nodes driven through pipes --------------------------------------------

struct DarkchatNode {
    std::string name;
    Child proc;
    int port = -1;
};

// Starts darkchat for user `name` on 127.0.0.1, port 0, data directory dir (its
// stderr in dir.stderr), and waits for its ready line; t0: when it was forked;
// extra: more flags (e.g. -sip/-sp of a super-client).
inline DarkchatNode start_darkchat(const std::string& darkchat, const std::string& name, const std::string& dir,
                                   TimePoint* t0 = nullptr, const std::vector<std::string>& extra = {}) {
    DarkchatNode n;
    n.name = name;
    SpawnOptions o;
    o.stderr_file = dir + ".stderr";
    std::vector<std::string> argv = {darkchat, "-u", name, "-p", "0", "--bind", "127.0.0.1", "--data-dir", dir};
    argv.insert(argv.end(), extra.begin(), extra.end());
    if (t0) *t0 = now();
    n.proc = spawn(argv, o);
    auto deadline = after_ms(10000);
    for (int guard = 0; guard < 1000; ++guard) {
        auto l = n.proc.out_lines.next(deadline);
        if (!l) break;
        if (l->rfind("* ready:", 0) == 0) {
            n.port = ready_port(*l);
            return n;
        }
    }
    die(name + " printed no ready line (stderr in " + o.stderr_file + ")");
}

inline void send_line(DarkchatNode& n, const std::string& line) {
    if (!write_all(n.proc.in, line + "\n")) die("cannot write to " + n.name);
}

// Reads n's output until a line starts with prefix (bounded; dies otherwise) and
// returns when it came; offline, if given, counts the "* offline" lines before it.
inline TimePoint expect_line(DarkchatNode& n, const std::string& prefix, long ms = 10000,
                             std::size_t* offline = nullptr) {
    auto deadline = after_ms(ms);
    for (int guard = 0; guard < 100000; ++guard) {
        auto l = n.proc.out_lines.next(deadline);
        if (!l) break;
        if (l->rfind(prefix, 0) == 0) return now();
        if (offline && l->rfind("* offline", 0) == 0) ++*offline;
    }
    die(n.name + " did not print '" + prefix + "'");
}

// ---- processes whose output is kept, line by line --------------------------------------

// One process we started, and everything it printed with the time we read it.
struct Proc {
    std::string name;
    Child c;
    int port = -1;
    std::vector<std::string> lines;
    std::vector<TimePoint> when;
};

// The processes of one run. Each one's standard output (and, for darkchatd,
// its standard error, where it logs) is read into its Proc while we wait.
struct Run {
    std::vector<Proc*> procs;

    // Reads what every process prints until `until`.
    void pump(TimePoint until) {
        std::vector<LineReader*> readers;
        for (auto* p : procs) readers.push_back(&p->c.out_lines);
        pump_lines(readers, until, [&](std::size_t i, const std::string& l) {
            procs[i]->lines.push_back(l);
            procs[i]->when.push_back(now());
            return false;
        });
    }

    // The index of the first line of p from `from` on that `is` accepts,
    // reading everyone's output meanwhile; none at the deadline.
    std::optional<std::size_t> wait(Proc& p, const std::function<bool(const std::string&)>& is, TimePoint deadline,
                                    std::size_t from = 0) {
        for (int guard = 0; guard < 1000000; ++guard) {
            for (; from < p.lines.size(); ++from)
                if (is(p.lines[from])) return from;
            if (now() >= deadline || p.c.out_lines.eof()) return std::nullopt;
            pump(std::min(deadline, after_ms(50)));
        }
        return std::nullopt;
    }

    // The same for a line containing needle.
    std::optional<std::size_t> wait(Proc& p, const std::string& needle, TimePoint deadline, std::size_t from = 0) {
        return wait(p, [&](const std::string& l) { return l.find(needle) != std::string::npos; }, deadline, from);
    }

    // The same, or the benchmark stops with p's last lines.
    std::size_t expect(Proc& p, const std::string& needle, long ms, std::size_t from = 0) {
        if (auto i = wait(p, needle, after_ms(ms), from)) return *i;
        std::string tail;
        for (std::size_t i = p.lines.size() > 10 ? p.lines.size() - 10 : 0; i < p.lines.size(); ++i)
            tail += "\n  | " + p.lines[i];
        die(p.name + " printed no line with '" + needle + "' within " + std::to_string(ms) + " ms; last lines:" + tail);
    }
};

inline void say(Proc& p, const std::string& line) {
    if (!write_all(p.c.in, line + "\n")) die("cannot write to " + p.name);
}

// Starts darkchatd in role (directory, relay, ...) as p.name on 127.0.0.1, port 0, data
// under dir/p.name, and waits for its ready line. Its standard error, where it logs, is
// merged into the pipe of its standard output (spawn opens stderr_file after standard
// output is the pipe).
inline void start_daemon(Run& run, Proc& p, const std::string& bin, const std::string& role, const std::string& dir,
                         const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {bin + "/darkchatd", "--" + role, "-u", p.name, "-p", "0",
                                     "--bind", "127.0.0.1", "--data-dir", dir + "/" + p.name};
    argv.insert(argv.end(), extra.begin(), extra.end());
    SpawnOptions o;
    o.pipe_in = false;
    o.stderr_file = "/dev/stdout";
    p.c = spawn_tracked(argv, o);
    run.procs.push_back(&p);
    p.port = ready_port(p.lines[run.expect(p, "* ready: " + role + " at ", 10000)]);
}

// Starts darkchat for user p.name on 127.0.0.1, port 0, data under dir/p.name (its
// standard error in dir/p.name.stderr), with extra flags (--dir ADDR, --relays ...),
// and waits for its ready line.
inline void start_user(Run& run, Proc& p, const std::string& bin, const std::string& dir,
                       const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {bin + "/darkchat", "-u", p.name, "-p", "0", "--bind", "127.0.0.1",
                                     "--data-dir", dir + "/" + p.name};
    argv.insert(argv.end(), extra.begin(), extra.end());
    SpawnOptions o;
    o.stderr_file = dir + "/" + p.name + ".stderr";
    p.c = spawn_tracked(argv, o);
    run.procs.push_back(&p);
    p.port = ready_port(p.lines[run.expect(p, "* ready: ", 10000)]);
}

// Asks u for \relays until it shows an rtt for `relays` relays (at most 15 s).
inline void wait_relays_measured(Run& run, Proc& u, int relays) {
    auto deadline = after_ms(15000);
    for (int guard = 0;; ++guard) {
        std::size_t from = u.lines.size();
        say(u, "\\relays");
        auto end = run.wait(
            u, [](const std::string& l) { return l.rfind("* ", 0) == 0 && l.find(" relay") != std::string::npos; },
            after_ms(5000), from);
        int measured = 0;
        for (std::size_t i = from; end && i < *end; ++i)
            measured += u.lines[i].rfind("  127.0.0.1:", 0) == 0 && u.lines[i].find(" rtt ") != std::string::npos;
        if (measured == relays) break;
        if (now() >= deadline || guard > 100) die(u.name + ": relays not measured within 15 s");
        run.pump(after_ms(300));
    }
}

}  // namespace dc::bench
