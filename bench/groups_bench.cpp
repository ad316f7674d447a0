// Conversation groups (darkchat-groups(7)) as the node carries them, against anchors
// measured in the same run (issue 17, point 11):
//
//   groups_bench [--part rekey|procs|kill|relay|file|all] [--darkchat PATH] [--rounds R]
//                [--k K] [--lines L] [--kill-runs N] [--burst B] [--mib M]
//
// rekey (in-process, no network): groups::Machine on groups::SodiumCrypto for groups of
//   n = 2, 8, 32, 64 members, every message handed on at once in one FIFO queue. For
//   each n, the cost of one new epoch as the coordinator makes it: a rename (a new
//   record and key, the same members), the removal of one member of n+1 (leaving n),
//   and a whole entry of one more into n; bytes the coordinator's machine emits
//   (poll_message) and its CPU time (thread clock, median of R). Anchor: the crypto of
//   one 1:1 message, one Ed25519 sign+verify and one sealed box seal+open of 100 bytes.
//   Also the message counts of a rekey after a removal, computed: ours, Signal's Sender
//   Keys, MLS.
// procs: K real darkchat processes on 127.0.0.1, each linked to the coordinator only
//   (\ping, \add both ways); the group grows one \invite at a time. For each newcomer:
//   \invite to its "* joined group" line, \yes to it, and \invite to the last member's
//   "entered" line. At sizes 2, 8, 16, 32 (those below K): L group lines typed at the
//   coordinator, each to the last member showing it, against L 1:1 lines between the
//   coordinator and its first member measured just before (typing to shown).
// kill: five processes; a group of four; kill -9 of its coordinator, at once the next
//   member \invite's the fifth, who says \yes as soon as the invitation shows: time from
//   the kill to the newcomer's "* joined group" line. An invitation sent while the
//   coordinator is dead goes to it and is lost: once the inviter shows the coordinator
//   lost, the first invitation gets one more second, then the inviter asks again.
// relay: a relay (darkchatd --relay) and K processes started with --relays (K = 10 by
//   default with --part relay): a group of K grown as in procs, which its coordinator's
//   node moves onto the relay by itself at 8 members (darkchat-groups(7), RELAYS). Then,
//   through the relay and again after \via peers (member to member, the same group):
//   L lines typed at the coordinator, each to the last member showing it, against the
//   1:1 line of the same run; and a burst of B lines typed at once, deliveries per
//   second = B x (K - 1) / time from the first write until every member showed the
//   last, each member's lines checked (each once, in order).
// file: K processes (10 by default) with --auto-accept, a group of K as in procs. First
//   the anchor: the coordinator \send's a file of M MiB (64 by default) to its first member
//   alone (1:1), from \send to "received". Then it \send's the same file into the group
//   (darkchat(1), FILES IN GROUPS): each member takes it at once and asks the author first;
//   per member the time from \send to its "received" line and its rate, in total the bytes
//   delivered over the time until the last member had it; the author's CPU time and peak
//   resident memory over the transfer; every copy compared byte for byte with the file.
//
// Benchmarks are not tests: every process started is stopped by its pid, every wait
// and loop is bounded, traffic only on 127.0.0.1.
#include "bench_util.hpp"

#include "darkchat/crypto.hpp"
#include "darkchat/groups.hpp"

#include <time.h>

#include <cmath>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <map>
#include <memory>
#include <regex>
#include <tuple>

using namespace dc;
using namespace dc::bench;

namespace {

// ---- in-process: the machine alone -------------------------------------------------

double thread_cpu_us() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

volatile std::size_t g_sink = 0;

// Group machines that hand each other every message at once, in the order sent.
class World {
public:
    struct Station {
        groups::Self self;
        std::unique_ptr<groups::Machine> m;
        std::vector<groups::Event> events;
        double cpu_us = 0;            // inside its handle_*() and the drain after
        std::uint64_t sent_bytes = 0;  // what poll_message() gave
        std::uint64_t sent_msgs = 0;
    };

    World() {
        cfg_.max_members = 200;          // an entry into 64 makes 65
        cfg_.sync_interval = 600000;     // no periodic sync inside a measure
    }

    std::size_t add(const std::string& name) {
        auto kp = crypto::generate_identity();
        auto s = std::make_unique<Station>();
        s->self = groups::Self{name, kp.pk, kp.sk};
        s->m = std::make_unique<groups::Machine>(cfg_, s->self, crypto_);
        index_[kp.pk] = st_.size();
        st_.push_back(std::move(s));
        return st_.size() - 1;
    }
    Station& at(std::size_t i) { return *st_[i]; }
    const PublicKey& pk(std::size_t i) const { return st_[i]->self.pk; }
    std::size_t size() const { return st_.size(); }

    void command(std::size_t i, const groups::Command& c) {
        now_ += 1;
        double t0 = thread_cpu_us();
        st_[i]->m->handle_command(now_, c);
        drain(i);
        st_[i]->cpu_us += thread_cpu_us() - t0;
    }

    // Hands on every message (and every timer already due), bounded.
    void run() {
        for (int guard = 0; guard < 2'000'000; ++guard) {
            if (!q_.empty()) {
                auto [from, to, bytes] = std::move(q_.front());
                q_.pop_front();
                double t0 = thread_cpu_us();
                st_[to]->m->handle_message(now_, st_[from]->self.pk, bytes);
                drain(to);
                st_[to]->cpu_us += thread_cpu_us() - t0;
                continue;
            }
            bool fired = false;
            for (std::size_t i = 0; i < st_.size(); ++i)
                if (auto t = st_[i]->m->poll_timeout(); t && *t <= now_) {
                    double t0 = thread_cpu_us();
                    st_[i]->m->handle_timeout(now_);
                    drain(i);
                    st_[i]->cpu_us += thread_cpu_us() - t0;
                    fired = true;
                }
            if (!fired) return;
        }
        die("the group machines did not settle");
    }

