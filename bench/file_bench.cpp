// A file between two real darkchat processes on loopback (darkchat(1), SENDING FILES):
// alice \send's a file of --mib MiB to bob, bob \accept's it. Prints the rate from
// \accept to bob's "received" line, the CPU (user + system) and the largest resident
// memory of both processes, the time alice took to make the manifest, and the time
// bob takes to go on after a kill -9 in the middle of a second transfer. Beside them,
// measured in the same run: TCP over loopback (one connection, 256 KiB writes),
// libsodium's crypto_secretstream (256 KiB messages, one core) and the disk the download
// folder is on (the same bytes written in 256 KiB blocks, then fdatasync: a file is
// renamed only once it is on disk), the limits a transfer works under; Tox's 9.05 MiB/s
// (issue 18, measured on this machine) is the anchor.
//
//   file_bench [--darkchat build/darkchat] [--mib 1024]    (files under /tmp, removed after)
#include "bench_util.hpp"

#include <sodium.h>

#include <netinet/tcp.h>

#include <random>
#include <thread>

using namespace dc::bench;

namespace {

constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kToxMiBs = 9.05;
constexpr std::size_t kBlock = 256 * 1024;

double mbs(double bytes, double s) { return s > 0 ? bytes / s / 1e6 : 0; }

// ---- baselines -----------------------------------------------------------------

double tcp_loopback(std::uint64_t bytes) {
    int ls = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(ls, 1) != 0 ||
        ::getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        die("tcp baseline: listen");
    std::thread reader([&] {
        int c = ::accept(ls, nullptr, nullptr);
        std::vector<char> b(kBlock);
        std::uint64_t got = 0;
        for (std::uint64_t guard = 0; got < bytes && guard < bytes; ++guard) {
            ssize_t n = ::read(c, b.data(), b.size());
            if (n <= 0) break;
            got += static_cast<std::uint64_t>(n);
        }
        ::close(c);
    });
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("tcp baseline: connect");
    std::vector<char> b(kBlock, 'x');
    auto t0 = now();
    for (std::uint64_t sent = 0; sent < bytes;) {
        ssize_t n = ::write(s, b.data(), std::min<std::uint64_t>(b.size(), bytes - sent));
        if (n <= 0) die("tcp baseline: write");
        sent += static_cast<std::uint64_t>(n);
    }
    ::shutdown(s, SHUT_WR);
    reader.join();
    double secs = s_between(t0, now());
    ::close(s);
    ::close(ls);
    return mbs(static_cast<double>(bytes), secs);
}

// Seals bytes in kBlock messages, then opens them again: the rate of each.
std::pair<double, double> secretstream(std::uint64_t bytes) {
    unsigned char key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
    crypto_secretstream_xchacha20poly1305_keygen(key);
    crypto_secretstream_xchacha20poly1305_state st;
    unsigned char header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
    std::vector<unsigned char> plain(kBlock, 7), sealed(kBlock + crypto_secretstream_xchacha20poly1305_ABYTES);
    // A window of sealed messages to open afterwards, bounded in memory: 64 MiB.
    const std::size_t keep = 256;
    std::vector<std::vector<unsigned char>> kept;
    const std::uint64_t blocks = bytes / kBlock;
    crypto_secretstream_xchacha20poly1305_init_push(&st, header, key);
    auto t0 = now();
    for (std::uint64_t i = 0; i < blocks; ++i) {
        crypto_secretstream_xchacha20poly1305_push(&st, sealed.data(), nullptr, plain.data(), plain.size(), nullptr, 0,
                                                   0);
        if (i < keep) kept.push_back(sealed);
    }
    const double push = mbs(static_cast<double>(blocks * kBlock), s_between(t0, now()));
    crypto_secretstream_xchacha20poly1305_state in;
    crypto_secretstream_xchacha20poly1305_init_pull(&in, header, key);
    auto t1 = now();
    std::uint64_t opened = 0;
    for (auto& m : kept) {
        unsigned long long n = 0;
        if (crypto_secretstream_xchacha20poly1305_pull(&in, plain.data(), &n, nullptr, m.data(), m.size(), nullptr, 0) !=
            0)
            die("secretstream baseline: a message did not open");
        opened += n;
    }
    const double pull = mbs(static_cast<double>(opened), s_between(t1, now()));
    return {push, pull};
}

// Writes bytes to a new file at path in kBlock writes, then fdatasync: the rate, the file
// removed after.
double disk_write(const std::string& path, std::uint64_t bytes) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) die("disk baseline: cannot make " + path);
    std::vector<unsigned char> b(kBlock);
    randombytes_buf(b.data(), b.size());
    auto t0 = now();
    for (std::uint64_t at = 0; at < bytes; at += kBlock) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kBlock, bytes - at));
        if (::pwrite(fd, b.data(), n, static_cast<off_t>(at)) != static_cast<ssize_t>(n)) die("disk baseline: write");
    }
    if (::fdatasync(fd) != 0) die("disk baseline: fdatasync");
    const double secs = s_between(t0, now());
    ::close(fd);
    ::unlink(path.c_str());
    return mbs(static_cast<double>(bytes), secs);
}

