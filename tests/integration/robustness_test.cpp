// Bad input never hurts a node: input from a file, bad flags, bad macros, a
// data directory of another user, and garbage on the wire (UDP datagrams and
// TCP frames). Errors caused by a person are one clear line.
#include "harness.hpp"

#include <poll.h>
#include <sys/mount.h>

#include <random>

using namespace dc::it;

namespace {

std::string at(const Node& n) { return quote(n.addr()); }

// S, and A and B linked directly (A \add B).
void pair(Net& net) {
    net.start_server();
    net.start("A");
    net.start("B");
    net.proc("A").send("\\add B");
    net.proc("A").wait_for(exactly(presence(net["B"], true, "declared online")));
    net.proc("B").wait_for(exactly("* A linked you"));
    net.proc("B").wait_for(exactly(presence(net["A"], true, "declared online")));
}

// A says `text` to B: B shows it once, A sees it delivered.
void chat_works(Net& net, const std::string& text, Loc loc = Loc::current()) {
    Proc &a = net.proc("A"), &b = net.proc("B");
    std::size_t am = a.mark(), bm = b.mark();
    a.send("\\chat B", loc);
    a.send(text, loc);
    std::string q = a.wait_for(re(R"(^\* queued ([0-9a-f]{8}) to B$)"), 5, am, loc);
    a.wait_for(exactly("* delivered " + q.substr(9, 8) + " to B"), 5, am, loc);
    b.wait_for(exactly("<A> " + text), 5, bm, loc);
    sleep_for(1);
    CHECK(b.count(exactly("<A> " + text), bm) == 1);
}

int udp_socket() {
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(s >= 0);
    sockaddr_in me = loopback(0);
    REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&me), sizeof me) == 0);
    return s;
}

std::uint16_t local_port(int s) {
    sockaddr_in me{};
    socklen_t len = sizeof me;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&me), &len);
    return ntohs(me.sin_port);
}

int tcp_connect(std::uint16_t port) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(s >= 0);
    sockaddr_in to = loopback(port);
    REQUIRE(::connect(s, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
    return s;
}

void send_all(int s, const std::vector<std::uint8_t>& data) {
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::send(s, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return;  // the node may close on us: fine
        off += static_cast<std::size_t>(n);
    }
}

// True when the peer closes the connection within `timeout` seconds.
bool closed_by_peer(int s, double timeout) {
    auto deadline = Clock::now() + secs(timeout);
    for (;;) {
        pollfd p{s, POLLIN, 0};
        int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
        if (left <= 0) return false;
        if (::poll(&p, 1, left) <= 0) return false;
        char buf[256];
        ssize_t n = ::recv(s, buf, sizeof buf, 0);
        if (n == 0) return true;
        if (n < 0) return errno == ECONNRESET;
    }
}

std::vector<std::uint8_t> frame(std::uint32_t len, std::size_t body, std::mt19937& rng) {
    std::vector<std::uint8_t> f = {static_cast<std::uint8_t>(len >> 24), static_cast<std::uint8_t>(len >> 16),
                                   static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len)};
    for (std::size_t i = 0; i < body; ++i) f.push_back(static_cast<std::uint8_t>(rng()));
    return f;
}

}  // namespace