    template <typename T>
    std::optional<T> last(std::size_t i) {
        auto& ev = st_[i]->events;
        for (auto it = ev.rbegin(); it != ev.rend(); ++it)
            if (auto* v = std::get_if<T>(&*it)) return *v;
        return std::nullopt;
    }

private:
    void drain(std::size_t i) {
        Station& s = *st_[i];
        while (s.m->poll_store()) {
        }
        while (auto e = s.m->poll_event()) s.events.push_back(std::move(*e));
        while (auto o = s.m->poll_message()) {
            s.sent_bytes += o->bytes.size();
            ++s.sent_msgs;
            auto it = index_.find(o->to);
            if (it != index_.end()) q_.emplace_back(i, it->second, std::move(o->bytes));
        }
    }

    groups::Config cfg_;
    groups::SodiumCrypto crypto_;
    std::vector<std::unique_ptr<Station>> st_;
    std::map<PublicKey, std::size_t> index_;
    std::deque<std::tuple<std::size_t, std::size_t, Bytes>> q_;
    TimeMs now_ = 1000;
};

struct Tally {
    double cpu_us = 0;
    std::uint64_t bytes = 0, msgs = 0;
};
Tally tally(World::Station& s) { return {s.cpu_us, s.sent_bytes, s.sent_msgs}; }
Tally minus(const Tally& a, const Tally& b) { return {a.cpu_us - b.cpu_us, a.bytes - b.bytes, a.msgs - b.msgs}; }
Tally all(World& w) {
    Tally t;
    for (std::size_t i = 0; i < w.size(); ++i) {
        t.cpu_us += w.at(i).cpu_us;
        t.bytes += w.at(i).sent_bytes;
        t.msgs += w.at(i).sent_msgs;
    }
    return t;
}

// The coordinator (station c) invites a new station, which says yes; returns it.
std::size_t enter(World& w, std::size_t c, const groups::GroupId& g, const std::string& name, Tally* coord = nullptr,
                  Tally* everyone = nullptr) {
    std::size_t x = w.add(name);
    w.command(c, groups::cmd::Invite{g, w.pk(x), name});
    w.run();
    auto req = w.last<groups::ev::RequestArrived>(x);
    if (!req || !req->invitation) die(name + " got no invitation");
    Tally c0 = tally(w.at(c)), a0 = all(w);
    w.command(x, groups::cmd::Reply{req->id, true, std::nullopt, {}});
    w.run();
    if (coord) *coord = minus(tally(w.at(c)), c0);
    if (everyone) *everyone = minus(all(w), a0);
    auto j = w.last<groups::ev::Joined>(x);
    if (!j || j->group != g) die(name + " did not join");
    return x;
}

struct RekeyFigures {
    std::size_t n = 0;
    Summary rename_cpu, remove_cpu, entry_cpu, member_adopt_cpu;
    std::uint64_t rename_bytes = 0, rename_msgs = 0, remove_bytes = 0, remove_msgs = 0;
    std::uint64_t entry_bytes = 0, entry_msgs = 0, entry_all_msgs = 0, entry_all_bytes = 0;
};

RekeyFigures rekey_at(std::size_t n, int rounds) {
    World w;
    std::size_t c = w.add("coord");
    std::size_t a = w.add("m1");
    w.command(a, groups::cmd::Request{w.pk(c), groups::Kind::open});
    w.run();
    auto req = w.last<groups::ev::RequestArrived>(c);
    if (!req) die("no request at the coordinator");
    w.command(c, groups::cmd::Reply{req->id, true, std::nullopt, "bench"});
    w.run();
    auto j = w.last<groups::ev::Joined>(a);
    if (!j) die("no group formed");
    const groups::GroupId g = j->group;
    for (std::size_t i = 2; i < n; ++i) enter(w, c, g, "m" + std::to_string(i));
    if (auto v = w.at(c).m->group(g); !v || v->members.size() != n) die("the group is not of the size asked");

    RekeyFigures f;
    f.n = n;
    std::vector<double> ren, rem, ent, adopt;
    for (int r = 0; r < rounds; ++r) {
        // A rename: a new epoch of the same n members.
        Tally c0 = tally(w.at(c));
        w.command(c, groups::cmd::Rename{g, "bench " + std::to_string(r)});
        Tally d = minus(tally(w.at(c)), c0);
        ren.push_back(d.cpu_us);
        f.rename_bytes = d.bytes;
        f.rename_msgs = d.msgs;
        Tally a0 = all(w);
        w.run();
        Tally da = minus(all(w), a0);
        adopt.push_back(da.cpu_us / static_cast<double>(n - 1));

        // One more enters (n+1), then the coordinator removes it (a new epoch of n).
        Tally ce, ae;
        std::size_t x = enter(w, c, g, "x" + std::to_string(r), &ce, &ae);
        ent.push_back(ce.cpu_us);
        f.entry_bytes = ce.bytes;
        f.entry_msgs = ce.msgs;
        f.entry_all_msgs = ae.msgs;
        f.entry_all_bytes = ae.bytes;
        c0 = tally(w.at(c));
        w.command(c, groups::cmd::Remove{g, w.pk(x)});
        d = minus(tally(w.at(c)), c0);
        rem.push_back(d.cpu_us);
        f.remove_bytes = d.bytes;
        f.remove_msgs = d.msgs;
        w.run();
        if (auto v = w.at(c).m->group(g); !v || v->members.size() != n) die("a removal did not take");
    }
    f.rename_cpu = summarize(ren);
    f.remove_cpu = summarize(rem);
    f.entry_cpu = summarize(ent);
    f.member_adopt_cpu = summarize(adopt);
    return f;
}

// Median CPU microseconds of op over `batches` batches of `per` calls.
double op_us(const std::function<void()>& op, int batches = 31, int per = 64) {
    std::vector<double> v;
    for (int b = 0; b < batches; ++b) {
        double t0 = thread_cpu_us();
        for (int i = 0; i < per; ++i) op();
        v.push_back((thread_cpu_us() - t0) / per);
    }
    return summarize(v).median;
}

std::string ratio(double x, double y) { return y > 0 ? fmt(x / y, 1) + "x" : "n/a"; }

void part_rekey(int rounds) {
    // Anchor: the crypto of one 1:1 message (as channel_bench counts it).
    const Bytes payload(100, 0x5a);
    const auto id = crypto::generate_identity();
    crypto::KxKeyPair box;
    crypto::random_bytes(box.sk);
    box.pk = crypto::kx_public(box.sk);
    const double anchor = op_us([&] {
        const Signature sig = crypto::sign(id.sk, payload);
        g_sink = g_sink + crypto::verify(id.pk, payload, sig);
        const Bytes sealed = crypto::seal(payload, box.pk);
        g_sink = g_sink + crypto::open_sealed(sealed, box)->size();
    });
    const std::size_t anchor_bytes = crypto::seal(payload, box.pk).size() + 64;
    const Bytes key(32, 0x11);
    const double sign_us = op_us([&] { g_sink = g_sink + crypto::sign(id.sk, payload)[0]; });
    const double seal_us = op_us([&] { g_sink = g_sink + crypto::seal(key, box.pk).size(); });
    const std::size_t sealed_key = crypto::seal(key, box.pk).size();

    std::printf("# rekey: groups::Machine on SodiumCrypto, in-process, %d rounds per size\n", rounds);
    std::printf("# anchor, one 1:1 message's crypto (sign+verify, seal+open of 100 bytes): %.1f us CPU; "
                "its signature + sealed payload: %zu bytes\n",
                anchor, anchor_bytes);
    std::printf("# parts: one Ed25519 sign %.1f us, one sealed box of a 32-byte key %.1f us (%zu bytes)\n", sign_us,
                seal_us, sealed_key);
    std::printf("| figure | value | baseline | baseline value | ratio |\n|---|---|---|---|---|\n");
    std::vector<RekeyFigures> figs;
    for (std::size_t n : {2, 8, 32, 64}) {
        auto f = rekey_at(n, rounds);
        figs.push_back(f);
        const std::string g = "n=" + std::to_string(n) + ": ";
        row(g + "new epoch by rename, coordinator CPU (median)", fmt(f.rename_cpu.median) + " us",
            "1:1 message crypto", fmt(anchor) + " us", ratio(f.rename_cpu.median, anchor));
        row(g + "new epoch by rename, bytes emitted (" + std::to_string(f.rename_msgs) + " messages)",
            std::to_string(f.rename_bytes) + " B", "1:1 message sig + sealed 100 B", std::to_string(anchor_bytes) + " B",
            ratio(static_cast<double>(f.rename_bytes), static_cast<double>(anchor_bytes)));
        row(g + "removal of one of n+1, coordinator CPU (median)", fmt(f.remove_cpu.median) + " us",
            "1:1 message crypto", fmt(anchor) + " us", ratio(f.remove_cpu.median, anchor));
        row(g + "removal of one of n+1, bytes emitted (" + std::to_string(f.remove_msgs) + " messages)",
            std::to_string(f.remove_bytes) + " B", "1:1 message sig + sealed 100 B", std::to_string(anchor_bytes) + " B",
            ratio(static_cast<double>(f.remove_bytes), static_cast<double>(anchor_bytes)));
        row(g + "a member adopting a new epoch, CPU (median)", fmt(f.member_adopt_cpu.median) + " us",
            "1:1 message crypto", fmt(anchor) + " us", ratio(f.member_adopt_cpu.median, anchor));
        row(g + "entry of one more, coordinator CPU over the transaction (median)", fmt(f.entry_cpu.median) + " us",
            "1:1 message crypto", fmt(anchor) + " us", ratio(f.entry_cpu.median, anchor));
        row(g + "entry of one more, bytes the coordinator emits (" + std::to_string(f.entry_msgs) + " messages)",
            std::to_string(f.entry_bytes) + " B", "1:1 message sig + sealed 100 B", std::to_string(anchor_bytes) + " B",
            ratio(static_cast<double>(f.entry_bytes), static_cast<double>(anchor_bytes)));
        row(g + "entry of one more, all members' messages (bytes)",
            std::to_string(f.entry_all_msgs) + " (" + std::to_string(f.entry_all_bytes) + " B)", "-", "-", "-");
    }
    std::printf("\n# messages for one rekey after a removal (computed; ours: one sealed key per remaining member "
                "but the coordinator, as measured above)\n");
    std::printf("| n | ours (sealed keys; messages measured) | Signal Sender Keys ~ n(n-1) | MLS ~ log2(n) |\n");
    std::printf("|---|---|---|---|\n");
    for (const auto& f : figs)
        std::printf("| %zu | %zu (%llu) | %zu | %.0f |\n", f.n, f.n - 1, static_cast<unsigned long long>(f.remove_msgs),
                    f.n * (f.n - 1), std::ceil(std::log2(static_cast<double>(f.n))));
    std::fflush(stdout);
}

// ---- real processes -----------------------------------------------------------------

struct Seen {
    TimePoint t;
    std::string line;
};

struct Proc {
    DarkchatNode d;
    std::vector<Seen> seen;  // every line it printed, as read
    bool dead = false;
};

class Procs {
public:
    Procs(std::string darkchat, std::string dir, std::vector<std::string> extra = {})
        : darkchat_(std::move(darkchat)), dir_(std::move(dir)), extra_(std::move(extra)) {}
    ~Procs() {
        for (auto& p : ps_)
            if (!p->dead) stop_tracked(p->d.proc, 3000);
    }

