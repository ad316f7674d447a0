// Hostile peers: tools/attack (dcattack) speaks the wire format as an attacker
// would against real darkchat processes on 127.0.0.1, and the honest nodes'
// view must stay correct: forged and replayed packets change nothing anyone
// sees, malformed input leaves a node running and answering, during a flood
// the honest pair still exchanges every line, each delivered once, and no text
// a peer sends reaches the terminal as control.
// (darkchat-security(7) is the threat model these check.)
#include "harness.hpp"

#include <cstdio>

using namespace dc::it;

namespace {

std::string at(const Node& n) { return quote(n.addr()); }

// S, and alice and bob linked directly (alice \add bob).
void pair(Net& net) {
    net.start_server();
    net.start("alice");
    net.start("bob");
    net.proc("alice").send("\\add bob");
    net.proc("alice").wait_for(exactly(presence(net["bob"], true, "declared online")));
    net.proc("bob").wait_for(exactly("* alice linked you"));
    net.proc("bob").wait_for(exactly(presence(net["alice"], true, "declared online")));
}

// dcattack MODE --target NODE ARGS..., to its end; returns its standard output.
std::vector<std::string> attack(Net& net, const std::string& mode, const Node& target,
                                std::vector<std::string> args = {}, double timeout = 60, Loc loc = Loc::current()) {
    std::vector<std::string> argv = {dcattack_bin(), mode, "--target", target.addr()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run(net.tmp, argv, "/dev/null", timeout);
    std::string shown;
    for (auto& a : argv) shown += " " + a;
    CHECK_MESSAGE(r.status == 0, "dcattack" << shown << " exited with " << r.status << "\nstdout:\n"
                                            << join_tail(r.out, 10) << "stderr:\n"
                                            << join_tail(r.err, 10) << "(at " << loc.line() << ")");
    CHECK_MESSAGE(r.err.empty(), "dcattack" << shown << " said:\n" << join_tail(r.err, 10));
    for (auto& l : r.out) MESSAGE(l);
    return r.out;
}

bool mentions(const std::vector<std::string>& out, const std::string& s) {
    return std::any_of(out.begin(), out.end(), [&](const std::string& l) { return l.find(s) != std::string::npos; });
}

// `from` says `text` to `to`: `to` shows it once, `from` sees it delivered once.
void chat_once(Net& net, const std::string& from, const std::string& to, const std::string& text,
               Loc loc = Loc::current()) {
    Proc &a = net.proc(from), &b = net.proc(to);
    std::size_t am = a.mark(), bm = b.mark();
    a.send("\\chat " + to, loc);
    a.send(text, loc);
    std::string q = a.wait_for(re(R"(^\* queued ([0-9a-f]{8}) to )" + quote(to) + "$"), 5, am, loc);
    std::string delivered = "* delivered " + q.substr(9, 8) + " to " + to;
    a.wait_for(exactly(delivered), 10, am, loc);
    b.wait_for(exactly("<" + from + "> " + text), 10, bm, loc);
    sleep_for(0.5);
    CHECK_MESSAGE(b.count(exactly("<" + from + "> " + text), bm) == 1, b.tail());
    CHECK_MESSAGE(a.count(exactly(delivered), am) == 1, a.tail());
}

// The \users lines of the users named, for comparing views before and after.
std::map<std::string, std::string> view(Proc& p, const std::vector<std::string>& names) {
    auto all = users(p);
    std::map<std::string, std::string> v;
    static const std::regex ago(R"( seen \d+s ago)");
    for (auto& n : names) v[n] = all.count(n) ? std::regex_replace(all[n], ago, " seen") : "(not listed)";
    return v;
}

std::string str(const std::map<std::string, std::string>& v) {
    std::string s;
    for (auto& [k, l] : v) s += "\n    " + l;
    return s;
}
#define CHECK_SAME_VIEW(now, before) CHECK_MESSAGE((now) == (before), "now:" << str(now) << "\nbefore:" << str(before))

// Presence lines about `user` printed since `mark`.
std::size_t presence_lines(Proc& p, const std::string& user, std::size_t mark) {
    return p.count(re(R"(^\* (online|offline) )" + quote(user) + " "), mark);
}

// An attacker who could have captured alice's packets: dcattack with alice's
// identity plays a second session of alice that declares itself to bob, says
// one line, acks what it gets and answers pings, recording every packet; then
// it goes quiet and bob finds it gone. Returns the recording.
struct Recorded {
    std::string file;
    std::string delivered;  // bob's "* delivered" line for its message to alice
};

Recorded record_alice(Net& net, Loc loc = Loc::current()) {
    Proc &a = net.proc("alice"), &b = net.proc("bob");
    std::string id = net.tmp.sub("alice.id");
    REQUIRE(run(net.tmp, {darkchat_bin(), "--data-dir", net["alice"].dir, "--export-identity", id}).status == 0);
    std::string rec = net.tmp.sub("recording");
    std::size_t bm = b.mark(), am = a.mark();
    Proc recorder("dcattack[record]", {dcattack_bin(), "record", "--target", net["bob"].addr(), "--identity", id,
                                       "--save", rec, "--text", "said once", "--listen", "4"});
    REQUIRE_MESSAGE(b.try_wait_for(exactly("<alice> said once"), 8, bm),
                    "bob:\n" << b.tail() << "dcattack:\n" << recorder.tail());
    // bob's line reaches alice's sessions, the recording one too, which acks it.
    sleep_for(1);
    b.send("\\chat alice");
    b.send("to every alice");
    std::string q = b.wait_for(re(R"(^\* queued ([0-9a-f]{8}) to alice$)"), 5, bm);
    std::string delivered = "* delivered " + q.substr(9, 8) + " to alice";
    b.wait_for(exactly(delivered), 5, bm, loc);
    a.wait_for(exactly("<bob> to every alice"), 5, am, loc);
    CHECK(recorder.expect_exit(15) == 0);
    INFO(recorder.tail() << "(at " << loc.line() << ")");
    REQUIRE(recorder.count("our chat acked 1 time(s)") == 1);
    CHECK(recorder.count(exactly("dcattack: record: chat from bob to alice: to every alice")) == 1);

    // The recording session went quiet: bob's probe finds it gone.
    std::string gone = b.wait_for(re(R"(^\* offline alice 127\.0\.0\.1:\d+ session [0-9a-f]{8} \(no answer\)$)"), 10, bm);
    CHECK(gone.find(net["alice"].addr()) == std::string::npos);
    sleep_for(0.5);
    return Recorded{rec, delivered};
}

}  // namespace

TEST_CASE("forged: a fresh key under alice's name, from another address, changes nothing bob or the server sees") {
    Net net;
    pair(net);
    Proc &a = net.proc("alice"), &b = net.proc("bob");
    auto bob_before = view(b, {"alice"});
    REQUIRE(std::regex_search(bob_before["alice"], re("^alice online .*\\| " + at(net["alice"]) + " online").rx));
    auto alice_before = view(a, {"bob"});
    std::size_t am = a.mark(), bm = b.mark();

    // Forged declareOnline (direct and passed on by a stranger), declareOffline,
    // chat and an ack, for alice's name, to bob; for bob's name, to alice; and to the server.
    auto out = attack(net, "forged", net["bob"], {"--as", "alice", "--text", "forged for bob", "--count", "300"});
    CHECK(mentions(out, "dcattack: forged: 18 packets claiming 1 name(s)"));
    attack(net, "forged", net["alice"], {"--as", "bob", "--as", "alice", "--text", "forged for alice"});
    attack(net, "forged", net[net.server_name], {"--as", "alice", "--as", "bob", "--to", "bob"});
    sleep_for(1);

    // Nothing about presence, no forged line under the real names.
    CHECK_MESSAGE(presence_lines(b, "alice", bm) == 0, b.tail());
    CHECK_MESSAGE(presence_lines(a, "bob", am) == 0, a.tail());
    CHECK(b.count(exactly("<alice> forged for bob"), bm) == 0);
    CHECK(a.count(exactly("<bob> forged for alice"), am) == 0);
    // Forged chat is either not shown or shown marked as another key's (TOFU).
    for (auto& l : b.matching("forged for bob", bm))
        CHECK_MESSAGE(l == "<alice?> forged for bob   [not alice's pinned key]", l);
    for (auto& l : a.matching("forged for alice", am))
        CHECK_MESSAGE((l == "<bob?> forged for alice   [not bob's pinned key]" ||
                       l == "<alice?> forged for alice   [not alice's pinned key]"),
                      l);
    CHECK_SAME_VIEW(view(b, {"alice"}), bob_before);
    CHECK_SAME_VIEW(view(a, {"bob"}), alice_before);
    // The server was not fooled either: a newcomer finds the real alice through it.
    CHECK(net.proc(net.server_name).running());
    net.start("carol");
    net.proc("carol").send("\\add alice");
    net.proc("carol").wait_for(exactly(presence(net["alice"], true, "declared online")), 8);
    CHECK(presence_lines(net.proc("carol"), "alice", 0) == 1);
    chat_once(net, "alice", "bob", "the real alice");
    chat_once(net, "bob", "alice", "the real bob");
}

TEST_CASE("replay: recorded declarations, chat, acks and pongs resent later change nothing") {
    Net net;
    pair(net);
    Proc &a = net.proc("alice"), &b = net.proc("bob");
    Recorded r = record_alice(net);
    auto bob_before = view(b, {"alice"});
    auto alice_before = view(a, {"alice", "bob"});
    std::size_t bm = b.mark(), am = a.mark();

    // Later: every recorded packet again, many times, from other ports and over
    // TCP, to bob; and bob's own declarations and the declarations and chat of
    // the recording session to alice.
    auto out = attack(net, "replay", net["bob"], {"--load", r.file, "--count", "20", "--delay", "1"});
    CHECK(mentions(out, "resent 20 time(s)"));
    for (auto type : {"declareOnline", "chat"})
        attack(net, "replay", net["alice"], {"--load", r.file, "--count", "20", "--only", type});
    sleep_for(1.5);

    CHECK_MESSAGE(b.count(exactly("<alice> said once")) == 1, b.tail());  // no duplicate line
    CHECK_MESSAGE(b.count(exactly(r.delivered)) == 1, b.tail());
    CHECK_MESSAGE(presence_lines(b, "alice", bm) == 0, b.tail());  // no status flip
    CHECK_MESSAGE(presence_lines(a, "bob", am) == 0, a.tail());
    CHECK_MESSAGE(presence_lines(a, "alice", am) == 0, a.tail());
    CHECK_MESSAGE(a.count(re("^<"), am) == 0, a.tail());
    CHECK_SAME_VIEW(view(b, {"alice"}), bob_before);
    CHECK_SAME_VIEW(view(a, {"alice", "bob"}), alice_before);
    chat_once(net, "bob", "alice", "after the replay");
}

// Skipped until the core voids a probe's challenge when the probe gives up:
// the recording session answered alice's pings (and acked her mirror of bob's
// line) towards bob, so alice never got those answers; delivered late, after
// alice declared that session gone ("no answer"), a pong with the old
// challenge flips it back online ("* online alice ... (answered)"). Found with
// this test; see the report of issue 3.
TEST_CASE("replay: answers withheld from alice and delivered late change nothing" * doctest::skip(true)) {
    Net net;
    pair(net);
    Proc& a = net.proc("alice");
    Recorded r = record_alice(net);
    a.wait_for(re(R"(^\* offline alice 127\.0\.0\.1:\d+ session [0-9a-f]{8} \(no answer\)$)"), 10);
    sleep_for(0.5);
    auto alice_before = view(a, {"alice", "bob"});
    std::size_t am = a.mark();
    for (auto type : {"chatAck", "pong"}) {
        CAPTURE(type);
        attack(net, "replay", net["alice"], {"--load", r.file, "--count", "5", "--only", type});
        sleep_for(1);
        CHECK_MESSAGE(presence_lines(a, "alice", am) == 0, a.tail());
        CHECK_SAME_VIEW(view(a, {"alice", "bob"}), alice_before);
    }
}

TEST_CASE("truncated, oversized, nested and wrong-version input leaves a node running and answering") {
    Net net;
    pair(net);
    Proc &a = net.proc("alice"), &b = net.proc("bob");
    auto bob_before = view(b, {"alice"});
    std::size_t am = a.mark(), bm = b.mark();

    CHECK(mentions(attack(net, "truncated", net["bob"], {"--count", "400"}), "dcattack: truncated: 400 datagrams"));
    auto big = attack(net, "oversized", net["bob"], {"--count", "40"});
    CHECK_MESSAGE(mentions(big, "of 1048577 bytes: closed"), "a frame over the 1 MiB limit was not refused");
    CHECK_MESSAGE(mentions(big, "of 4 GiB: closed"), "a frame of 4 GiB was not refused");
    attack(net, "nested", net["bob"], {"--count", "200"});
    attack(net, "version", net["bob"], {"--count", "200"});
    attack(net, "random", net["bob"], {"--count", "500"});
    // The same at the server, which everybody declares to.
    attack(net, "nested", net[net.server_name], {"--count", "100"});
    attack(net, "oversized", net[net.server_name], {"--count", "21"});
    sleep_for(0.5);

    CHECK(b.running());
    CHECK(net.proc(net.server_name).running());
    // Nothing to say about any of it (strangers' made-up users may appear in
    // \users, but the honest pair's view is unchanged).
    CHECK_MESSAGE(presence_lines(b, "alice", bm) == 0, b.tail());
    CHECK_MESSAGE(presence_lines(a, "bob", am) == 0, a.tail());
    CHECK_MESSAGE(b.count(re("^(<|! )"), bm) == 0, b.tail());
    CHECK_SAME_VIEW(view(b, {"alice"}), bob_before);
    chat_once(net, "alice", "bob", "still answering");
    // A newcomer still finds bob through the server.
    net.start("carol");
    net.proc("carol").send("\\add bob");
    net.proc("carol").wait_for(exactly(presence(net["bob"], true, "declared online")), 8);
    chat_once(net, "carol", "bob", "hello from a newcomer");
}

TEST_CASE("flood: forged and random datagrams from many identities and ports; every honest line arrives once") {
    Net net;
    pair(net);
    Proc &a = net.proc("alice"), &b = net.proc("bob");
    auto bob_before = view(b, {"alice"});
    std::size_t am = a.mark(), bm = b.mark();

    // Bounded: 5,000 datagrams a second for 8 s at bob (the benchmark goes to
    // 50,000 a second), from 300 made-up identities and 32 source ports, mixing
    // forged declarations and chat for alice's name with every malformed kind.
    Proc flood("dcattack[flood]", {dcattack_bin(), "flood", "--target", net["bob"].addr(), "--rate", "5000",
                                   "--seconds", "8", "--identities", "300", "--ports", "32", "--as", "alice"});
    sleep_for(1);  // it makes its packets first
    CHECK(flood.running());

    // Meanwhile alice and bob chat both ways.
    constexpr int kLines = 15;
    a.send("\\chat bob");
    b.send("\\chat alice");
    for (int i = 0; i < kLines; ++i) {
        a.send("a to b " + std::to_string(i));
        b.send("b to a " + std::to_string(i));
        sleep_for(0.2);
    }
    for (int i = 0; i < kLines; ++i) {
        b.wait_for(exactly("<alice> a to b " + std::to_string(i)), 30, bm);
        a.wait_for(exactly("<bob> b to a " + std::to_string(i)), 30, am);
    }
    CHECK(flood.expect_exit(30) == 0);
    INFO(flood.tail());
    CHECK(flood.count("dcattack: flood: ") == 2);  // sending, then what it sent
    CHECK(flood.count(re(R"(^dcattack: flood: \d+ datagrams \()")) == 1);

    // Every line delivered (acked) and shown exactly once.
    auto deadline = Clock::now() + secs(30);
    while ((a.count(re(R"(^\* delivered [0-9a-f]{8} to bob$)"), am) < kLines ||
            b.count(re(R"(^\* delivered [0-9a-f]{8} to alice$)"), bm) < kLines) &&
           Clock::now() < deadline)
        sleep_for(0.2);
    CHECK_MESSAGE(a.count(re(R"(^\* delivered [0-9a-f]{8} to bob$)"), am) == kLines, a.tail());
    CHECK_MESSAGE(b.count(re(R"(^\* delivered [0-9a-f]{8} to alice$)"), bm) == kLines, b.tail());
    for (int i = 0; i < kLines; ++i) {
        CHECK(b.count(exactly("<alice> a to b " + std::to_string(i)), bm) == 1);
        CHECK(a.count(exactly("<bob> b to a " + std::to_string(i)), am) == 1);
    }
    // No forged line under alice's name, no status flip, same view of alice.
    CHECK(b.count(re("^<alice> (forged|x)$"), bm) == 0);
    CHECK_MESSAGE(presence_lines(b, "alice", bm) == 0, b.tail());
    CHECK_MESSAGE(presence_lines(a, "bob", am) == 0, a.tail());
    CHECK_SAME_VIEW(view(b, {"alice"}), bob_before);
    CHECK(b.running());
}

namespace {

// Why a line of output is not plain text, or nothing when it is: strict UTF-8
// (no overlong forms, surrogates or code points above U+10FFFF) holding no C0
// control (the lines are already split at '\n'), no DEL, no C1 control and no
// bidirectional embedding, override or isolate.
std::optional<std::string> not_plain(const std::string& line) {
    const auto* s = reinterpret_cast<const unsigned char*>(line.data());
    for (std::size_t i = 0; i < line.size();) {
        std::uint32_t cp = s[i];
        std::size_t len = cp < 0x80 ? 1 : (cp & 0xe0) == 0xc0 ? 2 : (cp & 0xf0) == 0xe0 ? 3 : (cp & 0xf8) == 0xf0 ? 4 : 0;
        if (len == 0 || i + len > line.size()) return "not UTF-8 at byte " + std::to_string(i);
        if (len > 1) cp &= 0xffu >> (len + 1);
        for (std::size_t k = 1; k < len; ++k) {
            if ((s[i + k] & 0xc0) != 0x80) return "not UTF-8 at byte " + std::to_string(i);
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        static constexpr std::uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < least[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return "not UTF-8 at byte " + std::to_string(i);
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) {
            char hex[16];
            std::snprintf(hex, sizeof hex, "U+%04X", cp);
            return std::string("control ") + hex + " at byte " + std::to_string(i);
        }
        i += len;
    }
    return std::nullopt;
}

// A line as this test shows it in a failure: every byte outside printable
// ASCII as \xHH, so that the failure does not drive the terminal either.
std::string bytes_shown(const std::string& line) {
    std::string out;
    for (unsigned char c : line) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "\\x%02x", c);
        out += c >= 0x20 && c < 0x7f ? std::string(1, static_cast<char>(c)) : hex;
    }
    return out;
}

}  // namespace