TEST_CASE("input from a file: the events are printed and darkchat exits 0 at the end of input") {
    TempDir tmp;
    std::string dir = tmp.sub("alice");
    std::string input = tmp.write("macros.txt",
                                  "\\help\n"
                                  "\\users\n"
                                  "\\chat bob\n"
                                  "hello bob\n"
                                  "\\frobnicate\n"
                                  "\\add alice\n");  // no newline needed at the end; this one has one
    auto r = run(tmp, {darkchat_bin(), "-u", "alice", "-p", "0", "--bind", "127.0.0.1", "--data-dir", dir}, input, 10,
                 {"XDG_DATA_HOME=" + tmp.sub("xdg")});
    CHECK(r.status == 0);
    REQUIRE_MESSAGE(r.out.size() >= 2, "stdout: " << join_tail(r.out, 30) << "stderr: " << join_tail(r.err, 30));
    CHECK(parse_ready(r.out[0]).has_value());
    CHECK(r.out[0].rfind("* ready: alice at 127.0.0.1:", 0) == 0);

    // \help: one line per macro.
    std::vector<std::string> help_words;
    std::size_t i = 1;
    for (; i < r.out.size() && !r.out[i].empty() && r.out[i][0] == '\\'; ++i)
        help_words.push_back(r.out[i].substr(0, r.out[i].find(' ')));
    CHECK(help_words == std::vector<std::string>{"\\help", "\\chat", "\\users", "\\online", "\\offline", "\\add",
                                                 "\\ping", "\\explode", "\\keys", "\\trust", "\\request", "\\accept",
                                                 "\\decline", "\\send", "\\fetch", "\\files", "\\unhold", "\\cancel", "\\rooms", "\\room", "\\relays", "\\connect", "\\yes",
                                                 "\\no", "\\groups", "\\group", "\\members", "\\invite",
                                                 "\\remove", "\\title", "\\via", "\\leave", "\\history", "\\quit"});
    std::vector<std::string> rest(r.out.begin() + static_cast<std::ptrdiff_t>(i), r.out.end());
    CHECK(rest == std::vector<std::string>{
                      "* 0 users",
                      "* chatting with bob (not known yet: \\add bob to find it)",
                      "! not sent: unknown user bob (\\add bob to look for it first)",
                      "! unknown macro \\frobnicate (\\help lists them)",
                      "! you cannot add yourself",
                  });
    // stderr: only the new identity.
    REQUIRE(r.err.size() == 1);
    CHECK(std::regex_search(r.err[0], re("^darkchat: new identity for alice in " + quote(dir) +
                                         R"( \(fingerprint [0-9a-f]{4}( [0-9a-f]{4}){3}\)$)").rx));

    // The same file again on the same data directory: no new identity.
    auto again = run(tmp, {darkchat_bin(), "-p", "0", "--bind", "127.0.0.1", "--data-dir", dir}, input);
    CHECK(again.status == 0);
    CHECK(again.err.empty());
    CHECK(again.out.size() == r.out.size());
}

TEST_CASE("end of input on a pipe is \\quit: the node declares itself offline and exits 0") {
    Net net;
    pair(net);
    Proc& a = net.proc("A");
    std::size_t am = a.mark();
    Node b = {net["B"].name, net["B"].dir, nullptr, net["B"].ready};
    net.proc("B").close_stdin();
    CHECK(net.proc("B").expect_exit(5) == 0);
    a.wait_for(exactly(presence(b, false, "declared offline")), 5, am);
}

TEST_CASE("bad flags: exit status 1 and one line on standard error") {
    TempDir tmp;
    struct Case {
        std::vector<std::string> args;
        std::string mentions;
    };
    std::vector<Case> cases = {
        {{"-p", "notaport"}, "notaport"},
        {{"--nonsense"}, "--nonsense"},
        {{"-p", "70000"}, "70000"},
        {{"-p"}, "-p"},
        {{"-u", "no spaces allowed"}, "no spaces allowed"},
        {{"-u", "a/b"}, "a/b"},
        {{"-t", "0"}, "-t"},
        {{"-sp", "0"}, "-sp"},
        {{"--bind", "nowhere"}, "nowhere"},
        {{"--max-sessions", "-1"}, "--max-sessions"},
    };
    for (bool daemon : {false, true}) {
        std::string prog = daemon ? "darkchatd" : "darkchat";
        for (auto& c : cases) {
            std::string dir = tmp.sub("never-made");
            std::vector<std::string> argv = {daemon ? darkchatd_bin() : darkchat_bin(), "-u", "alice", "--data-dir",
                                             dir};
            argv.insert(argv.end(), c.args.begin(), c.args.end());
            std::string shown;
            for (auto& a : c.args) shown += " " + a;
            CAPTURE(prog);
            CAPTURE(shown);
            auto r = run(tmp, argv);
            CHECK(r.status == 1);
            CHECK(r.out.empty());
            REQUIRE(r.err.size() == 1);
            CHECK(r.err[0].rfind(prog + ": ", 0) == 0);
            CHECK(r.err[0].find(c.mentions) != std::string::npos);
            CHECK_MESSAGE(!std::filesystem::exists(dir), "a bad flag still made " << dir);
        }
    }
}