    Proc& start(const std::string& name) {
        auto p = std::make_unique<Proc>();
        p->d = start_darkchat(darkchat_, name, dir_ + "/" + name, nullptr, extra_);
        tracked_pids.push_back(p->d.proc.pid);
        ps_.push_back(std::move(p));
        return *ps_.back();
    }
    Proc& operator[](std::size_t i) { return *ps_[i]; }
    std::size_t size() const { return ps_.size(); }

    void send(Proc& p, const std::string& line) {
        if (!write_all(p.d.proc.in, line + "\n")) die("cannot write to " + p.d.name);
    }
    std::size_t mark(const Proc& p) const { return p.seen.size(); }

    // The first line of p since `from` for which match() holds, reading every process
    // meanwhile (none of them must block on a full pipe); dies after ms.
    Seen wait(Proc& p, std::size_t from, const std::function<bool(const std::string&)>& match, long ms,
              const std::string& what) {
        if (auto s = find(p, from, match)) return *s;
        auto got = wait_maybe(p, from, match, ms);
        if (!got) {
            for (std::size_t i = p.seen.size() > 12 ? p.seen.size() - 12 : 0; i < p.seen.size(); ++i)
                std::fprintf(stderr, "%s| %s\n", p.d.name.c_str(), p.seen[i].line.c_str());
            die(p.d.name + " did not show " + what);
        }
        return *got;
    }
    std::optional<Seen> wait_maybe(Proc& p, std::size_t from, const std::function<bool(const std::string&)>& match,
                                   long ms) {
        if (auto s = find(p, from, match)) return s;
        std::vector<LineReader*> rs;
        for (auto& q : ps_) rs.push_back(&q->d.proc.out_lines);
        std::optional<Seen> got;
        pump_lines(rs, after_ms(ms), [&](std::size_t i, const std::string& l) {
            ps_[i]->seen.push_back({now(), l});
            if (ps_[i].get() == &p && match(l)) {
                got = ps_[i]->seen.back();
                return true;
            }
            return false;
        });
        return got;
    }
    // Reads whatever is there for `ms`.
    void idle(long ms) {
        std::vector<LineReader*> rs;
        for (auto& q : ps_) rs.push_back(&q->d.proc.out_lines);
        pump_lines(rs, after_ms(ms), [&](std::size_t i, const std::string& l) {
            ps_[i]->seen.push_back({now(), l});
            return false;
        });
    }
    static std::optional<Seen> find(Proc& p, std::size_t from, const std::function<bool(const std::string&)>& match) {
        for (std::size_t i = from; i < p.seen.size(); ++i)
            if (match(p.seen[i].line)) return p.seen[i];
        return std::nullopt;
    }

