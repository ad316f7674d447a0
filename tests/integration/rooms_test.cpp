// Directory and relays with real processes on 127.0.0.1 (issue 5): two users
// matched through a directory onto one of two relays and chatting both ways;
// the room's relay killed with kill -9 in the middle of a stream, the chat
// going on on the other relay with every line shown once and in order; the
// directory killed, the chat going on; a member killed with lines not yet acked
// sending them after its restart; declined and unknown-user requests
// showing their stages; rooms without a directory (client-side round-robin);
// wrong flags refused with one line.
#include "rooms.hpp"

#include <set>

using namespace dc::it;

namespace {

// `from` asks for a chat with `to_name`, the other accepts; both see the room.
// A delay vector reaches the directory up to a second or two after the relays
// are measured: a SERVER_ERR ("no relay measured by all") then is retried.
Room match(Proc& from, Proc& to, const std::string& from_name, const std::string& to_name, Loc loc = Loc::current()) {
    std::size_t fm = from.mark(), tm = to.mark();
    for (int attempt = 0;; ++attempt) {
        fm = from.mark();
        tm = to.mark();
        from.send("\\request " + to_name, loc);
        from.wait_for(exactly("* request " + to_name + ": REQ_SENT"), 5, fm, loc);
        CHECK(from.count(exactly("* request " + to_name + ": ACK_CONN"), fm) >= 1);
        to.wait_for(exactly("* " + from_name + " asks for a chat: \\accept " + from_name + " or \\decline " + from_name),
                    5, tm, loc);
        to.send("\\accept " + from_name, loc);
        auto i = from.wait_index(re("^\\* request " + quote(to_name) + ": (REQ_ACCEPTED|SERVER_ERR)"), 5, fm);
        REQUIRE_MESSAGE(i.has_value(), "no REQ_ACCEPTED for " << to_name << ":\n" << from.tail());
        if (from.line(*i).find("REQ_ACCEPTED") != std::string::npos) break;
        REQUIRE_MESSAGE(attempt < 4, "SERVER_ERR five times:\n" << from.tail());
        sleep_for(1);
    }
    Room a = parse_room(from.wait_for(re(kRoomLine), 5, fm, loc));
    Room b = parse_room(to.wait_for(re(kRoomLine), 5, tm, loc));
    CHECK(a.id == b.id);
    CHECK(a.relay == b.relay);
    // The first room becomes the current one of a user with no chat partner.
    from.wait_for(exactly("* lines now go to room " + a.id + " (\\chat <user> for a direct chat)"), 5, fm, loc);
    to.wait_for(exactly("* lines now go to room " + a.id + " (\\chat <user> for a direct chat)"), 5, tm, loc);
    return a;
}

// The numbers of the lines "[ID] <author> line N" in p's output, in order.
std::vector<int> numbered(const Proc& p, const std::string& id, const std::string& author, std::size_t from = 0) {
    std::vector<int> out;
    static const std::regex num(R"(line (\d+)$)");
    for (auto& l : p.matching(re("^\\[" + id + "\\] <" + quote(author) + "> line \\d+$"), from)) {
        std::smatch m;
        if (std::regex_search(l, m, num)) out.push_back(std::stoi(m[1]));
    }
    return out;
}

}  // namespace

TEST_CASE("--strategy cpu: relays report their CPU use and the directory places the chat by it") {
    Rooms r(2, {"--strategy", "cpu"});
    r.net.proc("dir").wait_for(re(R"(strategy cpu)"), 5);
    Proc &a = r.net.proc("alice"), &b = r.net.proc("bob");
    Room room = match(a, b, "alice", "bob");
    // The relays measured themselves (a second after start) and said so in their heartbeats.
    r.net.proc("dir").wait_for(re("\\* chat " + room.id + " on relay " + quote(room.relay) +
                                  R"( with alice, bob \(relay cpu \d+\.\d%, machine \d+\.\d% of \d+ cores\)$)"),
                               5);
    std::size_t bm = b.mark();
    a.send("hello bob");
    b.wait_for(exactly("[" + room.id + "] <alice> hello bob"), 5, bm);
}

