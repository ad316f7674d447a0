// Stored before shown, shown once and in order, between real processes: a
// receiver whose disk is full shows and acknowledges nothing and nobody goes
// offline; long messages (TCP) and short ones (UDP) from one author are shown
// in the order written; a burst across kill -9 of the receiver arrives whole,
// once and in order.
#include "chat_pair.hpp"

#include <set>

using namespace dc::it;

TEST_CASE("a receiver whose disk is full shows and acks nothing, nobody goes offline; with room again all arrive once") {
    Net net;
    Tmpfs fs(net.tmp.sub("mnt"), "2M");
    if (!fs.ok()) {
        MESSAGE("skipped: mounting a tmpfs needs root");
        return;
    }
    linked_pair(net, net.tmp.sub("mnt/bob"));
    Proc &a = net.proc("alice"), &b = net.proc("bob");
    std::size_t am = a.mark(), bm = b.mark();
    fs.fill("filler");
    std::vector<std::string> written;
    for (int i = 0; i < 20; ++i) {
        written.push_back("while full " + std::to_string(i));
        a.send(written.back());
    }
    b.wait_for(re("^! cannot save state \\(.*disk full\\)"), 10, bm);
    // Several rounds of probes and retries with the disk still full.
    sleep_for(6);
    CHECK_MESSAGE(b.count("<alice> ", bm) == 0, b.tail());
    CHECK_MESSAGE(a.count("* delivered ", am) == 0, a.tail());
    CHECK_MESSAGE(a.count(re("^\\* offline "), am) == 0, a.tail());
    CHECK_MESSAGE(b.count(re("^\\* offline "), bm) == 0, b.tail());

    SUBCASE("room again while bob runs") {
        std::filesystem::remove(net.tmp.sub("mnt/filler"));
        b.wait_for(exactly("* state saved again"), 40, bm);
    }
    SUBCASE("bob killed while full, room again, bob restarted") {
        net.kill9("bob");
        std::filesystem::remove(net.tmp.sub("mnt/filler"));
        net.start("bob", {.server = false});
    }
    // Resends back off to at most 30 s.
    wait_count(net, written.size(), 45);
    wait_lines(a, delivered, written.size(), 10, am);
    sleep_for(1);
    CHECK(from_alice(net) == written);
    CHECK(a.count("* delivered ", am) == written.size());
    CHECK_MESSAGE(a.count(re("^\\* offline "), am) == 0, a.tail());
}

TEST_CASE("messages from one author are shown in the order written, long ones over TCP and short ones over UDP") {
    Net net;
    linked_pair(net);
    Proc& a = net.proc("alice");
    std::size_t am = a.mark();
    std::vector<std::string> written;
    // Ten long messages (too big for one datagram) then ten short ones, written at once.
    for (int i = 0; i < 10; ++i) written.push_back("long " + std::to_string(i) + " " + std::string(3000, 'x'));
    for (int i = 0; i < 10; ++i) written.push_back("short " + std::to_string(i));
    for (auto& w : written) a.send(w);
    wait_lines(a, delivered, written.size(), 20, am);
    wait_count(net, written.size(), 5);
    CHECK(from_alice(net) == written);
}