// ---- darkchat processes ----------------------------------------------------------

struct Node {
    std::string name, dir, downloads;
    Child c;
    int port = -1;
    std::vector<std::string> seen;
};

void start(const std::string& darkchat, Node& n) {
    SpawnOptions o;
    o.stderr_file = n.dir + ".stderr";
    n.c = spawn_tracked({darkchat, "-u", n.name, "-p", "0", "--bind", "127.0.0.1", "--data-dir", n.dir, "--downloads",
                         n.downloads},
                        o);
    auto deadline = after_ms(20000);
    for (int guard = 0; guard < 10000; ++guard) {
        auto l = n.c.out_lines.next(deadline);
        if (!l) break;
        n.seen.push_back(*l);
        if (l->rfind("* ready:", 0) == 0) {
            n.port = ready_port(*l);
            return;
        }
    }
    die(n.name + " printed no ready line (stderr in " + o.stderr_file + ")");
}

void say(Node& n, const std::string& line) {
    if (!write_all(n.c.in, line + "\n")) die("cannot write to " + n.name);
}

// Reads both until a line of `who` starts with prefix; returns it (dies after ms).
std::string wait(Node& who, Node& other, const std::string& prefix, long ms) {
    std::string got;
    bool ok = pump_lines({&who.c.out_lines, &other.c.out_lines}, after_ms(ms), [&](std::size_t i, const std::string& l) {
        Node& n = i == 0 ? who : other;
        n.seen.push_back(l);
        if (i == 0 && l.rfind(prefix, 0) == 0) {
            got = l;
            return true;
        }
        return false;
    });
    if (!ok) die(who.name + " did not show '" + prefix + "' (stderr in " + who.dir + ".stderr)");
    return got;
}

void link(Node& a, Node& b) {
    say(a, "\\ping 127.0.0.1 " + std::to_string(b.port));
    say(a, "\\add " + b.name);
    wait(a, b, "* online " + b.name + " ", 15000);
    wait(b, a, "* " + a.name + " linked you", 15000);
    say(b, "\\add " + a.name);
    wait(b, a, "* online " + a.name + " ", 15000);
    say(a, "\\chat " + b.name);
}

struct Cpu {
    double user_s = 0, sys_s = 0;
};
Cpu cpu_of(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string all;
    std::getline(f, all);
    auto rp = all.rfind(')');
    if (rp == std::string::npos) return {};
    std::istringstream rest(all.substr(rp + 2));
    std::vector<std::string> fields;
    std::string x;
    while (rest >> x) fields.push_back(x);
    if (fields.size() < 13) return {};
    const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    return {std::atof(fields[11].c_str()) / tick, std::atof(fields[12].c_str()) / tick};
}
long long hwm_kb(pid_t pid) { return status_field("/proc/" + std::to_string(pid) + "/status", "VmHWM"); }
long long wchar_of(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/io");
    std::string k;
    long long v = 0;
    for (int guard = 0; guard < 32 && f >> k >> v; ++guard)
        if (k == "wchar:") return v;
    return -1;
}

long long file_size(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? static_cast<long long>(st.st_size) : -1;
}

void make_file(const std::string& path, std::uint64_t bytes) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) die("cannot make " + path);
    std::mt19937_64 g(18);
    std::vector<std::uint64_t> b(kBlock / 8);
    for (std::uint64_t at = 0; at < bytes; at += kBlock) {
        for (auto& w : b) w = g();
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kBlock, bytes - at));
        if (::write(fd, b.data(), n) != static_cast<ssize_t>(n)) die("cannot write " + path);
    }
    ::close(fd);
}