TEST_CASE("a data directory belongs to one user; identities are not overwritten") {
    TempDir tmp;
    std::string dir = tmp.sub("alice");
    auto first = run(tmp, {darkchat_bin(), "-u", "alice", "-p", "0", "--bind", "127.0.0.1", "--data-dir", dir});
    REQUIRE(first.status == 0);

    SUBCASE("another -u on an existing data directory") {
        auto r = run(tmp, {darkchat_bin(), "-u", "mallory", "-p", "0", "--bind", "127.0.0.1", "--data-dir", dir});
        CHECK(r.status == 1);
        CHECK(r.out.empty());
        REQUIRE(r.err.size() == 1);
        CHECK(r.err[0] == "darkchat: " + dir + " belongs to alice, not mallory; use another --data-dir");
    }
    SUBCASE("--export-identity never overwrites a file") {
        std::string file = tmp.write("exists.txt", "precious\n");
        auto r = run(tmp, {darkchat_bin(), "--data-dir", dir, "--export-identity", file});
        CHECK(r.status == 1);
        CHECK(r.out.empty());
        CHECK(r.err.size() == 1);
        CHECK(read_file(file) == "precious\n");
    }
    SUBCASE("--import-identity into a data directory that has one") {
        std::string file = tmp.sub("id.txt");
        REQUIRE(run(tmp, {darkchat_bin(), "--data-dir", dir, "--export-identity", file}).status == 0);
        auto r = run(tmp, {darkchat_bin(), "--data-dir", dir, "--import-identity", file});
        CHECK(r.status == 1);
        CHECK(r.out.empty());
        REQUIRE(r.err.size() == 1);
        CHECK(r.err[0] == "darkchat: " + dir + " already has an identity (alice); import into a new --data-dir");
    }
    SUBCASE("--import-identity of a damaged file") {
        std::string file = tmp.write("bad.txt", "darkchat-identity 1\nuser alice\nsecret 00ff\n");
        auto r = run(tmp, {darkchat_bin(), "--data-dir", tmp.sub("other"), "--import-identity", file});
        CHECK(r.status == 1);
        CHECK(r.out.empty());
        CHECK(r.err.size() == 1);
    }
}

TEST_CASE("bad macros: one line each, and the node keeps working") {
    Net net;
    pair(net);
    Proc& a = net.proc("A");
    struct Case {
        std::string input, answer;
    };
    std::vector<Case> cases = {
        {"\\frobnicate", "! unknown macro \\frobnicate (\\help lists them)"},
        {"\\frobnicate with arguments", "! unknown macro \\frobnicate (\\help lists them)"},
        {"\\\\", "! unknown macro \\\\ (\\help lists them)"},
        {"no partner yet", "! no chat partner: \\chat <username> first"},
        {"\\chat not/a/name", "! not a user name: not/a/name"},
        {"\\chat one two", "! usage: \\chat <username>"},
        {"\\add", "! usage: \\add <username>"},
        {"\\ping", "! usage: \\ping <ip> [port]"},
        {"\\ping 127.0.0.1 notaport", "! not a port number: notaport"},
        {"\\ping 127.0.0.1 0", "! not a port number: 0"},
        {"\\users everyone", "! usage: \\users"},
        {"\\add A", "! you cannot add yourself"},
        {"\\add B", "* B is already a contact"},
    };
    for (auto& c : cases) {
        CAPTURE(c.input);
        std::size_t m = a.mark();
        a.send(c.input);
        a.wait_for(exactly(c.answer), 5, m);
        // Exactly one line (events from the network may come in between).
        users(a);
        CHECK_MESSAGE(a.count(exactly(c.answer), m) == 1, a.tail());
        CHECK_MESSAGE(a.count(re("^! "), m) == (c.answer[0] == '!' ? 1u : 0u), a.tail());
    }
    // A chat line longer than a message may be.
    a.send("\\chat B");
    a.wait_for(exactly("* chatting with B (online)"));
    std::size_t m = a.mark();
    a.send(std::string(5000, 'x'));
    a.wait_for(exactly("! message too long (5000 bytes, at most 4096)"), 5, m);
    CHECK(net.proc("B").count("xxxx") == 0);
    // A line longer than standard input is read at a time is one line, refused
    // whole: neither its tail is sent nor its head taken as a macro.
    for (std::string head : {std::string("\\users "), std::string("plain ")}) {
        CAPTURE(head);
        std::size_t big = 1024 * 1024;
        std::string line = head + std::string(big, 'x') + "TAIL";
        m = a.mark();
        a.send(line);
        a.wait_for(exactly("! line too long (" + std::to_string(line.size()) + " bytes, at most 65536): nothing of it was sent"),
                   10, m);
        users(a);
        CHECK_MESSAGE(a.count(re("^! "), m) == 1, a.tail());
        CHECK(a.count("* queued", m) == 0);
    }
    chat_works(net, "still here after all that");
    CHECK(net.proc("B").count("TAIL") == 0);
    CHECK(net.proc("B").count("xxxx") == 0);
}

