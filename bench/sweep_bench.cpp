// One point of bench/analysis's sweeps: real darkchat processes on 127.0.0.1,
// messages at a fixed offered rate, latency from each message's intended send
// time (no coordinated omission), throughput in and out, and the CPU and
// resident memory of the relays and of two clients.
//
//   sweep_bench --mode p2p|group|room|file [--clients N] [--group G] [--size B]
//               [--rate R] [--seconds S] [--relays K] [--strategy NAME]
//               [--file-bytes F] [--samples FILE] [--series FILE] [--bin-dir DIR]
//
// --clients N users are split into N/G conversations of G members; the first
// member of each is its author, the others read:
//   p2p    1:1 chats (G = 2), each pair linked as contacts (\ping, \add);
//   group  conversation groups (darkchat-groups(7)) of G, peer to peer;
//   room   rooms on K relays (darkchatd --relay), placed by a directory with
//          --strategy (min-max, round-robin, random, least-loaded, cpu), or,
//          with --strategy client-round-robin, by the clients (--relays).
// Each author writes R messages a second for S seconds, each on its own schedule
// (authors staggered within a period); a late write does not move the next one.
// A message of B bytes longer than one line (4096 bytes) is sent as several lines;
// it counts as delivered to a reader when the reader showed all of them. Latency
// of a delivery = from the message's intended send time until the reader showed
// it; a delivery missing 10 s after the last intended send is lost.
//   file   the room set-up with two users and one relay; the two are contacts and
//          one sends a file of F bytes (\send, \accept): CPU and memory of the
//          relay, sender and receiver before and during the transfer.
//
// Output: "# ..." comments and "key value" lines (read by bench/analysis).
// --samples FILE: every delivery's latency in microseconds, one a line.
// --series FILE: CSV of CPU and memory sampled during the run (every 200 ms; 100 ms in a transfer).
//
// A benchmark, not a test: it asserts nothing about figures. Every wait and loop
// is bounded; every process is stopped by its pid; traffic only on 127.0.0.1.
#include "bench_util.hpp"

#include <map>

using namespace dc::bench;