    void kill9(Proc& p) {
        ::kill(p.d.proc.pid, SIGKILL);
        wait_exit(p.d.proc.pid, after_ms(5000));
        std::erase(tracked_pids, p.d.proc.pid);
        p.dead = true;
    }

private:
    std::string darkchat_, dir_;
    std::vector<std::string> extra_;
    std::vector<std::unique_ptr<Proc>> ps_;
};

auto starts(const std::string& prefix) {
    return [prefix](const std::string& l) { return l.rfind(prefix, 0) == 0; };
}
auto matches(const std::string& re) {
    auto r = std::make_shared<std::regex>(re);
    return [r](const std::string& l) { return std::regex_match(l, *r); };
}

// a pings b, each adds the other; returns once both see the other online.
void link(Procs& ps, Proc& a, Proc& b) {
    std::size_t ma = ps.mark(a), mb = ps.mark(b);
    ps.send(a, "\\ping 127.0.0.1 " + std::to_string(b.d.port));
    ps.send(a, "\\add " + b.d.name);
    ps.wait(a, ma, starts("* online " + b.d.name + " "), 10000, "online " + b.d.name);
    ps.wait(b, mb, starts("* " + a.d.name + " linked you"), 10000, a.d.name + " linked you");
    ps.send(b, "\\add " + a.d.name);
    ps.wait(b, mb, starts("* online " + a.d.name + " "), 10000, "online " + a.d.name);
}

// The N of "* WHO asks|invites you into ...: \yes N or \no N".
std::string request_number(const std::string& line) { return line.substr(line.rfind(' ') + 1); }
auto request_from(const std::string& who) {
    return matches("^\\* " + who + " (asks|invites) you into .*: \\\\yes [0-9]+ or \\\\no [0-9]+$");
}
auto group_line(const std::string& id, const std::string& who, const std::string& text) {
    return [=](const std::string& l) {
        return l.rfind("[" + id, 0) == 0 && l.size() > text.size() &&
               l.find("] <" + who + "> " + text) != std::string::npos &&
               l.compare(l.size() - text.size(), text.size(), text) == 0;
    };
}

double ms_between(TimePoint a, TimePoint b) { return us_between(a, b) / 1000.0; }

// member 0 asks the coordinator into a new group; returns the group's 8 hex digits.
std::string form(Procs& ps, Proc& coord, Proc& first) {
    std::size_t mc = ps.mark(coord), mf = ps.mark(first);
    ps.send(first, "\\connect " + coord.d.name);
    auto req = ps.wait(coord, mc, request_from(first.d.name), 10000, "the request");
    ps.send(coord, "\\yes " + request_number(req.line));
    auto j = ps.wait(first, mf, starts("* joined group "), 15000, "joined");
    return j.line.substr(std::string("* joined group ").size(), 8);
}

struct EntryTimes {
    double invite_to_joined = 0, yes_to_joined = 0, invite_to_all_entered = 0;
};

// The coordinator invites x into a group whose other members are `members`.
EntryTimes admit(Procs& ps, Proc& coord, Proc& x, const std::string& id, const std::vector<Proc*>& members) {
    std::vector<std::size_t> marks;
    for (auto* m : members) marks.push_back(ps.mark(*m));
    std::size_t mx = ps.mark(x);
    auto t0 = now();
    ps.send(coord, "\\invite " + x.d.name);
    auto inv = ps.wait(x, mx, request_from(coord.d.name), 20000, "the invitation");
    auto ty = now();
    ps.send(x, "\\yes " + request_number(inv.line));
    auto j = ps.wait(x, mx, starts("* joined group " + id), 30000, "joined");
    EntryTimes e;
    e.invite_to_joined = ms_between(t0, j.t);
    e.yes_to_joined = ms_between(ty, j.t);
    TimePoint last = j.t;
    for (std::size_t i = 0; i < members.size(); ++i) {
        auto s = ps.wait(*members[i], marks[i],
                         matches("^\\* group " + id + ".*: " + x.d.name + " entered \\(epoch [0-9]+\\)$"), 20000,
                         x.d.name + " entered");
        last = std::max(last, s.t);
    }
    e.invite_to_all_entered = ms_between(t0, last);
    return e;
}

struct LineFigures {
    std::size_t size = 0;
    Summary group, direct;
};

// L 1:1 lines coordinator -> first member, then L group lines from the coordinator to
// the last member showing each; one unmeasured of each first.
LineFigures line_latency(Procs& ps, Proc& coord, Proc& first, const std::string& id,
                         const std::vector<Proc*>& members, int lines) {
    LineFigures f;
    f.size = members.size() + 1;
    std::string tag = std::to_string(f.size);
    std::size_t mc = ps.mark(coord);
    ps.send(coord, "\\chat " + first.d.name);
    ps.wait(coord, mc, starts("* chatting with " + first.d.name), 5000, "chatting");
    std::vector<double> dv, gv;
    for (int i = 0; i <= lines; ++i) {
        std::string text = "dm " + tag + " " + std::to_string(i);
        std::size_t m = ps.mark(first);
        auto t0 = now();
        ps.send(coord, text);
        auto s = ps.wait(first, m, [&](const std::string& l) { return l == "<" + coord.d.name + "> " + text; }, 10000,
                         "a 1:1 line");
        if (i > 0) dv.push_back(ms_between(t0, s.t));
    }
    mc = ps.mark(coord);
    ps.send(coord, "\\group " + id);
    ps.wait(coord, mc, starts("* lines now go to group " + id), 5000, "lines now go to the group");
    for (int i = 0; i <= lines; ++i) {
        std::string text = "gl " + tag + " " + std::to_string(i);
        std::vector<std::size_t> marks;
        for (auto* m : members) marks.push_back(ps.mark(*m));
        auto t0 = now();
        ps.send(coord, text);
        TimePoint last = t0;
        for (std::size_t k = 0; k < members.size(); ++k)
            last = std::max(last, ps.wait(*members[k], marks[k], group_line(id, coord.d.name, text), 15000,
                                          "a group line")
                                      .t);
        if (i > 0) gv.push_back(ms_between(t0, last));
    }
    f.direct = summarize(dv);
    f.group = summarize(gv);
    return f;
}

std::string name_of(std::size_t i) {
    if (i == 0) return "coord";
    return (i < 10 ? "m0" : "m") + std::to_string(i);
}

// K processes started and linked to the coordinator (ps[0]); ps[1] asks it into a new
// group. The group's id.
std::string start_group(Procs& ps, std::size_t k) {
    auto t_start = now();
    for (std::size_t i = 0; i < k; ++i) ps.start(name_of(i));
    for (std::size_t i = 1; i < k; ++i) link(ps, ps[0], ps[i]);
    std::printf("# %zu darkchat processes started and linked to the coordinator in %.1f s\n", k,
                s_between(t_start, now()));
    std::string id = form(ps, ps[0], ps[1]);
    ps.idle(300);
    return id;
}

// The group started by start_group grown to K, one \\invite at a time: its members
// but the coordinator.
std::vector<Proc*> grow(Procs& ps, const std::string& id, std::size_t k) {
    std::vector<Proc*> members{&ps[1]};
    for (std::size_t i = 2; i < k; ++i) {
        admit(ps, ps[0], ps[i], id, members);
        members.push_back(&ps[i]);
    }
    return members;
}

void part_procs(const std::string& darkchat, std::size_t k, int lines) {
    TempDir tmp("groups");
    Procs ps(darkchat, tmp.path);
    std::printf("# procs\n");
    std::string id = start_group(ps, k);
    Proc& coord = ps[0];
    std::vector<Proc*> members{&ps[1]};

    std::vector<std::pair<std::size_t, EntryTimes>> entries;
    std::vector<LineFigures> lf;
    auto measure_lines = [&] {
        std::size_t size = members.size() + 1;
        if (size == 2 || size == 8 || size == 16 || size == 32 || size == 64)
            lf.push_back(line_latency(ps, coord, ps[1], id, members, lines));
    };
    measure_lines();
    for (std::size_t i = 2; i < k; ++i) {
        auto e = admit(ps, coord, ps[i], id, members);
        entries.emplace_back(members.size() + 1, e);
        members.push_back(&ps[i]);
        ps.idle(200);
        measure_lines();
    }
    std::printf("# entries, one at a time, each newcomer linked to the coordinator only\n");
    std::printf("| group size before | \\invite to joined (ms) | \\yes to joined (ms) | \\invite to every member's "
                "\"entered\" (ms) |\n|---|---|---|---|\n");
    for (auto& [size, e] : entries)
        std::printf("| %zu | %.1f | %.1f | %.1f |\n", size, e.invite_to_joined, e.yes_to_joined,
                    e.invite_to_all_entered);
    std::printf("\n| figure | value | baseline | baseline value | ratio |\n|---|---|---|---|---|\n");
    // The entry latencies against the 1:1 line of the same run (the first anchor measured).
    double anchor = lf.empty() ? 0 : lf.front().direct.median;
    for (auto& [size, e] : entries)
        if (size == 2 || size == 4 || size == 8 || size == 16 || size == 32 || size == 63)
            row("entry into a group of " + std::to_string(size) + ": \\invite to newcomer's joined",
                fmt(e.invite_to_joined) + " ms", "1:1 line typed to shown (size 2 run)", fmt(anchor, 2) + " ms",
                ratio(e.invite_to_joined, anchor));
    for (auto& f : lf) {
        row("group of " + std::to_string(f.size) + ": line typed to the last member showing it, median of " +
                std::to_string(f.group.n),
            fmt(f.group.median, 2) + " ms", "1:1 line typed to shown, median", fmt(f.direct.median, 2) + " ms",
            ratio(f.group.median, f.direct.median));
        row("group of " + std::to_string(f.size) + ": the same, max of " + std::to_string(f.group.n),
            fmt(f.group.max, 2) + " ms", "1:1 line, max", fmt(f.direct.max, 2) + " ms",
            ratio(f.group.max, f.direct.max));
    }
    std::fflush(stdout);
}

// B lines typed at the coordinator at once; deliveries per second until every member
// showed the last; each member's lines checked (each once, in order).
struct Burst {
    double per_second = 0, seconds = 0;
    std::size_t bad = 0;  // members that missed a line, or showed one twice or out of order
};

Burst burst(Procs& ps, Proc& coord, const std::string& id, const std::vector<Proc*>& members, int lines,
            const std::string& tag) {
    std::vector<std::size_t> marks;
    for (auto* m : members) marks.push_back(ps.mark(*m));
    std::string all;
    for (int i = 0; i < lines; ++i) all += tag + " " + std::to_string(i) + "\n";
    auto t0 = now();
    if (!write_all(coord.d.proc.in, all)) die("cannot write to " + coord.d.name);
    const std::string last = tag + " " + std::to_string(lines - 1);
    TimePoint end = t0;
    for (std::size_t k = 0; k < members.size(); ++k)
        end = std::max(end, ps.wait(*members[k], marks[k], group_line(id, coord.d.name, last), 120000, "the burst's last")
                                .t);
    Burst b;
    b.seconds = s_between(t0, end);
    b.per_second = static_cast<double>(lines) * static_cast<double>(members.size()) / std::max(1e-9, b.seconds);
    for (std::size_t k = 0; k < members.size(); ++k) {
        int next = 0;
        bool ok = true;
        for (std::size_t i = marks[k]; i < members[k]->seen.size(); ++i) {
            const std::string& l = members[k]->seen[i].line;
            if (!group_line(id, coord.d.name, tag + " ")(l) && l.find("] <" + coord.d.name + "> " + tag + " ") == std::string::npos)
                continue;
            ok = ok && l.size() > tag.size() && l.substr(l.rfind(tag + " ")) == tag + " " + std::to_string(next);
            ++next;
        }
        if (!ok || next != lines) ++b.bad;
    }
    return b;
}

void part_relay(const std::string& darkchat, std::size_t k, int lines, int burst_lines) {
    TempDir tmp("groups-relay");
    Run run;
    dc::bench::Proc relay;
    relay.name = "relay";
    start_daemon(run, relay, self_dir() + "/..", "relay", tmp.path);
    const std::string relay_addr = "127.0.0.1:" + std::to_string(relay.port);
    Procs ps(darkchat, tmp.path, {"--relays", relay_addr});
    std::printf("# relay: a group of %zu through the relay at %s, then member to member\n", k, relay_addr.c_str());
    std::string id = start_group(ps, k);
    Proc& coord = ps[0];
    std::vector<Proc*> members = grow(ps, id, k);
    // Grown to 8 and more: the coordinator's node moved it onto the relay (\via relay below 8).
    // (Those who entered after the move were let in with a record that names the relay.)
    if (k < 8) ps.send(coord, "\\via relay " + id);
    ps.wait(coord, 0, matches("^\\* group " + id + ".*: " + coord.d.name + " moved its lines to relay .*"), 20000,
            "the move onto the relay");
    std::vector<Proc*> everyone = members;
    everyone.push_back(&coord);
    for (auto* m : everyone)
        for (int attempt = 0;; ++attempt) {
            std::size_t mark = ps.mark(*m);
            ps.send(*m, "\\groups");
            auto s = ps.wait(*m, mark, starts("* 1 group"), 5000, "\\groups");
            (void)s;
            if (Procs::find(*m, mark, [&](const std::string& l) {
                    return l.rfind("  " + id, 0) == 0 && l.find("through relay") != std::string::npos;
                }))
                break;
            if (attempt == 20) die(m->d.name + " does not send the group's lines through the relay");
            ps.idle(500);
        }
    ps.idle(1000);
    run.pump(after_ms(10));
    auto on_relay = line_latency(ps, coord, ps[1], id, members, lines);
    auto b_relay = burst(ps, coord, id, members, burst_lines, "rb");
    ps.idle(2000);
    std::vector<std::size_t> marks;
    for (auto* m : members) marks.push_back(ps.mark(*m));
    ps.send(coord, "\\via peers " + id);
    auto back = matches("^\\* group " + id + ".*: " + coord.d.name + " moved its lines back to member to member.*");
    for (std::size_t i = 0; i < members.size(); ++i) ps.wait(*members[i], marks[i], back, 20000, "the move back");
    ps.idle(1000);
    run.pump(after_ms(10));
    auto mesh = line_latency(ps, coord, ps[1], id, members, lines);
    auto b_mesh = burst(ps, coord, id, members, burst_lines, "mb");
    const std::string g = "group of " + std::to_string(k);
    std::printf("\n| figure | through the relay | member to member (same run) | ratio |\n|---|---|---|---|\n");
    std::printf("| %s: line typed to the last member showing it, median / max of %zu | %.2f / %.2f ms | %.2f / %.2f ms "
                "| %s |\n",
                g.c_str(), on_relay.group.n, on_relay.group.median, on_relay.group.max, mesh.group.median,
                mesh.group.max, ratio(on_relay.group.median, mesh.group.median).c_str());
    std::printf("| %s: burst of %d lines, deliveries/s | %.0f (%.2f s) | %.0f (%.2f s) | %s |\n", g.c_str(), burst_lines,
                b_relay.per_second, b_relay.seconds, b_mesh.per_second, b_mesh.seconds,
                ratio(b_relay.per_second, b_mesh.per_second).c_str());
    std::printf("| members that missed a line or showed one twice or out of order | %zu | %zu | |\n", b_relay.bad,
                b_mesh.bad);
    std::printf("| anchor: 1:1 line typed to shown, median | %.2f ms | %.2f ms | |\n", on_relay.direct.median,
                mesh.direct.median);
    std::fflush(stdout);
    stop_tracked(relay.c, 3000);
}

// \send of the file at src by `from` (to its chat partner or current group); the time
// from \send until each of `to` showed "* file ... received from ...", whose copies are
// compared with data. Dies on a copy that differs.
std::vector<double> send_file_to(Procs& ps, Proc& from, const std::vector<Proc*>& to, const std::string& src,
                                 const std::string& data) {
    std::vector<std::size_t> marks;
    for (auto* m : to) marks.push_back(ps.mark(*m));
    const auto t0 = now();
    ps.send(from, "\\send " + src);
    std::vector<double> secs;
    for (std::size_t i = 0; i < to.size(); ++i) {
        auto got = ps.wait(*to[i], marks[i], matches("^\\* file [0-9a-f]{8} received from .*: .*$"), 300000,
                           "the file received");
        secs.push_back(s_between(t0, got.t));
        const std::string path = got.line.substr(got.line.find(": ", got.line.find("received from ")) + 2);
        std::ifstream f(path, std::ios::binary);
        std::string copy((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        if (copy != data) die(to[i]->d.name + "'s copy of the file differs: " + path);
    }
    return secs;
}

void part_file(const std::string& darkchat, std::size_t k, std::size_t mib) {
    TempDir tmp("groups-file");
    Procs ps(darkchat, tmp.path, {"--auto-accept", std::to_string(std::uint64_t{8} << 30)});
    std::printf("# file: a file of %zu MiB to a group of %zu\n", mib, k);
    const std::string src = tmp.path + "/src/file.bin";
    const std::string data = write_random_file(src, mib, 7);
    std::string id = start_group(ps, k);
    Proc& coord = ps[0];
    std::vector<Proc*> members = grow(ps, id, k);
    ps.idle(1000);
    // The anchor: the same file to the first member alone.
    ps.send(coord, "\\chat " + ps[1].d.name);
    ps.idle(300);
    const double one = send_file_to(ps, coord, {&ps[1]}, src, data).front();
    ps.idle(1000);
    ps.send(coord, "\\group " + id);
    ps.idle(300);
    auto before = sample_proc(coord.d.proc.pid);
    auto secs = send_file_to(ps, coord, members, src, data);
    auto after = sample_proc(coord.d.proc.pid);
    const double bytes = static_cast<double>(data.size());
    auto per = summarize([&] {
        std::vector<double> r;
        for (double s : secs) r.push_back(bytes / s / 1e6);
        return r;
    }());
    const double last = *std::max_element(secs.begin(), secs.end());
    const double total = bytes * static_cast<double>(members.size()) / last / 1e6;
    const double alone = bytes / one / 1e6;
    std::printf("\n| figure | value | baseline (same run) | baseline value | ratio |\n|---|---|---|---|---|\n");
    row("group of " + std::to_string(k) + ": per member, \\send to received, median (min .. max)",
        fmt(per.median) + " MB/s (" + fmt(per.min) + " .. " + fmt(per.max) + ")", "the same file 1:1, \\send to received",
        fmt(alone) + " MB/s", ratio(per.median, alone));
    row("group of " + std::to_string(k) + ": in total, " + std::to_string(members.size()) + " copies until the last",
        fmt(total) + " MB/s (" + fmt(last, 2) + " s)", "the same file 1:1", fmt(alone) + " MB/s (" + fmt(one, 2) + " s)",
        ratio(total, alone));
    if (before && after) {
        const double cpu_s = (after->cpu_ns - before->cpu_ns) / 1e9;
        std::printf("| author: CPU over the group's transfer | %.2f s (%.0f%% of one core) | | | |\n", cpu_s,
                    100.0 * cpu_s / last);
        std::printf("| author: peak resident (VmHWM) | %lld KiB | the file | %zu KiB | %s |\n", after->hwm_kb,
                    data.size() >> 10, ratio(static_cast<double>(after->hwm_kb), static_cast<double>(data.size() >> 10)).c_str());
    }
    std::printf("| copies byte for byte the file | %zu of %zu | | | |\n", members.size(), members.size());
    std::fflush(stdout);
}

struct KillFigures {
    double to_lost = 0, to_reinvite = -1, to_invitation = 0, to_joined = 0;
    int invites = 1;
};

KillFigures kill_once(const std::string& darkchat, bool verbose) {
    TempDir tmp("groups-kill");
    Procs ps(darkchat, tmp.path);
    for (std::size_t i = 0; i < 5; ++i) ps.start(name_of(i));
    for (std::size_t i = 1; i < 5; ++i) link(ps, ps[0], ps[i]);
    Proc& coord = ps[0];
    Proc& next = ps[1];  // second of the list: coordinator after the kill, and the inviter
    Proc& newcomer = ps[4];
    link(ps, next, newcomer);
    std::string id = form(ps, coord, next);
    std::vector<Proc*> members{&next};
    for (std::size_t i = 2; i < 4; ++i) {
        admit(ps, coord, ps[i], id, members);
        members.push_back(&ps[i]);
    }
    ps.idle(500);
    // A few lines through the whole group first, so every pair has talked.
    line_latency(ps, coord, next, id, members, 2);
    ps.idle(500);

    std::size_t mn = ps.mark(newcomer), mx = ps.mark(next);
    KillFigures f;
    auto t_kill = now();
    ps.kill9(coord);
    ps.send(next, "\\invite " + newcomer.d.name);
    auto invitation = matches("^\\* [a-z0-9]+ invites you into group " + id + ".*$");
    auto lost = ps.wait_maybe(next, mx, matches("^\\* group " + id + ".*: " + coord.d.name + " was lost .*$"), 60000);
    if (!lost) die(next.d.name + " never found " + coord.d.name + " lost");
    f.to_lost = ms_between(t_kill, lost->t);
    // The first invitation went to the coordinator, dead or not yet known to be: once
    // the inviter coordinates, a second chance for it, then ask again.
    auto inv = ps.wait_maybe(newcomer, mn, invitation, 1000);
    if (!inv) {
        f.to_reinvite = ms_between(t_kill, now());
        ps.send(next, "\\invite " + newcomer.d.name);
        ++f.invites;
        inv = ps.wait_maybe(newcomer, mn, invitation, 20000);
        if (!inv) die("the invitation never showed");
    }
    f.to_invitation = ms_between(t_kill, inv->t);
    ps.send(newcomer, "\\yes " + request_number(inv->line));
    auto j = ps.wait(newcomer, mn, starts("* joined group " + id), 30000, "joined");
    f.to_joined = ms_between(t_kill, j.t);
    if (verbose) {
        ps.idle(200);
        for (std::size_t i = mx; i < next.seen.size() && i < mx + 12; ++i)
            std::printf("#   %s +%.0f ms: %s\n", next.d.name.c_str(), ms_between(t_kill, next.seen[i].t),
                        next.seen[i].line.c_str());
    }
    return f;
}

void part_kill(const std::string& darkchat, int runs) {
    std::printf("# kill: a group of 4 (coord coordinating, m01 next in the list), kill -9 of coord, m01 "
                "\\invite's m04 at once; m04 is linked to coord and m01; %d runs\n",
                runs);
    std::vector<KillFigures> fs;
    for (int r = 0; r < runs; ++r) fs.push_back(kill_once(darkchat, r == 0));
    std::printf("| run | kill to m01's \"coord was lost\" (ms) | kill to the second \\invite (ms) | kill to the "
                "invitation shown (ms) | kill to m04's \"joined\" (ms) |\n|---|---|---|---|---|\n");
    std::vector<double> lost, joined, after, again;
    for (std::size_t r = 0; r < fs.size(); ++r) {
        const auto& f = fs[r];
        std::printf("| %zu | %.1f | %s | %.1f | %.1f |\n", r + 1, f.to_lost,
                    f.to_reinvite < 0 ? "- (the first arrived)" : fmt(f.to_reinvite).c_str(), f.to_invitation,
                    f.to_joined);
        lost.push_back(f.to_lost);
        joined.push_back(f.to_joined);
        after.push_back(f.to_joined - f.to_lost);
        if (f.to_reinvite >= 0) again.push_back(f.to_joined - f.to_reinvite);
    }
    auto l = summarize(lost), j = summarize(joined), a = summarize(after);
    std::printf("\n| figure | value | baseline | baseline value | ratio |\n|---|---|---|---|---|\n");
    row("kill -9 of the coordinator to the newcomer's \"joined\", median of " + std::to_string(j.n),
        fmt(j.median) + " ms", "kill to the next member's \"was lost\" (liveness)", fmt(l.median) + " ms",
        ratio(j.median, l.median));
    row("\"was lost\" to the newcomer's \"joined\" (1 s for the first invitation, \\invite again, \\yes), median",
        fmt(a.median) + " ms", "-", "-", "-");
    if (!again.empty())
        row("the second \\invite (m01 coordinating) to the newcomer's \"joined\", median of " +
                std::to_string(again.size()),
            fmt(summarize(again).median, 2) + " ms", "-", "-", "-");
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    std::string darkchat = self_dir() + "/../darkchat";
    std::string part = "all";
    int rounds = 21, lines = 20, kill_runs = 3, burst_lines = 300;
    std::size_t k = 0, mib = 64;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string key = argv[i], v = argv[i + 1];
        if (key == "--darkchat") darkchat = v;
        else if (key == "--part") part = v;
        else if (key == "--rounds") rounds = std::max(1, std::atoi(v.c_str()));
        else if (key == "--kill-runs") kill_runs = std::max(1, std::atoi(v.c_str()));
        else if (key == "--lines") lines = std::max(1, std::atoi(v.c_str()));
        else if (key == "--k") k = std::clamp<std::size_t>(std::strtoull(v.c_str(), nullptr, 10), 3, 65);
        else if (key == "--burst") burst_lines = std::max(1, std::atoi(v.c_str()));
        else if (key == "--mib") mib = std::clamp<std::size_t>(std::strtoull(v.c_str(), nullptr, 10), 1, 4096);
        else die("unknown option " + key);
    }
    if (!crypto::init()) die("libsodium");
    std::atexit(kill_tracked);
    auto load = [] {
        std::string l = read_file("/proc/loadavg");
        return l.substr(0, l.find(' ', l.find(' ', l.find(' ') + 1) + 1));
    };
    std::printf("# groups_bench: darkchat %s, load average %s at the start\n", darkchat.c_str(), load().c_str());
    if (part == "rekey" || part == "all") part_rekey(rounds);
    if (part == "procs" || part == "all") part_procs(darkchat, k ? k : 17, lines);
    if (part == "relay" || part == "all") part_relay(darkchat, k ? k : 10, lines, burst_lines);
    if (part == "kill" || part == "all") part_kill(darkchat, kill_runs);
    if (part == "file" || part == "all") part_file(darkchat, k ? k : 10, mib);
    std::printf("# load average %s at the end\n", load().c_str());
    return g_sink == 12345 ? 1 : 0;
}