TEST_CASE("garbage on the wire: random datagrams, broken and huge TCP frames") {
    Net net;
    pair(net);
    Proc &a = net.proc("A"), &b = net.proc("B");
    std::uint16_t port = net["B"].port();

    std::uint32_t seed = std::random_device{}();
    if (const char* s = std::getenv("DARKCHAT_IT_SEED")) seed = static_cast<std::uint32_t>(std::strtoul(s, nullptr, 10));
    INFO("seed " << seed << " (DARKCHAT_IT_SEED=" << seed << " repeats this run)");
    std::mt19937 rng(seed);

    // Real packets to mutate: A's requestPing and requestUserList, caught by
    // pointing A's \ping at our socket.
    int u = udp_socket();
    a.send("\\ping 127.0.0.1 " + std::to_string(local_port(u)));
    std::vector<std::vector<std::uint8_t>> real;
    for (int i = 0; i < 2; ++i) {
        pollfd p{u, POLLIN, 0};
        if (::poll(&p, 1, 3000) != 1) break;
        std::vector<std::uint8_t> buf(2048);
        ssize_t n = ::recv(u, buf.data(), buf.size(), 0);
        if (n > 0) real.emplace_back(buf.begin(), buf.begin() + n);
    }
    REQUIRE(real.size() == 2);

    std::size_t am = a.mark(), bm = b.mark();
    sockaddr_in to = loopback(port);
    auto sendto = [&](const std::vector<std::uint8_t>& d) {
        ::sendto(u, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    };
    for (int i = 0; i < 2000; ++i) {
        std::vector<std::uint8_t> d;
        switch (i % 4) {
            case 0:  // random bytes, any size up to a jumbo datagram
                d.resize(rng() % 1500);
                for (auto& x : d) x = static_cast<std::uint8_t>(rng());
                break;
            case 1:  // looks like a packet: [1, bin ..., ...]
                d = {0x93, 0x01, 0xc5, static_cast<std::uint8_t>(rng() % 5), static_cast<std::uint8_t>(rng())};
                for (std::size_t k = rng() % 1100; k > 0; --k) d.push_back(static_cast<std::uint8_t>(rng()));
                break;
            case 2: {  // a real packet with bytes changed
                d = real[rng() % 2];
                for (int k = 1 + static_cast<int>(rng() % 4); k > 0; --k) d[rng() % d.size()] ^= static_cast<std::uint8_t>(1 + rng() % 255);
                break;
            }
            case 3:  // a real packet cut short, or with bytes added
                d = real[rng() % 2];
                if (rng() % 2) d.resize(rng() % d.size());
                else for (std::size_t k = 1 + rng() % 64; k > 0; --k) d.push_back(static_cast<std::uint8_t>(rng()));
                break;
        }
        sendto(d);
        if (i % 25 == 24) sleep_for(0.002);  // let the node keep up: a flood would drop A's pings too
    }
    ::close(u);

    // TCP: a huge length prefix and a zero one make the node hang up.
    int huge = tcp_connect(port);
    send_all(huge, {0xff, 0xff, 0xff, 0xff, 1, 2, 3});
    CHECK_MESSAGE(closed_by_peer(huge, 3), "a frame of 4 GiB was not refused");
    ::close(huge);
    int zero = tcp_connect(port);
    send_all(zero, {0, 0, 0, 0});
    CHECK_MESSAGE(closed_by_peer(zero, 3), "a frame of length 0 was not refused");
    ::close(zero);
    int over = tcp_connect(port);
    send_all(over, frame((1u << 20) + 1, 16, rng));  // just over 1 MiB
    CHECK_MESSAGE(closed_by_peer(over, 3), "a frame over 1 MiB was not refused");
    ::close(over);
    // Frames cut short, garbage frames, and half a length prefix, then gone.
    for (int i = 0; i < 20; ++i) {
        int s = tcp_connect(port);
        switch (i % 4) {
            case 0: send_all(s, frame(1000, 10, rng)); break;
            case 1: send_all(s, frame(600, 600, rng)); break;
            case 2: send_all(s, {0x00, 0x00}); break;
            case 3: {
                auto d = frame(static_cast<std::uint32_t>(real[0].size()), 0, rng);
                d.insert(d.end(), real[0].begin(), real[0].begin() + static_cast<std::ptrdiff_t>(real[0].size() / 2));
                send_all(s, d);
                break;
            }
        }
        ::close(s);
    }
    // More idle connections than the node takes at once, held, then dropped.
    std::vector<int> idle;
    for (int i = 0; i < 80; ++i) idle.push_back(tcp_connect(port));
    sleep_for(0.5);
    for (int s : idle) ::close(s);

    // B is still there, said nothing about any of it, and still chats.
    CHECK(b.running());
    sleep_for(0.5);
    CHECK_MESSAGE(b.count(re(".*"), bm) == 0, "B printed:\n" << join_tail(b.lines(), 30));
    CHECK_MESSAGE(a.count(re("^\\* (offline|online) "), am) == 0, a.tail());
    auto bu = users(b);
    CHECK(std::regex_search(bu["A"], re("^A online linked-you \\| " + at(net["A"]) + " online").rx));
    chat_works(net, "the wire was noisy");
    CHECK(b.running());
}

// ---- start-up: a data directory that cannot be used is refused, and left as it was ----

namespace {

// Every file of a directory, by name, with its bytes.
std::map<std::string, std::string> files_of(const std::string& dir) {
    std::map<std::string, std::string> m;
    for (auto& e : std::filesystem::directory_iterator(dir)) m[e.path().filename().string()] = read_file(e.path().string());
    return m;
}

std::vector<std::string> start_argv(const std::string& dir, std::vector<std::string> more = {}) {
    std::vector<std::string> argv = {darkchat_bin(), "-p", "0", "--bind", "127.0.0.1", "--data-dir", dir};
    argv.insert(argv.end(), more.begin(), more.end());
    return argv;
}

// The session on the ready line of a run that started.
std::string session_of(const Run& r) {
    for (auto& l : r.out)
        if (auto rd = parse_ready(l)) return rd->session;
    return {};
}

// A made data directory of alice, and the session on its ready line.
std::string make_alice(const TempDir& tmp, const std::string& dir) {
    auto r = run(tmp, start_argv(dir, {"-u", "alice"}));
    REQUIRE(r.status == 0);
    REQUIRE_MESSAGE(!session_of(r).empty(), join_tail(r.out, 10) << join_tail(r.err, 10));
    return session_of(r);
}

// A refused start: status 1, no output, one line on stderr that names path
// and says `cause`; and the data directory exactly as it was.
void refused(const TempDir& tmp, const std::string& dir, const std::string& path, const std::string& cause,
             Loc loc = Loc::current()) {
    auto before = files_of(dir);
    auto r = run(tmp, start_argv(dir));
    INFO("called from line " << loc.line());
    CHECK(r.status == 1);
    CHECK(r.out.empty());
    REQUIRE_MESSAGE(r.err.size() == 1, join_tail(r.err, 10));
    CHECK(r.err[0].rfind("darkchat: ", 0) == 0);
    CHECK_MESSAGE(r.err[0].find(path) != std::string::npos, r.err[0]);
    CHECK_MESSAGE(r.err[0].find(cause) != std::string::npos, r.err[0]);
    CHECK_MESSAGE(files_of(dir) == before, "the refused start changed " << dir);
}

}  // namespace

TEST_CASE("a database that cannot be read is refused with one line, never replaced by a new identity") {
    TempDir tmp;
    std::string dir = tmp.sub("alice");
    std::string db = dir + "/darkchat.db";
    std::string session = make_alice(tmp, dir);
    std::string good = read_file(db);

    SUBCASE("an empty file") {
        std::ofstream(db, std::ios::trunc).close();
        refused(tmp, dir, db, "is empty");
        CHECK(read_file(db).empty());
    }
    SUBCASE("a corrupt page in the middle") {
        std::string bad = good;
        REQUIRE(bad.size() >= 8 * 4096);
        std::size_t page = bad.size() / 4096 / 2;
        for (std::size_t i = 0; i < 4096; ++i) bad[page * 4096 + i] = static_cast<char>((i * 37 + 11) & 0xff);
        std::ofstream(db, std::ios::binary | std::ios::trunc) << bad;
        refused(tmp, dir, db, "is corrupt");
    }
    SUBCASE("a file that is not a database") {
        std::ofstream(db, std::ios::binary | std::ios::trunc) << std::string(10000, 'z');
        refused(tmp, dir, db, "is not a darkchat database");
    }
    SUBCASE("a read-only file (mode 0400: refused for root too)") {
        REQUIRE(::chmod(db.c_str(), 0400) == 0);
        refused(tmp, dir, db, "is read-only");
        REQUIRE(::chmod(db.c_str(), 0600) == 0);
    }
    // Put back, the same identity starts again.
    std::ofstream(db, std::ios::binary | std::ios::trunc) << good;
    auto again = run(tmp, start_argv(dir));
    CHECK(again.status == 0);
    CHECK_MESSAGE(again.err.empty(), join_tail(again.err, 10));
    CHECK(session_of(again) == session);
}

TEST_CASE("a full disk or a read-only file system at start-up is named, and nothing is changed") {
    TempDir tmp;
    Tmpfs fs(tmp.sub("mnt"), "2M");
    if (!fs.ok()) {
        MESSAGE("skipped: mounting a tmpfs needs root");
        return;
    }
    std::string dir = tmp.sub("mnt/alice");
    std::string session = make_alice(tmp, dir);

    SUBCASE("disk full, existing data directory") {
        fs.fill("filler");
        refused(tmp, dir, dir + "/darkchat.db", "disk full");
        SUBCASE("and a new one: nothing is left of it") {
            std::string fresh = tmp.sub("mnt/bob");
            auto r = run(tmp, start_argv(fresh, {"-u", "bob"}));
            CHECK(r.status == 1);
            REQUIRE(r.err.size() == 1);
            CHECK_MESSAGE(r.err[0].find("disk full") != std::string::npos, r.err[0]);
            CHECK_MESSAGE(r.err[0].find(fresh) != std::string::npos, r.err[0]);
            CHECK_FALSE(std::filesystem::exists(fresh));
        }
        // Space freed: the same identity starts.
        std::filesystem::remove(tmp.sub("mnt/filler"));
        auto again = run(tmp, start_argv(dir));
        CHECK(again.status == 0);
        CHECK(session_of(again) == session);
    }
    SUBCASE("a read-only file system") {
        REQUIRE(fs.read_only());
        refused(tmp, dir, dir, "read-only");
    }
}

TEST_CASE("a port in use is refused before anything is written") {
    TempDir tmp;
    int held = udp_socket();
    std::uint16_t port = local_port(held);
    std::string dir = tmp.sub("alice");
    for (bool daemon : {false, true}) {
        CAPTURE(daemon);
        auto r = run(tmp, {daemon ? darkchatd_bin() : darkchat_bin(), "-u", "alice", "-p", std::to_string(port),
                           "--bind", "127.0.0.1", "--data-dir", dir});
        CHECK(r.status == 1);
        REQUIRE(r.err.size() == 1);
        CHECK_MESSAGE(r.err[0].find("127.0.0.1:" + std::to_string(port)) != std::string::npos, r.err[0]);
        CHECK_MESSAGE(r.err[0].find("in use") != std::string::npos, r.err[0]);
        CHECK_MESSAGE(!std::filesystem::exists(dir), "a refused start made " << dir);
    }
    ::close(held);
}

TEST_CASE("one node per data directory: a second darkchatd names the process that holds it, a second darkchat attaches") {
    Net net;
    net.start("A", {.server = false});
    Proc& a = net.proc("A");
    std::string dir = net["A"].dir;
    auto before = files_of(dir);
    auto r = run(net.tmp, {darkchatd_bin(), "-p", "0", "--bind", "127.0.0.1", "--data-dir", dir});
    CHECK(r.status == 1);
    CHECK(r.out.empty());
    REQUIRE(r.err.size() == 1);
    CHECK(r.err[0] == "darkchatd: " + dir + " is in use by process " + std::to_string(a.pid()) +
                          " (one node per data directory)");
    // darkchat does not start a second node either: it attaches to the first
    // (darkchat-api(7), ATTACHING), and at the end of its input leaves it running.
    r = run(net.tmp, {darkchat_bin(), "-p", "0", "--bind", "127.0.0.1", "--data-dir", dir});
    CHECK(r.status == 0);
    REQUIRE(!r.out.empty());
    CHECK(r.out[0] == "* attached to the running node in " + dir + ": lines go to it; \\quit leaves it running");
    CHECK(r.err.empty());
    CHECK(files_of(dir).size() == before.size());
    // The first runs on as before.
    CHECK(a.running());
    auto u = users(a);
    CHECK(u.empty());
    // Killed, it holds nothing: the next start works, as the same session.
    std::string session = net["A"].ready.session;
    net.kill9("A");
    Node& again = net.start("A", {.server = false});
    CHECK(again.ready.session == session);
}