TEST_CASE("a burst across two kill -9 of the receiver arrives whole, once each and in order") {
    Net net;
    linked_pair(net);
    Proc& a = net.proc("alice");
    std::size_t am = a.mark();
    std::vector<std::string> written;
    // 3,000 lines in chunks of 500, never more than the outbox holds for one
    // user waiting; bob is killed (and started again) right after the third
    // and the fifth chunk were written, with hundreds of lines on their way.
    for (int chunk = 0; chunk < 6; ++chunk) {
        wait_lines(a, delivered, written.size() > 400 ? written.size() - 400 : 0, 60, am);
        for (int i = 0; i < 500; ++i) {
            written.push_back("line " + std::to_string(written.size()));
            a.send(written.back());
        }
        if (chunk == 2 || chunk == 4) {
            net.kill9("bob");
            net.start("bob", {.server = false});
        }
    }
    wait_lines(a, delivered, written.size(), 90, am);
    CHECK(a.count(delivered, am) == written.size());
    CHECK_MESSAGE(a.count(re("^! "), am) == 0, a.tail());
    wait_count(net, written.size(), 5);
    net.quit("bob");
    // Stored once each: bob's history holds every line once.
    auto stored = history_from(net["bob"].dir + "/darkchat.db", "alice");
    CHECK(stored.size() == written.size());
    CHECK(std::set<std::string>(stored.begin(), stored.end()) == std::set<std::string>(written.begin(), written.end()));
    // Shown once each and in order. A kill -9 that lands in the instant after a
    // line was stored and before it was written to the terminal leaves it in
    // history unshown (darkchat(1), MESSAGES ARE NEVER LOST); none is shown twice
    // or out of order, and all but those few are shown.
    auto got = from_alice(net);
    std::size_t at = 0, gaps = 0;
    bool in_order = true;
    for (auto& g : got) {
        std::size_t from = at;
        while (at < written.size() && written[at] != g) ++at;
        if (at == written.size()) {
            in_order = false;
            std::string around;
            for (std::size_t i = 0; i < got.size(); ++i)
                if (got[i] == g)
                    for (std::size_t j = i >= 3 ? i - 3 : 0; j < got.size() && j < i + 3; ++j) around += " [" + got[j] + "]";
            MESSAGE("out of order or twice: " << g << " near" << around);
            break;
        }
        gaps += at > from;
        ++at;
    }
    gaps += at < written.size();
    CHECK_MESSAGE(in_order, "a line shown twice or out of order");
    CHECK_MESSAGE(gaps <= 2, "unshown lines other than at the two kills");  // at most one run per kill
    MESSAGE("shown " << got.size() << " of " << written.size() << " lines");
}

TEST_CASE("a database that goes corrupt at run time stops the node with one line; the message waits with its sender") {
    Net net;
    linked_pair(net);
    Proc &a = net.proc("alice"), &b = net.proc("bob");
    std::size_t am = a.mark();
    a.send("before");
    a.wait_for(delivered, 5, am);
    b.wait_for(exactly("<alice> before"));
    // Every page but the first overwritten; a write through a second connection
    // makes bob's next transaction read the pages again from the file.
    std::string db = net["bob"].dir + "/darkchat.db";
    {
        sqlite3* c = nullptr;
        REQUIRE(sqlite3_open(db.c_str(), &c) == SQLITE_OK);
        REQUIRE(sqlite3_exec(c, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr) == SQLITE_OK);
        sqlite3_close(c);
    }
    auto size = std::filesystem::file_size(db);
    REQUIRE(size >= 8 * 4096);
    {
        std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
        std::string junk(4096, '\0');
        for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 37 + 11) & 0xff);
        for (std::size_t page = 1; page < size / 4096; ++page) {
            f.seekp(static_cast<std::streamoff>(page * 4096));
            f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
        }
    }
    {
        sqlite3* c = nullptr;
        REQUIRE(sqlite3_open(db.c_str(), &c) == SQLITE_OK);
        sqlite3_exec(c, "PRAGMA user_version = 4", nullptr, nullptr, nullptr);
        sqlite3_close(c);
    }
    std::size_t bm = b.mark();
    am = a.mark();
    a.send("after");
    b.wait_for(re("^! cannot save state \\(.*" + quote(db) + ".*corrupt\\): darkchat stops"), 10, bm);
    CHECK(b.expect_exit(10) == 1);
    CHECK(b.count(re("^! "), bm) == 1);
    CHECK(b.count("<alice> after", bm) == 0);
    a.wait_for(re("^\\* offline bob .*\\(declared offline\\)$"), 10, am);
    CHECK(a.count(delivered, am) == 0);
}