TEST_CASE("two users matched through a directory with two relays chat both ways") {
    Rooms r(2);
    Proc &a = r.net.proc("alice"), &b = r.net.proc("bob");
    Room room = match(a, b, "alice", "bob");
    CHECK_FALSE(r.relay_at(room.relay).empty());
    r.net.proc("dir").wait_for(re("chat " + room.id), 5);

    std::size_t am = a.mark(), bm = b.mark();
    a.send("hello bob");
    b.wait_for(exactly("[" + room.id + "] <alice> hello bob"), 5, bm);
    b.send("hello alice");
    a.wait_for(exactly("[" + room.id + "] <bob> hello alice"), 5, am);
    a.wait_for(exactly("* delivered to room " + room.id + ": hello bob"), 5, am);

    // \rooms and \relays
    std::size_t m = a.mark();
    a.send("\\rooms");
    a.wait_for(re("^  " + room.id + " on relay " + quote(room.relay) + " epoch \\d+ with bob \\(joined.*\\(current\\)$"), 5, m);
    a.wait_for(exactly("* 1 room"), 5, m);

    // Back to a direct chat and into the room again by an id prefix.
    m = a.mark();
    a.send("\\chat bob");
    a.send("\\room " + room.id.substr(0, 4));
    a.wait_for(re("^\\* lines now go to room " + room.id + " on relay "), 5, m);
    a.send("\\room ff" + std::string(30, 'f'));
    a.wait_for(re("^! no room f+ \\(\\\\rooms lists them\\)$"), 5, m);
    a.send("again");
    b.wait_for(exactly("[" + room.id + "] <alice> again"), 5, bm);

    sleep_for(1.5);  // resends, if any were wrong, would show by now
    CHECK(b.count(exactly("[" + room.id + "] <alice> hello bob"), bm) == 1);
    CHECK(a.count(exactly("[" + room.id + "] <bob> hello alice"), am) == 1);

    // \leave: the other member sees it.
    m = a.mark();
    a.send("\\leave");
    a.wait_for(exactly("* left room " + room.id), 5, m);
    b.wait_for(exactly("* room " + room.id + ": alice left"), 5, bm);
}

TEST_CASE("kill -9 of the room's relay mid-stream: the chat moves, every line shown once and in order") {
    Rooms r(2);
    Proc &a = r.net.proc("alice"), &b = r.net.proc("bob");
    Room room = match(a, b, "alice", "bob");
    std::string victim = r.relay_at(room.relay);
    REQUIRE_FALSE(victim.empty());
    std::string other = victim == "R1" ? "R2" : "R1";

    constexpr int kLines = 80, kKillAt = 25;
    std::size_t am = a.mark(), bm = b.mark();
    std::atomic<int> sent{0};
    std::jthread sender([&] {  // joined on every way out
        for (int i = 1; i <= kLines; ++i) {
            a.send("line " + std::to_string(i));
            sent = i;
            sleep_for(0.04);
        }
    });
    while (sent < kKillAt) sleep_for(0.005);
    r.net.proc(victim).kill(SIGKILL);
    auto killed = Clock::now();

    std::string moved = "* room " + room.id + " moved to relay " + at(r.net[other]) + " (relay died)";
    auto since_kill = [&] { return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed).count(); };
    auto mi = b.wait_index(exactly(moved), 10, bm);
    REQUIRE_MESSAGE(mi.has_value(), "bob: no \"" << moved << "\":\n" << b.tail());
    auto moved_ms = since_kill();
    // The first line shown by bob after the move came through the new relay.
    auto first = b.wait_index(re("^\\[" + room.id + "\\] <alice> line \\d+$"), 20, *mi);
    if (first) {
        MESSAGE("kill -9 of the relay: bob sees the move after about " << moved_ms << " ms, the first line through "
                << "the new relay after about " << since_kill() << " ms (" << b.line(*first) << ")");
    }
    a.wait_for(exactly(moved), 5, am);
    sender.join();
    r.net.kill9(victim);  // reaped

    b.wait_for(exactly("[" + room.id + "] <alice> line " + std::to_string(kLines)), 20, bm);
    // Every line has been acked by now or soon: wait for the last echo, then for stray resends.
    a.wait_for(exactly("* delivered to room " + room.id + ": line " + std::to_string(kLines)), 20, am);
    sleep_for(2);
    std::vector<int> want(kLines);
    for (int i = 0; i < kLines; ++i) want[i] = i + 1;
    CHECK(numbered(b, room.id, "alice", bm) == want);
    CHECK(a.count(re("^\\* delivered to room " + room.id + ": line \\d+$"), am) == static_cast<std::size_t>(kLines));

    // And back the other way on the new relay.
    b.send("still here");
    a.wait_for(exactly("[" + room.id + "] <bob> still here"), 5, am);
}