namespace {

struct Config {
    std::string bin;
    std::string mode = "room";
    int clients = 4;
    int group = 2;
    int size = 64;
    double rate = 20;
    double seconds = 5;
    int relays = 1;
    std::string strategy = "min-max";
    long file_bytes = 8 << 20;
    std::string samples, series;
};

constexpr std::size_t kPiece = 4096;  // darkchat's longest chat line (bytes of text)

// CPU time (ns) and resident size of the processes watched, sampled together.
struct Watch {
    std::vector<std::pair<std::string, pid_t>> procs;
    std::FILE* out = nullptr;
    TimePoint t0 = now();
    std::vector<double> cpu_last;
    TimePoint last_at{};
    void open(const std::string& path) {
        if (path.empty()) return;
        out = std::fopen(path.c_str(), "w");
        if (!out) die("cannot write " + path);
        std::fprintf(out, "t_s,process,cpu_pct,rss_kb\n");
    }
    void sample(const std::string& phase) {
        auto t = now();
        std::vector<double> cpu;
        for (std::size_t i = 0; i < procs.size(); ++i) {
            auto s = sample_proc(procs[i].second);
            cpu.push_back(s ? s->cpu_ns : 0);
            if (out && !cpu_last.empty())
                std::fprintf(out, "%.3f,%s,%.1f,%lld\n", s_between(t0, t), procs[i].first.c_str(),
                             (cpu[i] - cpu_last[i]) / 1e9 / s_between(last_at, t) * 100, s ? s->rss_kb : 0LL);
        }
        (void)phase;
        cpu_last = cpu;
        last_at = t;
    }
    ~Watch() {
        if (out) std::fclose(out);
    }
};

double cpu_ns(pid_t pid) {
    auto s = sample_proc(pid);
    return s ? s->cpu_ns : 0;
}
long long rss_kb(pid_t pid) {
    auto s = sample_proc(pid);
    return s ? s->rss_kb : 0;
}

void kv(const std::string& k, double v) { std::printf("%s %.3f\n", k.c_str(), v); }
void kv(const std::string& k, const std::string& v) { std::printf("%s %s\n", k.c_str(), v.c_str()); }

// The text of piece k of n of message seq of conversation c, `len` bytes long.
std::string piece_text(int c, int seq, int k, int n, std::size_t len) {
    std::string t = "m" + std::to_string(c) + "." + std::to_string(seq) + "." + std::to_string(k) + "/" +
                    std::to_string(n) + ":";
    if (t.size() < len) t.append(len - t.size(), 'x');
    return t;
}

// Parses "m<c>.<seq>.<k>/<n>:" after "> " in a shown line.
bool parse_piece(const std::string& l, int& c, int& seq, int& k, int& n) {
    auto at = l.find("> m");
    if (at == std::string::npos) return false;
    return std::sscanf(l.c_str() + at + 3, "%d.%d.%d/%d:", &c, &seq, &k, &n) == 4;
}

// a pings b, each adds the other; returns once both see the other online.
void link(Run& run, Proc& a, Proc& b) {
    std::size_t ma = a.lines.size(), mb = b.lines.size();
    say(a, "\\ping 127.0.0.1 " + std::to_string(b.port));
    say(a, "\\add " + b.name);
    run.expect(a, "* online " + b.name, 15000, ma);
    run.expect(b, "* " + a.name + " linked you", 15000, mb);
    say(b, "\\add " + a.name);
    run.expect(b, "* online " + a.name, 15000, mb);
}

std::string last_word(const std::string& l) { return l.substr(l.rfind(' ') + 1); }

struct Conv {
    Proc* author = nullptr;
    std::vector<Proc*> readers;
    std::string relay;  // room mode: where the directory (or the author) put it
};

// The users first (they leave their rooms), then the relays and the directory.
void stop_everyone(std::vector<Proc>& users, std::vector<Proc>& relays, Proc& dir) {
    std::vector<Child*> cs;
    for (auto& u : users) cs.push_back(&u.c);
    stop_tracked_all(cs);
    cs.clear();
    for (auto& r : relays) cs.push_back(&r.c);
    if (dir.c.pid > 0) cs.push_back(&dir.c);
    stop_tracked_all(cs);
}

int file_mode(const Config& cfg, Run& run, const std::string& tmp, Proc& relay, std::vector<Proc>& users) {
    Proc& a = users[0];
    Proc& b = users[1];
    link(run, a, b);
    std::size_t ma = a.lines.size();
    say(a, "\\chat " + b.name);
    run.expect(a, "* chatting with " + b.name, 5000, ma);
    const std::string path = tmp + "/payload.bin";
    {
        std::ofstream f(path, std::ios::binary);
        std::vector<char> buf(1 << 16);
        std::uint32_t x = 12345;
        for (long done = 0; done < cfg.file_bytes; done += static_cast<long>(buf.size())) {
            for (auto& ch : buf) ch = static_cast<char>((x = x * 1664525u + 1013904223u) >> 24);
            f.write(buf.data(), static_cast<std::streamsize>(std::min<long>(cfg.file_bytes - done, static_cast<long>(buf.size()))));
        }
    }
    Watch w;
    w.procs = {{"relay", relay.c.pid}, {"sender", a.c.pid}, {"receiver", b.c.pid}};
    w.open(cfg.series);
    w.sample("idle");
    // One idle second first: the same processes, nothing sent.
    const double r0 = cpu_ns(relay.c.pid), a0 = cpu_ns(a.c.pid), b0 = cpu_ns(b.c.pid);
    const TimePoint i0 = now();
    for (int k = 0; k < 5; ++k) {
        run.pump(after_ms(200));
        w.sample("idle");
    }
    const double idle_s = s_between(i0, now());
    kv("idle_relay_cpu_pct", (cpu_ns(relay.c.pid) - r0) / 1e9 / idle_s * 100);
    kv("idle_sender_cpu_pct", (cpu_ns(a.c.pid) - a0) / 1e9 / idle_s * 100);
    kv("idle_receiver_cpu_pct", (cpu_ns(b.c.pid) - b0) / 1e9 / idle_s * 100);
    kv("idle_relay_rss_kb", static_cast<double>(rss_kb(relay.c.pid)));
    kv("idle_sender_rss_kb", static_cast<double>(rss_kb(a.c.pid)));
    kv("idle_receiver_rss_kb", static_cast<double>(rss_kb(b.c.pid)));

    const double r1 = cpu_ns(relay.c.pid), a1 = cpu_ns(a.c.pid), b1 = cpu_ns(b.c.pid);
    long long peak_r = 0, peak_a = 0, peak_b = 0;
    std::size_t mb = b.lines.size();
    ma = a.lines.size();
    const TimePoint t0 = now();
    say(a, "\\send " + path);
    const std::string offer = b.lines[run.expect(b, " offered by " + a.name, 30000, mb)];
    const std::string id = offer.substr(7, 8);
    say(b, "\\accept " + id);
    const TimePoint end = after_ms(300000);
    bool done = false;
    for (int guard = 0; guard < 100000 && now() < end; ++guard) {
        run.pump(after_ms(100));
        w.sample("transfer");
        peak_r = std::max(peak_r, rss_kb(relay.c.pid));
        peak_a = std::max(peak_a, rss_kb(a.c.pid));
        peak_b = std::max(peak_b, rss_kb(b.c.pid));
        if (run.wait(b, "* file " + id + " received from", now(), mb)) {
            done = true;
            break;
        }
    }
    const double secs = s_between(t0, now());
    if (!done) std::printf("# the file was not received within 300 s\n");
    kv("file_bytes", static_cast<double>(cfg.file_bytes));
    kv("file_done", done ? 1 : 0);
    kv("file_seconds", secs);
    kv("file_Bps", static_cast<double>(cfg.file_bytes) / secs);
    kv("xfer_relay_cpu_pct", (cpu_ns(relay.c.pid) - r1) / 1e9 / secs * 100);
    kv("xfer_sender_cpu_pct", (cpu_ns(a.c.pid) - a1) / 1e9 / secs * 100);
    kv("xfer_receiver_cpu_pct", (cpu_ns(b.c.pid) - b1) / 1e9 / secs * 100);
    kv("xfer_relay_rss_kb", static_cast<double>(peak_r));
    kv("xfer_sender_rss_kb", static_cast<double>(peak_a));
    kv("xfer_receiver_rss_kb", static_cast<double>(peak_b));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Config cfg;
    cfg.bin = self_dir() + "/..";
    parse_options(argc, argv, [&](const std::string& k, const std::string& v) {
        if (k == "--mode") cfg.mode = v;
        else if (k == "--clients") cfg.clients = std::atoi(v.c_str());
        else if (k == "--group") cfg.group = std::atoi(v.c_str());
        else if (k == "--size") cfg.size = std::atoi(v.c_str());
        else if (k == "--rate") cfg.rate = std::atof(v.c_str());
        else if (k == "--seconds") cfg.seconds = std::atof(v.c_str());
        else if (k == "--relays") cfg.relays = std::atoi(v.c_str());
        else if (k == "--strategy") cfg.strategy = v;
        else if (k == "--file-bytes") cfg.file_bytes = std::atol(v.c_str());
        else if (k == "--samples") cfg.samples = v;
        else if (k == "--series") cfg.series = v;
        else if (k == "--bin-dir") cfg.bin = v;
        else return false;
        return true;
    });
    const bool file = cfg.mode == "file";
    if (file) cfg.clients = 2, cfg.group = 2, cfg.relays = 1;
    if (cfg.mode != "p2p" && cfg.mode != "group" && cfg.mode != "room" && !file) die("--mode p2p|group|room|file");
    if (cfg.mode == "p2p") cfg.group = 2;
    if (!(cfg.clients >= 2 && cfg.clients <= 128 && cfg.group >= 2 && cfg.group <= 16 && cfg.clients % cfg.group == 0 &&
          cfg.size >= 1 && cfg.size <= (1 << 20) && cfg.rate > 0 && cfg.rate <= 10000 && cfg.seconds > 0 &&
          cfg.seconds <= 600 && cfg.relays >= 1 && cfg.relays <= 16 && cfg.file_bytes >= 1 &&
          cfg.file_bytes <= (1L << 31)))
        die("out of range: --clients 2..128 (a multiple of --group), --group 2..16, --size 1..1048576, --rate "
            "0..10000, --seconds 0..600, --relays 1..16, --file-bytes 1..2^31");
    ::signal(SIGPIPE, SIG_IGN);
    std::atexit(kill_tracked);

    TempDir tmp("sweep");
    ::setenv("HOME", tmp.path.c_str(), 1);
    ::setenv("XDG_DATA_HOME", (tmp.path + "/xdg").c_str(), 1);
    Run run;
    const bool rooms = cfg.mode == "room" || file;
    const bool crr = cfg.strategy == "client-round-robin";
    Proc dir;
    dir.name = "dir";
    std::vector<Proc> relays(rooms ? static_cast<std::size_t>(cfg.relays) : 0);
    std::vector<std::string> user_flags;
    if (rooms) {
        std::string dir_addr, list;
        if (!crr) {
            start_daemon(run, dir, cfg.bin, "directory", tmp.path, {"--strategy", cfg.strategy});
            dir_addr = "127.0.0.1:" + std::to_string(dir.port);
        }
        for (std::size_t i = 0; i < relays.size(); ++i) {
            relays[i].name = "relay" + std::to_string(i);
            start_daemon(run, relays[i], cfg.bin, "relay", tmp.path,
                         crr ? std::vector<std::string>{} : std::vector<std::string>{"--dir", dir_addr});
            list += (i ? "," : "") + std::string("127.0.0.1:") + std::to_string(relays[i].port);
        }
        user_flags = crr ? std::vector<std::string>{"--relays", list} : std::vector<std::string>{"--dir", dir_addr};
    }
    std::vector<Proc> users(static_cast<std::size_t>(cfg.clients));
    const TimePoint setup0 = now();
    for (std::size_t i = 0; i < users.size(); ++i) {
        users[i].name = "u" + std::to_string(i);
        start_user(run, users[i], cfg.bin, tmp.path, user_flags);
    }
    if (rooms) {
        for (auto& u : users) wait_relays_measured(run, u, cfg.relays);
        run.pump(after_ms(1000));  // the delay vectors reach the directory with a heartbeat (every 250 ms)
    }
    if (file) {
        int rc = file_mode(cfg, run, tmp.path, relays[0], users);
        stop_everyone(users, relays, dir);
        return rc;
    }

    // The conversations.
    const int G = cfg.group, C = cfg.clients / G;
    std::vector<Conv> convs(static_cast<std::size_t>(C));
    for (int c = 0; c < C; ++c) {
        auto& cv = convs[static_cast<std::size_t>(c)];
        cv.author = &users[static_cast<std::size_t>(c * G)];
        for (int k = 1; k < G; ++k) cv.readers.push_back(&users[static_cast<std::size_t>(c * G + k)]);
    }
    if (cfg.mode == "p2p") {
        for (auto& cv : convs) {
            link(run, *cv.author, *cv.readers[0]);
            std::size_t m = cv.author->lines.size();
            say(*cv.author, "\\chat " + cv.readers[0]->name);
            run.expect(*cv.author, "* chatting with " + cv.readers[0]->name, 5000, m);
        }
    } else if (cfg.mode == "group") {
        for (auto& cv : convs) {
            Proc& a = *cv.author;
            for (auto* r : cv.readers) link(run, a, *r);
            std::size_t ma = a.lines.size(), m1 = cv.readers[0]->lines.size();
            say(*cv.readers[0], "\\connect " + a.name);
            const std::string req = a.lines[run.expect(a, "* " + cv.readers[0]->name + " asks you into", 15000, ma)];
            say(a, "\\yes " + last_word(req));
            const std::string j = cv.readers[0]->lines[run.expect(*cv.readers[0], "* joined group ", 20000, m1)];
            const std::string id = j.substr(std::string("* joined group ").size(), 8);
            for (std::size_t k = 1; k < cv.readers.size(); ++k) {
                Proc& x = *cv.readers[k];
                std::size_t mx = x.lines.size();
                say(a, "\\invite " + x.name);
                const std::string inv = x.lines[run.expect(x, "* " + a.name + " invites you into", 20000, mx)];
                say(x, "\\yes " + last_word(inv));
                run.expect(x, "* joined group " + id, 30000, mx);
            }
            ma = a.lines.size();
            say(a, "\\group " + id);
            run.expect(a, "* lines now go to group " + id, 5000, ma);
        }
    } else {
        // Without a directory the invitation goes straight to the invited node, which must be known.
        if (crr)
            for (auto& cv : convs)
                for (auto* r : cv.readers) link(run, *cv.author, *r);
        std::vector<std::size_t> ma;
        for (auto& cv : convs) {
            ma.push_back(cv.author->lines.size());
            std::string request = "\\request";
            for (auto* r : cv.readers) request += " " + r->name;
            say(*cv.author, request);
        }
        for (auto& cv : convs)
            for (auto* r : cv.readers) {
                run.expect(*r, "* " + cv.author->name + " asks for a chat", 20000);
                say(*r, "\\accept " + cv.author->name);
            }
        for (std::size_t c = 0; c < convs.size(); ++c) {
            auto& cv = convs[c];
            const std::string l = cv.author->lines[run.expect(*cv.author, " on relay ", 30000, ma[c])];
            auto at = l.find(" on relay ") + 10;
            cv.relay = l.substr(at, l.find(' ', at) - at);
            run.expect(*cv.author, "* lines now go to room ", 30000, ma[c]);
            for (auto* r : cv.readers) run.expect(*r, "* lines now go to room ", 30000);
        }
    }
    // One unmeasured message per conversation, shown by every reader.
    for (std::size_t c = 0; c < convs.size(); ++c) say(*convs[c].author, "warm" + std::to_string(c));
    for (std::size_t c = 0; c < convs.size(); ++c)
        for (auto* r : convs[c].readers) run.expect(*r, "> warm" + std::to_string(c), 30000);
    run.pump(after_ms(300));
    const double setup_s = s_between(setup0, now());

    // Rooms per relay, as placed.
    std::map<std::string, int> per_relay;
    for (auto& r : relays) per_relay["127.0.0.1:" + std::to_string(r.port)] = 0;
    for (auto& cv : convs)
        if (!cv.relay.empty()) ++per_relay[cv.relay];
    std::string placed;
    for (auto& [addr, n] : per_relay) placed += (placed.empty() ? "" : ",") + std::to_string(n);

    // The paced run.
    const int pieces = static_cast<int>((static_cast<std::size_t>(cfg.size) + kPiece - 1) / kPiece);
    const int per_author = std::max(1, static_cast<int>(cfg.rate * cfg.seconds));
    const auto period = std::chrono::nanoseconds(static_cast<long long>(1e9 / cfg.rate));
    std::vector<std::string> pending(convs.size());
    std::vector<int> next(convs.size(), 0);
    std::vector<std::vector<TimePoint>> intended(convs.size(), std::vector<TimePoint>(static_cast<std::size_t>(per_author)));
    for (auto& cv : convs) {
        const int fl = ::fcntl(cv.author->c.in, F_GETFL);
        ::fcntl(cv.author->c.in, F_SETFL, fl | O_NONBLOCK);
    }
    // Every reader's progress: pieces shown of (conversation, seq).
    std::map<Proc*, int> conv_of;
    for (std::size_t c = 0; c < convs.size(); ++c)
        for (auto* r : convs[c].readers) conv_of[r] = static_cast<int>(c);
    std::vector<Proc*> readers;
    for (auto& cv : convs)
        for (auto* r : cv.readers) readers.push_back(r);
    std::vector<std::size_t> scan;
    for (auto* r : readers) scan.push_back(r->lines.size());
    std::vector<std::vector<std::uint16_t>> got(readers.size(), std::vector<std::uint16_t>(static_cast<std::size_t>(per_author), 0));
    std::vector<double> lat;
    lat.reserve(readers.size() * static_cast<std::size_t>(per_author));
    long long delivered_bytes = 0, written_bytes = 0, dups = 0;
    TimePoint last_shown{}, last_written{};

    std::vector<std::pair<std::string, pid_t>> watched;
    for (auto& r : relays) watched.emplace_back(r.name, r.c.pid);
    watched.emplace_back("author", convs[0].author->c.pid);
    watched.emplace_back("reader", convs[0].readers[0]->c.pid);
    Watch w;
    w.procs = watched;
    w.open(cfg.series);
    std::vector<double> cpu0;
    for (auto& [n, p] : watched) cpu0.push_back(cpu_ns(p));
    long long relay_rss0 = 0;
    for (auto& r : relays) relay_rss0 += rss_kb(r.c.pid);
    long long relay_rss_peak = relay_rss0, client_rss_peak = 0;

    const TimePoint p0 = now() + std::chrono::milliseconds(20);
    const TimePoint last_due = p0 + period * (per_author - 1) + period;
    const TimePoint hard_end = last_due + std::chrono::seconds(10);
    TimePoint next_sample = p0;
    const std::size_t expected = readers.size() * static_cast<std::size_t>(per_author);
    for (long guard = 0; guard < 100000000L && now() < hard_end; ++guard) {
        const TimePoint t = now();
        TimePoint wake = t + std::chrono::milliseconds(5);
        bool all_sent = true;
        for (std::size_t c = 0; c < convs.size(); ++c) {
            const TimePoint stagger = p0 + period * static_cast<long>(c) / static_cast<long>(convs.size());
            for (int g = 0; g < 1000 && next[c] < per_author; ++g) {
                const TimePoint due = stagger + period * next[c];
                if (due > t) {
                    wake = std::min(wake, due);
                    break;
                }
                intended[c][static_cast<std::size_t>(next[c])] = due;  // the intended time, not when it is written
                for (int k = 0; k < pieces; ++k) {
                    std::size_t len = k + 1 < pieces ? kPiece : static_cast<std::size_t>(cfg.size) - kPiece * static_cast<std::size_t>(k);
                    pending[c] += piece_text(static_cast<int>(c), next[c], k, pieces, len) + "\n";
                }
                ++next[c];
            }
            all_sent &= next[c] >= per_author;
            if (!pending[c].empty()) {
                ssize_t n = ::write(convs[c].author->c.in, pending[c].data(), pending[c].size());
                if (n > 0) {
                    written_bytes += n;
                    last_written = t;
                    pending[c].erase(0, static_cast<std::size_t>(n));
                }
                if (!pending[c].empty()) all_sent = false, wake = std::min(wake, t + std::chrono::milliseconds(1));
            }
        }
        for (std::size_t i = 0; i < readers.size(); ++i) {
            Proc& r = *readers[i];
            for (auto& k = scan[i]; k < r.lines.size(); ++k) {
                int c, seq, piece, n;
                if (!parse_piece(r.lines[k], c, seq, piece, n) || c != conv_of[&r] || seq < 0 || seq >= per_author ||
                    n != pieces)
                    continue;
                auto& cnt = got[i][static_cast<std::size_t>(seq)];
                if (cnt >= pieces) {
                    ++dups;
                    continue;
                }
                delivered_bytes += static_cast<long long>(r.lines[k].size() - r.lines[k].find("> m") - 2);
                if (++cnt == pieces) {
                    lat.push_back(us_between(intended[static_cast<std::size_t>(c)][static_cast<std::size_t>(seq)], r.when[k]));
                    last_shown = std::max(last_shown, r.when[k]);
                }
            }
        }
        if (t >= next_sample) {
            w.sample("run");
            long long rs = 0;
            for (auto& r : relays) rs += rss_kb(r.c.pid);
            relay_rss_peak = std::max(relay_rss_peak, rs);
            client_rss_peak = std::max(client_rss_peak, rss_kb(convs[0].author->c.pid));
            next_sample = t + std::chrono::milliseconds(200);
        }
        if (all_sent && lat.size() >= expected) break;
        run.pump(std::max(now(), std::min(wake, next_sample)));
    }
    const TimePoint t_end = now();
    const double run_s = s_between(p0, std::max(last_due, last_shown == TimePoint{} ? last_due : last_shown));
    const double wall_s = s_between(p0, t_end);
    std::vector<double> cpu1;
    for (auto& [n, p] : watched) cpu1.push_back(cpu_ns(p));
    double relay_cpu = 0;
    for (std::size_t i = 0; i < relays.size(); ++i) relay_cpu += cpu1[i] - cpu0[i];
    const std::size_t ai = relays.size(), ri = relays.size() + 1;

    if (!cfg.samples.empty()) {
        std::FILE* f = std::fopen(cfg.samples.c_str(), "w");
        if (!f) die("cannot write " + cfg.samples);
        for (double x : lat) std::fprintf(f, "%.1f\n", x);
        std::fclose(f);
    }
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double p) {
        if (lat.empty()) return 0.0;
        auto k = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(lat.size())));
        return lat[std::clamp<std::size_t>(k, 1, lat.size()) - 1];
    };
    std::printf("# %s: %d clients in %d conversations of %d, %d-byte messages (%d line%s each), %.0f/s per author for "
                "%.1f s; %zu of %zu deliveries in %.2f s; set-up %.1f s\n",
                cfg.mode.c_str(), cfg.clients, C, G, cfg.size, pieces, pieces > 1 ? "s" : "", cfg.rate, cfg.seconds,
                lat.size(), expected, run_s, setup_s);
    kv("setup_s", setup_s);
    kv("deliveries", static_cast<double>(lat.size()));
    kv("expected", static_cast<double>(expected));
    kv("lost", static_cast<double>(expected - std::min(expected, lat.size())));
    kv("duplicates", static_cast<double>(dups));
    kv("p50_us", pct(50));
    kv("p90_us", pct(90));
    kv("p99_us", pct(99));
    kv("p999_us", pct(99.9));
    kv("max_us", lat.empty() ? 0 : lat.back());
    kv("offered_msgs_per_s", cfg.rate * C);
    // In: what the authors took from us, until the last byte was taken (at least the sending period).
    const double in_s = s_between(p0, std::max(last_due, last_written));
    kv("in_msgs_per_s", static_cast<double>(C) * per_author / in_s);
    kv("in_Bps", static_cast<double>(written_bytes - static_cast<long long>(pieces) * C * per_author) / in_s);  // without the newlines
    kv("out_msgs_per_s", static_cast<double>(lat.size()) / run_s);
    kv("out_Bps", static_cast<double>(delivered_bytes) / run_s);
    kv("relay_cpu_pct", relay_cpu / 1e9 / wall_s * 100);
    kv("relay_rss_kb_start", static_cast<double>(relay_rss0));
    kv("relay_rss_kb_peak", static_cast<double>(relay_rss_peak));
    kv("author_cpu_pct", (cpu1[ai] - cpu0[ai]) / 1e9 / wall_s * 100);
    kv("reader_cpu_pct", (cpu1[ri] - cpu0[ri]) / 1e9 / wall_s * 100);
    kv("author_rss_kb_peak", static_cast<double>(client_rss_peak));
    kv("rooms_per_relay", placed.empty() ? "-" : placed);
    std::fflush(stdout);

    stop_everyone(users, relays, dir);
    return 0;
}