TEST_CASE("escapes: control characters, escape sequences and invalid UTF-8 in a peer's chat are shown escaped") {
    Net net;
    net.start("bob");
    Proc& b = net.proc("bob");
    // mallory, a made-up user, signs and sends every hostile text of dcattack
    // (one chat each, resent until acked), and one chat under a hostile name.
    auto out = attack(net, "escapes", net["bob"], {"--as", "mallory", "--listen", "15"}, 30);
    CHECK(mentions(out, "dcattack: escapes: 14 chats"));
    CHECK(mentions(out, " as mallory, 14 acked"));

    // Each is shown once, escaped: \xHH, \n \r \t, \uHHHH, U+FFFD, a doubled backslash.
    const std::string fffd = "\xef\xbf\xbd";
    const std::vector<std::string> shown = {
        R"(nul: before\x00after)",
        R"(clear: \x1b[2J\x1b[Hthe screen was cleared)",
        R"(title: \x1b]0;pwned\x07)",
        R"(color: \x1b[31mred\x1b[0m)",
        R"(bell: \x07\x07\x07)",
        R"(cr: a line\r<alice> a forged line over it)",
        R"(lf: one line\n<alice> a forged second line)",
        R"(backspace: secret\x08\x08\x08\x08\x08\x08public)",
        R"(del: x\x7fy)",
        R"(c1: \u009b2J and \u009d0;pwned\u009c)",
        "csi8: " + fffd + "2J",
        R"(bidi: invoice_\u202efdp.exe and \u2066isolated\u2069)",
        "utf8: " + fffd + fffd + " " + fffd + fffd + fffd + " " + fffd + fffd + fffd + " " + fffd + fffd + fffd + fffd +
            " " + fffd + " " + fffd + " cut " + fffd,
        R"(backslash: \\x1b[2J typed, not an escape)",
    };
    // All were acked, so all were shown; bob's answer to \users comes after them.
    CHECK(users(b).count("mallory") == 1);
    for (auto& text : shown) CHECK_MESSAGE(b.count(exactly("<mallory> " + text)) == 1, text);
    CHECK(b.count(re("^<alice>")) == 0);  // "<alice>" only inside mallory's lines, never a line of its own
    CHECK(b.count("from a hostile name") == 0);  // names are checked at the wire

    // Nothing on bob's output (standard output and error) is control or not UTF-8.
    for (auto& line : b.lines())
        if (auto why = not_plain(line)) FAIL_CHECK(*why << " in the line: " << bytes_shown(line));
    CHECK(b.running());
}