TEST_CASE("kill -9 of a member with lines nobody acked: after its restart they arrive, each once and in order") {
    Rooms r(2);
    Proc &a = r.net.proc("alice"), &b = r.net.proc("bob");
    Room room = match(a, b, "alice", "bob");
    std::size_t bm = b.mark();
    std::size_t am = a.mark();
    a.send("line 1");
    b.wait_for(exactly("[" + room.id + "] <alice> line 1"), 5, bm);
    a.wait_for(exactly("* delivered to room " + room.id + ": line 1"), 5, am);
    // bob goes away: alice's next lines wait for his acks; then alice is killed too.
    r.net.kill9("bob");
    am = a.mark();
    for (int i = 2; i <= 6; ++i) a.send("line " + std::to_string(i));
    a.send("\\rooms");
    a.wait_for(re("^  " + room.id + " on relay .* 5 unacked"), 5, am);
    r.net.kill9("alice");

    // Both come back on their data directories (on new ports).
    Node& bn = r.net.start("bob", Net::Opts{.extra = {"--dir", at(r.net["dir"])}});
    Node& an = r.net.start("alice", Net::Opts{.extra = {"--dir", at(r.net["dir"])}});
    Proc &a2 = *an.proc, &b2 = *bn.proc;
    a2.wait_for(exactly("* room " + room.id + ": 5 line(s) from before not yet acked by everyone, sending again"), 10);
    a2.wait_for(exactly("* delivered to room " + room.id + ": line 6"), 20);
    b2.wait_for(exactly("[" + room.id + "] <alice> line 6"), 5);
    sleep_for(2);  // stray resends would show now
    CHECK(numbered(b2, room.id, "alice") == std::vector<int>{2, 3, 4, 5, 6});
    CHECK(a2.count(re("^\\* delivered to room " + room.id + ": line \\d+$")) == 5);
    b2.send("\\room " + room.id);
    b2.send("welcome back");
    a2.wait_for(exactly("[" + room.id + "] <bob> welcome back"), 10);
}

TEST_CASE("the directory killed: the chat goes on; users and relays register again when it returns") {
    Rooms r(2);
    Proc &a = r.net.proc("alice"), &b = r.net.proc("bob");
    Room room = match(a, b, "alice", "bob");
    std::uint16_t dir_port = r.net["dir"].port();
    r.net.kill9("dir");

    std::size_t am = a.mark(), bm = b.mark();
    for (int i = 1; i <= 5; ++i) a.send("line " + std::to_string(i));
    b.wait_for(exactly("[" + room.id + "] <alice> line 5"), 5, bm);
    b.send("no directory needed");
    a.wait_for(exactly("[" + room.id + "] <bob> no directory needed"), 5, am);
    a.wait_for(exactly("* directory 127.0.0.1:" + std::to_string(dir_port) + " lost (rooms go on on their relays)"), 10,
               am);
    b.send("after the loss");
    a.wait_for(exactly("[" + room.id + "] <bob> after the loss"), 5, am);
    CHECK(numbered(b, room.id, "alice", bm) == std::vector<int>{1, 2, 3, 4, 5});

    // Peer-to-peer chat does not need the directory either: alice finds bob with
    // \ping, links him and chats with him directly while the directory is away.
    a.send("\\ping 127.0.0.1 " + std::to_string(r.net["bob"].port()));
    a.wait_for(exactly("* ping: bob answered from " + r.net["bob"].addr()), 5, am);
    a.send("\\add bob");
    a.wait_for(exactly("* linked bob"), 5, am);
    a.send("\\chat bob");
    a.send("peer to peer, no directory");
    std::string q = a.wait_for(re(R"(^\* queued ([0-9a-f]{8}) to bob$)"), 5, am);
    a.wait_for(exactly("* delivered " + q.substr(9, 8) + " to bob"), 10, am);
    b.wait_for(exactly("<alice> peer to peer, no directory"), 10, bm);

    // The directory comes back on its port (a new process knowing nothing): everyone
    // registers again, and it takes the chat back from the members' tickets.
    std::size_t m = a.mark();
    Node& d = r.net.start_role("dir", "directory", {"-p", std::to_string(dir_port)});
    CHECK(d.port() == dir_port);
    a.wait_for(exactly("* directory 127.0.0.1:" + std::to_string(dir_port) + " answers"), 10, m);
    d.proc->wait_for(re("relay .*up"), 10);
    d.proc->wait_for(re("chat " + room.id + " taken back from (alice|bob)'s ticket"), 10);
    a.send("\\room " + room.id);
    a.wait_for(re("^\\* lines now go to room " + room.id), 5, m);
    a.send("after the return");
    b.wait_for(exactly("[" + room.id + "] <alice> after the return"), 5, bm);
}