bool same_files(const std::string& a, const std::string& b) {
    std::ifstream x(a, std::ios::binary), y(b, std::ios::binary);
    std::vector<char> p(1 << 20), q(1 << 20);
    for (int guard = 0; guard < 1 << 20; ++guard) {
        x.read(p.data(), static_cast<std::streamsize>(p.size()));
        y.read(q.data(), static_cast<std::streamsize>(q.size()));
        if (x.gcount() != y.gcount()) return false;
        if (x.gcount() == 0) return true;
        if (!std::equal(p.begin(), p.begin() + x.gcount(), q.begin())) return false;
    }
    return false;
}

// "* file ID offered by alice: ..." -> ID
std::string offer_id(const std::string& line) { return line.substr(7, 8); }

struct Transfer {
    double manifest_s = 0, transfer_s = 0;
    Cpu alice, bob;
    long long alice_hwm = 0, bob_hwm = 0;
    bool identical = false;
};

}  // namespace

int main(int argc, char** argv) {
    std::string darkchat = self_dir() + "/../darkchat";
    std::uint64_t mib = 1024;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i], v = argv[i + 1];
        if (k == "--darkchat") darkchat = v;
        else if (k == "--mib") mib = std::stoull(v);
        else die("usage: file_bench [--darkchat PATH] [--mib N]");
    }
    std::atexit(kill_tracked);
    if (sodium_init() < 0) die("sodium_init");
    const std::uint64_t bytes = mib << 20;

    TempDir tmp("files");
    const double tcp = tcp_loopback(bytes);
    const auto [push, pull] = secretstream(bytes);
    const double disk = disk_write(tmp.path + "/disk.bin", bytes);
    std::printf("# baselines: TCP over loopback %.0f MB/s; crypto_secretstream seal %.0f MB/s, open %.0f MB/s; "
                "disk write + fdatasync %.0f MB/s\n",
                tcp, push, pull, disk);

    const std::string src = tmp.path + "/src.bin";
    make_file(src, bytes);
    Node alice, bob;
    alice.name = "alice", alice.dir = tmp.path + "/alice", alice.downloads = tmp.path + "/alice-dl";
    bob.name = "bob", bob.dir = tmp.path + "/bob", bob.downloads = tmp.path + "/bob-dl";
    start(darkchat, alice);
    start(darkchat, bob);
    link(alice, bob);

    // One whole transfer.
    Transfer t;
    {
        auto t0 = now();
        say(alice, "\\send " + src);
        std::string id = offer_id(wait(bob, alice, "* file ", 600000));
        t.manifest_s = s_between(t0, now());
        const Cpu a0 = cpu_of(alice.c.pid), b0 = cpu_of(bob.c.pid);
        auto t1 = now();
        say(bob, "\\accept " + id);
        wait(bob, alice, "* file " + id + " received from alice: ", 3600000);
        t.transfer_s = s_between(t1, now());
        const Cpu a1 = cpu_of(alice.c.pid), b1 = cpu_of(bob.c.pid);
        t.alice = {a1.user_s - a0.user_s, a1.sys_s - a0.sys_s};
        t.bob = {b1.user_s - b0.user_s, b1.sys_s - b0.sys_s};
        t.alice_hwm = hwm_kb(alice.c.pid);
        t.bob_hwm = hwm_kb(bob.c.pid);
        wait(alice, bob, "* file " + id + " delivered to bob", 30000);
        t.identical = same_files(src, bob.downloads + "/src.bin");
        std::filesystem::remove(bob.downloads + "/src.bin");
    }

    // kill -9 of bob once a quarter is on disk; restarted, the time until it writes chunks again.
    double to_ready = 0, to_writing = 0, to_done = 0;
    long long at_kill = 0;
    bool identical2 = false;
    {
        say(alice, "\\send " + src);
        std::string id = offer_id(wait(bob, alice, "* file ", 600000));
        say(bob, "\\accept " + id);
        const std::string part = bob.downloads + "/src.bin.part";
        for (int guard = 0; guard < 600000 && file_size(part) < static_cast<long long>(bytes / 4); ++guard)
            ::usleep(1000);
        ::kill(bob.c.pid, SIGKILL);
        wait_exit(bob.c.pid, after_ms(5000));
        std::erase(tracked_pids, bob.c.pid);
        at_kill = file_size(part);
        auto t0 = now();
        bob.seen.clear();
        start(darkchat, bob);
        to_ready = s_between(t0, now());
        // Chunks written again: a few MiB more through write(2) than start-up wrote.
        const long long w0 = wchar_of(bob.c.pid);
        for (int guard = 0; guard < 600000 && wchar_of(bob.c.pid) - w0 < 4 * 1024 * 1024; ++guard) {
            pump_lines({&bob.c.out_lines, &alice.c.out_lines}, after_ms(1), [](std::size_t, const std::string&) {
                return false;
            });
        }
        to_writing = s_between(t0, now());
        wait(bob, alice, "* file " + id + " received from alice: ", 3600000);
        to_done = s_between(t0, now());
        identical2 = same_files(src, bob.downloads + "/src.bin");
    }
    stop_tracked(alice.c);
    stop_tracked(bob.c);

    const double rate = mbs(static_cast<double>(bytes), t.transfer_s);
    const double tox = kToxMiBs * kMiB / 1e6;
    std::printf("# a file of %llu MiB, alice to bob on 127.0.0.1 (byte-identical: %s)\n",
                static_cast<unsigned long long>(mib), t.identical ? "yes" : "NO");
    std::printf("| figure | value | baseline | baseline value | ratio |\n|---|---|---|---|---|\n");
    auto x = [](double a, double b) { return b > 0 ? fmt(a / b, 2) + "x" : std::string("n/a"); };
    row("transfer, \\accept to received (on disk, checked, renamed)", fmt(rate, 0) + " MB/s", "TCP over loopback",
        fmt(tcp, 0) + " MB/s", x(rate, tcp));
    row("the same", fmt(rate, 0) + " MB/s", "crypto_secretstream seal, one core", fmt(push, 0) + " MB/s", x(rate, push));
    row("the same", fmt(rate, 0) + " MB/s", "disk: write + fdatasync, 256 KiB blocks", fmt(disk, 0) + " MB/s",
        x(rate, disk));
    row("the same", fmt(rate, 0) + " MB/s", "Tox (9.05 MiB/s, the anchor)", fmt(tox, 1) + " MB/s", x(rate, tox));
    row("the same", fmt(rate, 0) + " MB/s", "the mark", "1000 MB/s", x(rate, 1000));
    row("alice (sender) CPU during the transfer, user + sys",
        fmt(t.alice.user_s, 2) + " + " + fmt(t.alice.sys_s, 2) + " s", "transfer time", fmt(t.transfer_s, 2) + " s",
        x(t.alice.user_s + t.alice.sys_s, t.transfer_s));
    row("bob (receiver) CPU during the transfer, user + sys",
        fmt(t.bob.user_s, 2) + " + " + fmt(t.bob.sys_s, 2) + " s", "transfer time", fmt(t.transfer_s, 2) + " s",
        x(t.bob.user_s + t.bob.sys_s, t.transfer_s));
    row("alice max resident (VmHWM, manifest included)", std::to_string(t.alice_hwm / 1024) + " MiB", "file size",
        std::to_string(mib) + " MiB", x(static_cast<double>(t.alice_hwm) / 1024, static_cast<double>(mib)));
    row("bob max resident (VmHWM)", std::to_string(t.bob_hwm / 1024) + " MiB", "file size", std::to_string(mib) + " MiB",
        x(static_cast<double>(t.bob_hwm) / 1024, static_cast<double>(mib)));
    row("alice: \\send to bob's offer line (reads and hashes the file)", fmt(t.manifest_s, 2) + " s", "-", "-", "-");
    row("kill -9 of bob at " + std::to_string(at_kill >> 20) + " MiB: restart to ready", fmt(to_ready, 2) + " s", "-",
        "-", "-");
    row("kill -9 of bob: restart to chunks written again (4 MiB)", fmt(to_writing, 2) + " s", "-", "-", "-");
    row("kill -9 of bob: restart to received (byte-identical: " + std::string(identical2 ? "yes" : "NO") + ")",
        fmt(to_done, 2) + " s", "whole transfer", fmt(t.transfer_s, 2) + " s", x(to_done, t.transfer_s));
    return t.identical && identical2 ? 0 : 1;
}