TEST_CASE("dcattack refuses targets off loopback and unbounded runs: one line, exit status 1") {
    TempDir tmp;
    struct Case {
        std::vector<std::string> args;
        std::string says;
    };
    std::vector<Case> cases = {
        {{"random", "--target", "10.1.2.3:7300"}, "refusing target 10.1.2.3:7300"},
        {{"random", "--target", "192.168.0.1:7300", "--netns"}, "--netns"},  // the test runs in the host's namespace
        {{"flood", "--target", "127.0.0.1:7300", "--seconds", "61"}, "--seconds"},
        {{"flood", "--target", "127.0.0.1:7300", "--rate", "2000000"}, "--rate"},
        {{"random", "--target", "127.0.0.1:7300", "--count", "1000001"}, "--count"},
        {{"flood", "--target", "127.0.0.1:7300", "--claim-peer", "10.0.0.1:1"}, "refusing target 10.0.0.1:1"},
        {{"nonsense", "--target", "127.0.0.1:7300"}, "unknown mode nonsense"},
    };
    for (auto& c : cases) {
        std::vector<std::string> argv = {dcattack_bin()};
        argv.insert(argv.end(), c.args.begin(), c.args.end());
        CAPTURE(c.says);
        auto r = run(tmp, argv);
        CHECK(r.status == 1);
        CHECK(r.out.empty());
        REQUIRE(r.err.size() == 1);
        CHECK(r.err[0].rfind("dcattack: ", 0) == 0);
        CHECK(r.err[0].find(c.says) != std::string::npos);
    }
}