TEST_CASE("a room of three: one request to two users, each line reaches both others once") {
    Rooms r(2, {}, {"alice", "bob", "carol"});
    Proc &a = r.net.proc("alice"), &b = r.net.proc("bob"), &c = r.net.proc("carol");
    std::size_t am = 0, bm = 0, cm = 0;
    request_of_three(a, b, c, am, bm, cm);
    c.send("\\accept alice");
    a.wait_for(exactly("* request carol: REQ_ACCEPTED"), 5, am);
    Room ra = parse_room(a.wait_for(re(kRoomLine), 5, am));
    Room rc = parse_room(c.wait_for(re(kRoomLine), 5, cm));
    CHECK(ra.id == rc.id);
    c.wait_for(exactly("* lines now go to room " + ra.id + " (\\chat <user> for a direct chat)"), 5, cm);
    b.wait_for(exactly("* lines now go to room " + ra.id + " (\\chat <user> for a direct chat)"), 5, bm);
    sleep_for(1);

    a.send("from alice");
    b.send("from bob");
    c.send("from carol");
    for (auto* p : {&b, &c}) p->wait_for(exactly("[" + ra.id + "] <alice> from alice"), 5, p == &b ? bm : cm);
    for (auto* p : {&a, &c}) p->wait_for(exactly("[" + ra.id + "] <bob> from bob"), 5, p == &a ? am : cm);
    for (auto* p : {&a, &b}) p->wait_for(exactly("[" + ra.id + "] <carol> from carol"), 5, p == &a ? am : bm);
    a.wait_for(exactly("* delivered to room " + ra.id + ": from alice"), 5, am);
    sleep_for(1.5);
    CHECK(b.count(exactly("[" + ra.id + "] <alice> from alice"), bm) == 1);
    CHECK(c.count(exactly("[" + ra.id + "] <alice> from alice"), cm) == 1);
    CHECK(a.count(re("^\\[" + ra.id + "\\] <alice>"), am) == 0);  // our own lines are echoed as delivered
}

TEST_CASE("a declined request and a request for an unknown user show their stages") {
    Rooms r(1);
    Proc &a = r.net.proc("alice"), &b = r.net.proc("bob");

    SUBCASE("unknown user") {
        std::size_t m = a.mark();
        a.send("\\request nobody");
        // The directory answers at once, so ACK_CONN may be folded into the final stage.
        a.wait_for(exactly("* request nobody: USER_NOT_FOUND"), 5, m);
        CHECK(a.count(re("^\\* request nobody: (REQ_SENT|AWAITING_REQ|REQ_ACCEPTED)"), m) == 0);
        sleep_for(0.5);
        CHECK(a.count(re("^\\* room "), m) == 0);
    }
    SUBCASE("declined") {
        std::size_t am = a.mark(), bm = b.mark();
        a.send("\\request bob");
        a.wait_for(exactly("* request bob: ACK_CONN"), 5, am);
        a.wait_for(exactly("* request bob: REQ_SENT"), 5, am);
        b.wait_for(exactly("* alice asks for a chat: \\accept alice or \\decline alice"), 5, bm);
        b.send("\\decline");  // the only open request
        a.wait_for(exactly("* request bob: DECLINED"), 5, am);
        sleep_for(0.5);
        CHECK(a.count(re("^\\* room "), am) == 0);
        CHECK(b.count(re("^\\* room "), bm) == 0);
        std::size_t m = b.mark();
        b.send("\\accept alice");  // nothing open any more
        b.wait_for(re("^! "), 5, m);
    }
    SUBCASE("macros that need a room, without one") {
        std::size_t m = a.mark();
        a.send("\\leave");
        a.wait_for(exactly("! no rooms yet: \\request <user> asks for one"), 5, m);
        a.send("\\room zz");
        a.wait_for(exactly("! not a room id: zz (\\rooms lists them)"), 5, m);
        a.send("\\request");
        a.wait_for(exactly("! usage: \\request <username> [<username>...]"), 5, m);
    }
}

TEST_CASE("no directory: client-side round-robin over --relays, tickets signed by the inviter") {
    Net net;
    net.start_server("S");
    net.start_role("R1", "relay");
    net.start_role("R2", "relay");
    std::string relays = at(net["R1"]) + "," + at(net["R2"]);
    for (auto u : {"alice", "bob"}) net.start(u, Net::Opts{.extra = {"--relays", relays}});
    Proc &a = net.proc("alice"), &b = net.proc("bob");
    // alice finds bob through the super-client. Without a directory the invite
    // goes to where alice knows bob to be: she must have found him first (bob can
    // hear of her link, through the server, before she has his address).
    a.send("\\add bob");
    b.wait_for(exactly("* alice linked you"), 5);
    a.wait_for(re("^\\* online bob "), 5);
    Rooms::wait_relays(a, 2);

    std::size_t am = a.mark(), bm = b.mark();
    a.send("\\request bob");
    b.wait_for(exactly("* alice asks for a chat: \\accept alice or \\decline alice"), 10, bm);
    b.send("\\accept alice");
    a.wait_for(exactly("* request bob: REQ_ACCEPTED"), 5, am);
    Room ra = parse_room(a.wait_for(re(kRoomLine), 5, am));
    Room rb = parse_room(b.wait_for(re(kRoomLine), 5, bm));
    CHECK(ra.id == rb.id);
    CHECK((ra.relay == at(net["R1"]) || ra.relay == at(net["R2"])));
    a.send("over a relay without a directory");
    b.wait_for(exactly("[" + ra.id + "] <alice> over a relay without a directory"), 5, bm);
}

TEST_CASE("wrong flags for the directory and relays: one clear line, exit status 1") {
    TempDir tmp;
    struct Case {
        std::vector<std::string> argv;
        std::string says;
    };
    std::string dc = darkchat_bin(), dcd = darkchatd_bin();
    std::vector<Case> cases = {
        {{dc, "-u", "alice", "--directory"}, "--directory is a mode of darkchatd"},
        {{dc, "-u", "alice", "--relay"}, "--relay is a mode of darkchatd"},
        {{dc, "-u", "alice", "--strategy", "random"}, "--strategy is an option of darkchatd --directory"},
        {{dc, "-u", "alice", "--dir", "127.0.0.1", "--relays", "127.0.0.1:7401"}, "--dir and --relays exclude each other"},
        {{dc, "-u", "alice", "--dir", "127.0.0.1:0"}, "--dir: '0' is not a port number from 1 to 65535"},
        {{dc, "-u", "alice", "--relays", "127.0.0.1:7401,,127.0.0.1:7402"}, "--relays: empty entry"},
        {{dcd, "--directory", "--relay"}, "--directory and --relay exclude each other"},
        {{dcd, "--directory", "-s"}, "--directory cannot be combined with -s"},
        {{dcd, "--directory", "--strategy", "fastest"}, "--strategy: unknown strategy 'fastest'"},
        {{dcd, "--directory", "--strategy", "client-round-robin"}, "--strategy client-round-robin means no directory"},
        {{dcd, "--directory", "--relay-timeout", "100"}, "--relay-timeout needs milliseconds from 300"},
        {{dcd, "--directory", "--pass-interval", "soon"}, "--pass-interval needs milliseconds"},
        {{dcd, "--pass-interval", "500"}, "--pass-interval needs --directory"},
        {{dcd, "--relay", "--max-rooms", "0"}, "--max-rooms needs a number of rooms from 1 to 1000000, not '0'"},
        {{dcd, "--directory", "--max-rooms", "10"}, "--max-rooms is an option of darkchatd --relay"},
        {{dcd, "--relay", "--relays", "127.0.0.1:7401"}, "--relays is an option of a user's node"},
        {{dcd, "-s", "--dir", "127.0.0.1"}, "a super-client (-s) has no rooms"},
        {{dcd, "-u", "x", "--dir", "127.0.0.1", "--relays", "127.0.0.1:7401"}, "--dir and --relays exclude each other"},
    };
    for (auto& c : cases) {
        auto argv = c.argv;
        argv.insert(argv.end(), {"--data-dir", tmp.sub("never-made")});
        auto res = run(tmp, argv);
        INFO(c.says);
        CHECK(res.status == 1);
        REQUIRE(res.err.size() == 1);
        CHECK(res.err[0].find(c.says) != std::string::npos);
        CHECK(res.out.empty());
    }
    CHECK_FALSE(std::filesystem::exists(tmp.sub("never-made")));
}
