// The SQLite store: creation and permissions, WAL, migrations, round trips of
// every StoreOp, atomic batches, history queries, and durability across a
// killed process; the migration from schema 1 and sealed identities.
#include "support/mem_store.hpp"
#include "darkchat/store.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace dc;
using dc::store::Store;

namespace {

// A directory under /tmp, removed with its contents at the end of the test.
struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/darkchat-store-test-XXXXXX";
        char* p = ::mkdtemp(tmpl);
        REQUIRE(p != nullptr);
        path = p;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return path + "/" + name; }
};

std::unique_ptr<Store> open_ok(const std::string& path) {
    auto s = Store::open(path);
    REQUIRE_MESSAGE(s.ok(), (s.ok() ? std::string() : s.error()));
    return std::move(s).value();
}

void apply_ok(Store& s, const std::vector<StoreOp>& ops) {
    auto r = s.apply(ops);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error()));
}

Snapshot snapshot_ok(Store& s, std::size_t max_seen = 100000) {
    auto r = s.load_snapshot(max_seen);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error()));
    return std::move(r).value();
}

std::vector<HistoryRecord> history_ok(Store& s, const std::string& peer, std::size_t limit) {
    auto r = s.history(peer, limit);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? std::string() : r.error()));
    return std::move(r).value();
}

// Bytes that include zeros, different for each seed.
template <std::size_t N>
std::array<std::uint8_t, N> pattern(std::uint8_t seed) {
    std::array<std::uint8_t, N> a{};
    for (std::size_t i = 0; i < N; ++i) a[i] = i % 3 == 0 ? 0 : static_cast<std::uint8_t>(seed + i);
    return a;
}

MessageId msg_id(std::uint8_t n) {
    MessageId id{};
    id[0] = n;
    id[15] = static_cast<std::uint8_t>(0xff - n);
    return id;
}

Addr ipv6_addr() {  // [2001:db8::1]:443
    Addr a;
    a.family = 6;
    a.ip = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    a.port = 443;
    return a;
}

Addr ipv4_addr() {  // 10.0.0.7:17771
    Addr a;
    a.family = 4;
    a.ip[0] = 10;
    a.ip[3] = 7;
    a.port = 17771;
    return a;
}

UserRecord user(const std::string& name, std::uint8_t seed, bool contact, TimeMs first_seen) {
    UserRecord u;
    u.name = name;
    u.key = pattern<32>(seed);
    u.contact = contact;
    u.first_seen = first_seen;
    return u;
}

SessionRecord session(const std::string& user_name, std::uint8_t seed, Addr addr) {
    SessionRecord r;
    r.user = user_name;
    r.session = pattern<8>(seed);
    r.decl.body = {0x00, seed, 0x00, 0x00, 0xff, 0x00};
    r.decl.sig = pattern<64>(static_cast<std::uint8_t>(seed + 1));
    r.seq = 0x8000000000000001ULL + seed;  // high bit set: must survive SQLite's signed integers
    r.addr = addr;
    r.online = true;
    r.last_seen = 1'700'000'000'123 + seed;
    return r;
}

OutboxRecord outbox(std::uint8_t n, const std::string& target, TimeMs queued) {
    OutboxRecord e;
    e.id = msg_id(n);
    e.target = target;
    e.msg.body = {n, 0x00, 0x00, 0x01, 0x00};
    e.msg.sig = pattern<64>(n);
    e.queued = queued;
    return e;
}

HistoryRecord message(std::uint8_t n, const std::string& from, const std::string& to, TimeMs stored) {
    HistoryRecord h;
    h.id = msg_id(n);
    h.from = from;
    h.to = to;
    h.sent = stored - 5;
    h.stored = stored;
    h.text = "message " + std::to_string(n);
    return h;
}

void check_user(const UserRecord& got, const UserRecord& want) {
    CHECK(got.name == want.name);
    CHECK(got.key == want.key);
    CHECK(got.contact == want.contact);
    CHECK(got.first_seen == want.first_seen);
}

void check_session(const SessionRecord& got, const SessionRecord& want) {
    CHECK(got.user == want.user);
    CHECK(got.session == want.session);
    CHECK(got.decl.body == want.decl.body);
    CHECK(got.decl.sig == want.decl.sig);
    CHECK(got.seq == want.seq);
    CHECK(got.addr.family == want.addr.family);
    CHECK(got.addr.ip == want.addr.ip);
    CHECK(got.addr.port == want.addr.port);
    CHECK(got.online == want.online);
    CHECK(got.last_seen == want.last_seen);
}

void check_outbox(const OutboxRecord& got, const OutboxRecord& want) {
    CHECK(got.id == want.id);
    CHECK(got.target == want.target);
    CHECK(got.msg.body == want.msg.body);
    CHECK(got.msg.sig == want.msg.sig);
    CHECK(got.queued == want.queued);
}

void check_message(const HistoryRecord& got, const HistoryRecord& want) {
    CHECK(got.id == want.id);
    CHECK(got.from == want.from);
    CHECK(got.to == want.to);
    CHECK(got.sent == want.sent);
    CHECK(got.stored == want.stored);
    CHECK(got.text == want.text);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << data;
    REQUIRE(out.good());
}

// Sets PRAGMA user_version in the header of a closed database (bytes 60..63, big endian).
void set_user_version(const std::string& path, std::uint32_t v) {
    REQUIRE_FALSE(std::filesystem::exists(path + "-wal"));  // the header must be in the main file
    std::string data = read_file(path);
    REQUIRE(data.size() >= 100);
    for (int i = 0; i < 4; ++i) data[60 + i] = static_cast<char>((v >> (8 * (3 - i))) & 0xff);
    write_file(path, data);
}

unsigned mode_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("a new store is created owner-only, in WAL mode, at the current schema") {
    TempDir dir;
    std::string path = dir.file("darkchat.db");

    // A umask that would make the file read-only (0400) if the store relied on it.
    mode_t old_umask = ::umask(0277);
    auto opened = Store::open(path);
    ::umask(old_umask);
    REQUIRE(opened.ok());
    auto& s = *opened;

    CHECK(mode_of(path) == 0600);
    CHECK(s->schema_version() == 11);

    apply_ok(*s, {store_op::PutUser{user("alice", 1, true, 10)}});
    // The write went to the write-ahead log, which SQLite creates with the database's mode.
    REQUIRE(std::filesystem::exists(path + "-wal"));
    CHECK(mode_of(path + "-wal") == 0600);
    // Bytes 18 and 19 of the header (file format read/write versions) are 2 in WAL mode.
    std::string header = read_file(path).substr(0, 100);
    REQUIRE(header.size() == 100);
    CHECK(header.substr(0, 16) == std::string("SQLite format 3\0", 16));
    CHECK(header[18] == 2);
    CHECK(header[19] == 2);
}

TEST_CASE("reopening keeps identity, users, sessions, outbox and history") {
    TempDir dir;
    std::string path = dir.file("darkchat.db");
    Identity id{"alice", pattern<32>(1), pattern<64>(2), pattern<8>(3)};
    {
        auto s = open_ok(path);
        REQUIRE(s->save_identity(id).ok());
        apply_ok(*s, {store_op::PutUser{user("bob", 5, true, 100)},
                      store_op::PutSession{session("bob", 6, ipv4_addr())},
                      store_op::PutOutbox{outbox(7, "bob", 200)},
                      store_op::PutHistory{message(8, "alice", "bob", 300)}});
    }
    auto s = open_ok(path);
    CHECK(s->schema_version() == 11);
    auto loaded = s->load_identity();
    REQUIRE(loaded.ok());
    REQUIRE(loaded->has_value());
    CHECK((*loaded)->user == "alice");
    CHECK((*loaded)->sk == id.sk);

    auto snap = snapshot_ok(*s);
    REQUIRE(snap.users.size() == 1);
    check_user(snap.users[0], user("bob", 5, true, 100));
    REQUIRE(snap.sessions.size() == 1);
    check_session(snap.sessions[0], session("bob", 6, ipv4_addr()));
    REQUIRE(snap.outbox.size() == 1);
    check_outbox(snap.outbox[0], outbox(7, "bob", 200));
    REQUIRE(snap.seen.size() == 1);
    CHECK(snap.seen[0] == SeenRecord{msg_id(8), "alice", 295});  // what de-duplication needs: id, author, sent
    auto h = history_ok(*s, "bob", 10);
    REQUIRE(h.size() == 1);
    check_message(h[0], message(8, "alice", "bob", 300));
}

TEST_CASE("an empty store loads an empty snapshot and no identity") {
    TempDir dir;
    auto s = open_ok(dir.file("darkchat.db"));
    auto id = s->load_identity();
    REQUIRE(id.ok());
    CHECK_FALSE(id->has_value());
    auto snap = snapshot_ok(*s);
    CHECK(snap.users.empty());
    CHECK(snap.sessions.empty());
    CHECK(snap.outbox.empty());
    CHECK(snap.seen.empty());
    CHECK(history_ok(*s, "bob", 10).empty());
    CHECK(s->apply({}).ok());
}

TEST_CASE("every StoreOp round-trips field by field") {
    TempDir dir;
    auto s = open_ok(dir.file("darkchat.db"));

    UserRecord carol = user("carol", 9, false, -1);  // times are signed
    UserRecord bob = user("bob", 3, true, 1'700'000'000'000);
    SessionRecord v6 = session("bob", 1, ipv6_addr());
    SessionRecord none = session("bob", 2, Addr{});  // family 0: no address known
    none.online = false;
    none.seq = 0;
    SessionRecord empty_decl = session("carol", 3, ipv4_addr());
    empty_decl.decl.body.clear();
    empty_decl.seq = ~0ULL;
    OutboxRecord o1 = outbox(1, "bob", 50);
    OutboxRecord o2 = outbox(1, "alice", 40);  // same id, mirrored to the own user's sessions
    o2.msg.body.clear();
    HistoryRecord h1 = message(1, "alice", "bob", 70);
    h1.text = std::string("nul\0inside, caf\xc3\xa9, \xf0\x9f\x92\xac", 22);
    HistoryRecord h2 = message(2, "bob", "alice", 80);
    h2.text.clear();

    apply_ok(*s, {store_op::PutUser{carol}, store_op::PutUser{bob}, store_op::PutSession{v6},
                  store_op::PutSession{none}, store_op::PutSession{empty_decl}, store_op::PutOutbox{o1},
                  store_op::PutOutbox{o2}, store_op::PutHistory{h1}, store_op::PutHistory{h2}});

    auto snap = snapshot_ok(*s);
    REQUIRE(snap.users.size() == 2);  // by name
    check_user(snap.users[0], bob);
    check_user(snap.users[1], carol);

    REQUIRE(snap.sessions.size() == 3);  // by user, then session id
    check_session(snap.sessions[0], v6);
    check_session(snap.sessions[1], none);
    check_session(snap.sessions[2], empty_decl);
    CHECK(snap.sessions[0].addr == ipv6_addr());
    CHECK(snap.sessions[1].addr == Addr{});
    CHECK(snap.sessions[2].decl.body.empty());

    REQUIRE(snap.outbox.size() == 2);  // by queued
    check_outbox(snap.outbox[0], o2);
    check_outbox(snap.outbox[1], o1);

    REQUIRE(snap.seen.size() == 2);  // newest stored first
    CHECK(snap.seen[0].id == h2.id);
    CHECK(snap.seen[1] == SeenRecord{h1.id, h1.from, h1.sent});

    auto h = history_ok(*s, "alice", 10);
    REQUIRE(h.size() == 2);
    check_message(h[0], h1);
    check_message(h[1], h2);
    CHECK(h[0].text.size() == 22);

    // The deletes remove exactly the named rows.
    apply_ok(*s, {store_op::DeleteSession{"bob", v6.session}, store_op::DeleteOutbox{o1.id, "alice"}});
    snap = snapshot_ok(*s);
    REQUIRE(snap.sessions.size() == 2);
    check_session(snap.sessions[0], none);
    check_session(snap.sessions[1], empty_decl);
    REQUIRE(snap.outbox.size() == 1);
    check_outbox(snap.outbox[0], o1);

    // Deleting what is not there is not an error.
    apply_ok(*s, {store_op::DeleteSession{"nobody", v6.session}, store_op::DeleteOutbox{msg_id(99), "bob"}});
    snap = snapshot_ok(*s);
    CHECK(snap.sessions.size() == 2);
    CHECK(snap.outbox.size() == 1);
}

TEST_CASE("puts replace the row with the same key, but history is immutable") {
    TempDir dir;
    auto s = open_ok(dir.file("darkchat.db"));
    SessionRecord r = session("bob", 1, ipv4_addr());
    apply_ok(*s, {store_op::PutUser{user("bob", 1, false, 100)}, store_op::PutSession{r},
                  store_op::PutOutbox{outbox(1, "bob", 10)}, store_op::PutHistory{message(1, "bob", "alice", 20)}});

    SessionRecord newer = r;
    newer.seq = r.seq + 1;
    newer.addr = ipv6_addr();
    newer.online = false;
    newer.decl.body = {1, 2, 3};
    newer.last_seen = r.last_seen + 1000;
    OutboxRecord retried = outbox(1, "bob", 30);
    retried.msg.body = {9, 9};
    HistoryRecord duplicate = message(1, "mallory", "alice", 99);
    duplicate.text = "not the original";
    apply_ok(*s, {store_op::PutUser{user("bob", 2, true, 100)}, store_op::PutSession{newer},
                  store_op::PutOutbox{retried}, store_op::PutHistory{duplicate}});

    auto snap = snapshot_ok(*s);
    REQUIRE(snap.users.size() == 1);
    check_user(snap.users[0], user("bob", 2, true, 100));
    REQUIRE(snap.sessions.size() == 1);
    check_session(snap.sessions[0], newer);
    REQUIRE(snap.outbox.size() == 1);
    check_outbox(snap.outbox[0], retried);
    REQUIRE(snap.seen.size() == 1);
    auto h = history_ok(*s, "bob", 10);
    REQUIRE(h.size() == 1);
    check_message(h[0], message(1, "bob", "alice", 20));
    CHECK(history_ok(*s, "mallory", 10).empty());
}

TEST_CASE("a batch that fails part-way leaves the database unchanged") {
    TempDir dir;
    std::string path = dir.file("darkchat.db");
    auto s = open_ok(path);
    SessionRecord kept = session("bob", 1, ipv4_addr());
    apply_ok(*s, {store_op::PutUser{user("bob", 1, true, 1)}, store_op::PutSession{kept},
                  store_op::PutOutbox{outbox(1, "bob", 5)}});

    SUBCASE("an empty user name in a session") {
        SessionRecord bad = session("", 2, ipv4_addr());
        auto r = s->apply({store_op::PutUser{user("carol", 2, false, 2)}, store_op::DeleteSession{"bob", kept.session},
                           store_op::DeleteOutbox{msg_id(1), "bob"},
                           store_op::PutHistory{message(2, "bob", "alice", 7)}, store_op::PutSession{bad}});
        REQUIRE_FALSE(r.ok());
        CHECK(r.error() == "store: put session: CHECK constraint failed: user <> ''");
    }
    SUBCASE("an empty user name") {
        auto r = s->apply({store_op::PutHistory{message(2, "bob", "alice", 7)}, store_op::PutUser{user("", 2, false, 2)}});
        REQUIRE_FALSE(r.ok());
        CHECK(r.error() == "store: put user: CHECK constraint failed: name <> ''");
    }

    auto check_unchanged = [&](Store& st) {
        auto snap = snapshot_ok(st);
        REQUIRE(snap.users.size() == 1);
        check_user(snap.users[0], user("bob", 1, true, 1));
        REQUIRE(snap.sessions.size() == 1);
        check_session(snap.sessions[0], kept);
        REQUIRE(snap.outbox.size() == 1);
        check_outbox(snap.outbox[0], outbox(1, "bob", 5));
        CHECK(snap.seen.empty());
    };
    check_unchanged(*s);

    // The store stays usable, and nothing of the failed batch appears later.
    apply_ok(*s, {store_op::PutUser{user("dave", 4, false, 4)}});
    CHECK(snapshot_ok(*s).users.size() == 2);
    apply_ok(*s, {store_op::DeleteSession{"", {}}});  // a no-op, not an error
    s.reset();
    s = open_ok(path);
    auto snap = snapshot_ok(*s);
    REQUIRE(snap.users.size() == 2);
    CHECK(snap.users[0].name == "bob");
    CHECK(snap.users[1].name == "dave");
    CHECK(snap.seen.empty());
    CHECK(snap.sessions.size() == 1);
}

TEST_CASE("history returns the newest messages exchanged with a peer, oldest first") {
    TempDir dir;
    auto s = open_ok(dir.file("darkchat.db"));
    // Inserted out of order; stored times decide. 3 and 4 share a stored time:
    // the one accepted later counts as newer.
    apply_ok(*s, {store_op::PutHistory{message(5, "alice", "bob", 500)},
                  store_op::PutHistory{message(1, "bob", "alice", 100)},
                  store_op::PutHistory{message(2, "alice", "carol", 200)},
                  store_op::PutHistory{message(3, "alice", "bob", 300)},
                  store_op::PutHistory{message(4, "bob", "alice", 300)},
                  store_op::PutHistory{message(6, "carol", "alice", 600)},
                  store_op::PutHistory{message(7, "bob", "alice", 50)}});

    auto ids = [](const std::vector<HistoryRecord>& hs) {
        std::vector<int> out;
        for (const auto& h : hs) out.push_back(h.id[0]);
        return out;
    };
    CHECK(ids(history_ok(*s, "bob", 100)) == std::vector<int>{7, 1, 3, 4, 5});
    CHECK(ids(history_ok(*s, "bob", 3)) == std::vector<int>{3, 4, 5});
    CHECK(ids(history_ok(*s, "bob", 1)) == std::vector<int>{5});
    CHECK(history_ok(*s, "bob", 0).empty());
    CHECK(ids(history_ok(*s, "carol", 10)) == std::vector<int>{2, 6});
    CHECK(history_ok(*s, "dave", 10).empty());
    CHECK(history_ok(*s, "", 10).empty());
    CHECK(ids(history_ok(*s, "alice", static_cast<std::size_t>(-1))) == std::vector<int>{7, 1, 2, 3, 4, 5, 6});
    check_message(history_ok(*s, "bob", 1)[0], message(5, "alice", "bob", 500));
}

TEST_CASE("the in-memory store answers \\history as SQLite does: the newest n with a user, oldest first") {
    TempDir dir;
    auto s = open_ok(dir.file("darkchat.db"));
    std::vector<StoreOp> ops;
    for (std::uint8_t n = 1; n <= 9; ++n)
        ops.push_back(store_op::PutHistory{message(n, n % 3 ? "alice" : "bob", n % 3 ? "bob" : "carol",
                                                   static_cast<TimeMs>(1000 - 100 * (n % 4)))});
    apply_ok(*s, ops);
    MemStore mem;
    for (const auto& op : ops) mem.apply(op);
    for (std::string peer : {"alice", "bob", "carol", "dave"}) {
        for (std::size_t limit : {0, 1, 2, 5, 20}) {
            CAPTURE(peer);
            CAPTURE(limit);
            auto want = history_ok(*s, peer, limit);
            auto got = mem.peer_history(peer, limit);
            REQUIRE(got.size() == want.size());
            for (std::size_t i = 0; i < got.size(); ++i) check_message(got[i], want[i]);
        }
    }
}

TEST_CASE("load_snapshot lists at most max_seen history ids, newest first") {
    TempDir dir;
    auto s = open_ok(dir.file("darkchat.db"));
    std::vector<StoreOp> ops;
    for (int i = 1; i <= 20; ++i) {
        // stored times 10, 20, ... in a shuffled insertion order
        int n = (i * 7) % 20 + 1;
        ops.push_back(store_op::PutHistory{message(static_cast<std::uint8_t>(n), "bob", "alice", n * 10)});
    }
    apply_ok(*s, ops);

    auto seen = snapshot_ok(*s, 5).seen;
    REQUIRE(seen.size() == 5);
    for (int k = 0; k < 5; ++k) CHECK(seen[static_cast<std::size_t>(k)].id == msg_id(static_cast<std::uint8_t>(20 - k)));
    CHECK(snapshot_ok(*s, 0).seen.empty());
    auto all = snapshot_ok(*s).seen;
    REQUIRE(all.size() == 20);
    CHECK(all.front().id == msg_id(20));
    CHECK(all.back().id == msg_id(1));
    CHECK(snapshot_ok(*s, static_cast<std::size_t>(-1)).seen.size() == 20);
}

TEST_CASE("outbox entries come back in the order they were queued") {
    TempDir dir;
    auto s = open_ok(dir.file("darkchat.db"));
    apply_ok(*s, {store_op::PutOutbox{outbox(1, "bob", 30)}, store_op::PutOutbox{outbox(2, "bob", 10)},
                  store_op::PutOutbox{outbox(3, "carol", 20)}, store_op::PutOutbox{outbox(4, "bob", 20)}});
    auto snap = snapshot_ok(*s);
    REQUIRE(snap.outbox.size() == 4);
    CHECK(snap.outbox[0].id == msg_id(2));
    CHECK(snap.outbox[1].id == msg_id(3));  // equal times: the one queued first
    CHECK(snap.outbox[2].id == msg_id(4));
    CHECK(snap.outbox[3].id == msg_id(1));
}

TEST_CASE("there is at most one identity and saving replaces it") {
    TempDir dir;
    std::string path = dir.file("darkchat.db");
    Identity first{"alice", pattern<32>(1), pattern<64>(2), pattern<8>(3)};
    Identity second{"alice2", pattern<32>(4), pattern<64>(5), pattern<8>(6)};
    {
        auto s = open_ok(path);
        REQUIRE(s->save_identity(first).ok());
        auto got = s->load_identity();
        REQUIRE(got.ok());
        REQUIRE(got->has_value());
        CHECK((*got)->user == "alice");
        CHECK((*got)->pk == first.pk);
        CHECK((*got)->sk == first.sk);
        CHECK((*got)->session == first.session);
        REQUIRE(s->save_identity(second).ok());
    }
    auto s = open_ok(path);
    auto got = s->load_identity();
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    CHECK((*got)->user == "alice2");
    CHECK((*got)->pk == second.pk);
    CHECK((*got)->sk == second.sk);
    CHECK((*got)->session == second.session);

    auto bad = s->save_identity(Identity{});
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error() == "store: save identity: CHECK constraint failed: user <> ''");
    got = s->load_identity();
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    CHECK((*got)->user == "alice2");
}

TEST_CASE("files that are not darkchat databases are refused with a clear error") {
    TempDir dir;

    SUBCASE("garbage") {
        std::string path = dir.file("garbage.db");
        std::string junk(8192, '\0');
        for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>((i * 131 + 7) & 0xff);
        write_file(path, junk);
        auto s = Store::open(path);
        REQUIRE_FALSE(s.ok());
        CHECK(s.error() == "store: " + path + " is not a darkchat database");
        CHECK(read_file(path) == junk);  // left as it was
    }
    SUBCASE("a text file") {
        std::string path = dir.file("notes.txt");
        write_file(path, "these are not the tables you are looking for\n");
        auto s = Store::open(path);
        REQUIRE_FALSE(s.ok());
        CHECK(s.error() == "store: " + path + " is not a darkchat database");
    }
    SUBCASE("an SQLite database of something else") {
        std::string path = dir.file("other.db");
        open_ok(path).reset();
        set_user_version(path, 0);  // tables, but no darkchat schema version
        auto s = Store::open(path);
        REQUIRE_FALSE(s.ok());
        CHECK(s.error() == "store: " + path + " is an SQLite database but not darkchat's");
    }
    SUBCASE("a directory that does not exist") {
        std::string path = dir.file("missing/darkchat.db");
        auto s = Store::open(path);
        REQUIRE_FALSE(s.ok());
        CHECK(s.error() == "store: cannot create " + path + ": No such file or directory");
    }
    SUBCASE("no path") {
        auto s = Store::open("");
        REQUIRE_FALSE(s.ok());
        CHECK(s.error() == "store: empty database path");
    }
}

TEST_CASE("a schema newer than this darkchat is refused and left alone") {
    TempDir dir;
    std::string path = dir.file("darkchat.db");
    {
        auto s = open_ok(path);
        apply_ok(*s, {store_op::PutUser{user("bob", 1, true, 1)}});
    }
    set_user_version(path, 12);
    auto s = Store::open(path);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error() == "store: " + path + ": database schema 12 is newer than this darkchat (11)");

    set_user_version(path, 11);  // nothing was changed: back at version 11 the data is there
    auto again = open_ok(path);
    CHECK(again->schema_version() == 11);
    REQUIRE(snapshot_ok(*again).users.size() == 1);
}

TEST_CASE("an in-memory store works for tests and tools") {
    auto s = open_ok(":memory:");
    CHECK(s->schema_version() == 11);
    apply_ok(*s, {store_op::PutUser{user("bob", 1, true, 1)}});
    CHECK(snapshot_ok(*s).users.size() == 1);
}

TEST_CASE("committed batches survive a killed process") {
    TempDir dir;
    std::string path = dir.file("darkchat.db");
    int ready[2];
    REQUIRE(::pipe(ready) == 0);

    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // The child writes batches until it is killed; it never closes the store.
        ::close(ready[0]);
        auto s = Store::open(path);
        if (!s.ok()) ::_exit(2);
        if (!(*s)->apply({store_op::PutUser{user("first", 1, true, 1)}}).ok()) ::_exit(3);
        char c = 'x';
        if (::write(ready[1], &c, 1) != 1) ::_exit(4);
        for (int i = 0;; ++i) {
            std::string n = std::to_string(i);
            auto r = (*s)->apply({store_op::PutUser{user("a" + n, 2, false, i)},
                                  store_op::PutHistory{message(static_cast<std::uint8_t>(i), "a" + n, "b" + n, i)},
                                  store_op::PutUser{user("b" + n, 3, false, i)}});
            if (!r.ok()) ::_exit(5);
        }
    }
    ::close(ready[1]);
    char c = 0;
    REQUIRE(::read(ready[0], &c, 1) == 1);
    ::close(ready[0]);
    ::usleep(100 * 1000);
    REQUIRE(::kill(pid, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);

    auto s = open_ok(path);
    auto snap = snapshot_ok(*s);
    std::set<std::string> a, b;
    bool first = false;
    for (const auto& u : snap.users) {
        if (u.name == "first") first = true;
        else if (u.name[0] == 'a') a.insert(u.name.substr(1));
        else if (u.name[0] == 'b') b.insert(u.name.substr(1));
    }
    CHECK(first);
    CHECK(a == b);  // every batch is there whole or not at all
    CHECK(snap.users.size() == 1 + a.size() + b.size());
    CHECK(snap.seen.size() == std::min<std::size_t>(a.size(), 256));  // one message per batch (ids wrap at 256)
    // The store is writable after the crash.
    apply_ok(*s, {store_op::PutUser{user("after", 4, false, 4)}});
}

TEST_CASE("a write error rolls the whole batch back") {
    TempDir dir;
    std::string path = dir.file("darkchat.db");
    {
        auto s = open_ok(path);
        apply_ok(*s, {store_op::PutUser{user("bob", 1, true, 1)}});
    }

    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // Files may not grow past 64 KiB more than they are now: the batch
        // below (about 400 KiB) fails while SQLite writes it.
        std::signal(SIGXFSZ, SIG_IGN);
        auto s = Store::open(path);
        if (!s.ok()) ::_exit(2);
        struct stat db {}, wal {};
        ::stat(path.c_str(), &db);
        ::stat((path + "-wal").c_str(), &wal);
        rlim_t limit = static_cast<rlim_t>(std::max(db.st_size, wal.st_size)) + 64 * 1024;
        struct rlimit lim {limit, limit};
        if (::setrlimit(RLIMIT_FSIZE, &lim) != 0) ::_exit(3);
        std::vector<StoreOp> ops{store_op::PutUser{user("carol", 2, true, 2)}};
        for (int i = 0; i < 100; ++i) {
            HistoryRecord h = message(static_cast<std::uint8_t>(i), "carol", "alice", i);
            h.text.assign(4000, static_cast<char>('a' + i % 26));
            ops.push_back(store_op::PutHistory{h});
        }
        auto r = (*s)->apply(ops);
        if (r.ok()) ::_exit(4);
        if (r.error() != "store: put history: disk I/O error" && r.error() != "store: commit: disk I/O error") {
            ::_exit(5);
        }
        ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);

    auto s = open_ok(path);
    auto snap = snapshot_ok(*s);
    REQUIRE(snap.users.size() == 1);
    CHECK(snap.users[0].name == "bob");
    CHECK(snap.seen.empty());
    apply_ok(*s, {store_op::PutUser{user("carol", 2, true, 2)}});
    CHECK(snapshot_ok(*s).users.size() == 2);
}

namespace {

// Runs SQL on a database file with SQLite directly, bypassing the Store.
void exec_sql(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    REQUIRE(rc == SQLITE_OK);
    char* msg = nullptr;
    rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg);
    std::string error = msg != nullptr ? msg : "";
    sqlite3_free(msg);
    sqlite3_close(db);
    REQUIRE_MESSAGE(rc == SQLITE_OK, error);
}

// The first value of the first row of a query.
std::string query_text(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
        auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
        if (p != nullptr) out = p;
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
}

template <std::size_t N>
std::string x(const std::array<std::uint8_t, N>& a) { return "X'" + to_hex(a) + "'"; }
std::string x(const Bytes& b) { return "X'" + to_hex(ByteView(b)) + "'"; }
std::string q(const std::string& s) { return "'" + s + "'"; }  // the test's strings hold no quotes

// The schema as darkchat 0.1.0 released it (schema version 1), verbatim.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE identity (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    user TEXT NOT NULL CHECK (user <> ''),
    pk BLOB NOT NULL CHECK (length(pk) = 32),
    sk BLOB NOT NULL CHECK (length(sk) = 64),
    session BLOB NOT NULL CHECK (length(session) = 8)
);
CREATE TABLE users (
    name TEXT PRIMARY KEY NOT NULL CHECK (name <> ''),
    key BLOB NOT NULL CHECK (length(key) = 32),
    contact INTEGER NOT NULL CHECK (contact IN (0, 1)),
    first_seen INTEGER NOT NULL
);
CREATE TABLE sessions (
    user TEXT NOT NULL CHECK (user <> ''),
    session BLOB NOT NULL CHECK (length(session) = 8),
    decl_body BLOB NOT NULL,
    decl_sig BLOB NOT NULL CHECK (length(decl_sig) = 64),
    seq INTEGER NOT NULL,
    addr_family INTEGER NOT NULL,
    addr_ip BLOB NOT NULL CHECK (length(addr_ip) = 16),
    addr_port INTEGER NOT NULL CHECK (addr_port BETWEEN 0 AND 65535),
    online INTEGER NOT NULL CHECK (online IN (0, 1)),
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (user, session)
);
CREATE TABLE outbox (
    id BLOB NOT NULL CHECK (length(id) = 16),
    target TEXT NOT NULL CHECK (target <> ''),
    msg_body BLOB NOT NULL,
    msg_sig BLOB NOT NULL CHECK (length(msg_sig) = 64),
    queued INTEGER NOT NULL,
    PRIMARY KEY (id, target)
);
CREATE INDEX outbox_by_queued ON outbox (queued);
CREATE TABLE history (
    id BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    from_user TEXT NOT NULL,
    to_user TEXT NOT NULL,
    sent INTEGER NOT NULL,
    stored INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX history_by_stored ON history (stored);
CREATE INDEX history_by_from ON history (from_user, stored);
CREATE INDEX history_by_to ON history (to_user, stored);
PRAGMA user_version = 1;
)sql";

// A database as darkchat 0.1.0 left it: WAL mode, schema 1, owner-only.
void make_v1_database(const std::string& path) {
    { std::ofstream create(path); }
    REQUIRE(::chmod(path.c_str(), 0600) == 0);
    exec_sql(path, std::string("PRAGMA journal_mode=WAL;") + kSchemaV1);
}

bool contains(const std::string& haystack, ByteView needle) {
    std::string n(needle.begin(), needle.end());
    return haystack.find(n) != std::string::npos;
}

}  // namespace

TEST_CASE("a schema 1 database is migrated in place to schema 11 with its data intact") {
    TempDir dir;
    std::string path = dir.file("darkchat.db");
    make_v1_database(path);
    Identity id{"alice", pattern<32>(1), pattern<64>(2), pattern<8>(3)};
    UserRecord bob = user("bob", 5, true, 100);
    SessionRecord r = session("bob", 6, ipv4_addr());
    OutboxRecord o = outbox(7, "bob", 200);
    HistoryRecord h = message(8, "alice", "bob", 300);

    bool with_rows = false;
    SUBCASE("with an identity and data") { with_rows = true; }
    SUBCASE("empty") {}
    if (with_rows) {
        exec_sql(path,
                 "INSERT INTO identity VALUES (1, " + q(id.user) + ", " + x(id.pk) + ", " + x(id.sk) + ", " +
                     x(id.session) + ");"
                 "INSERT INTO users VALUES (" + q(bob.name) + ", " + x(bob.key) + ", 1, " +
                     std::to_string(bob.first_seen) + ");"
                 "INSERT INTO sessions VALUES (" + q(r.user) + ", " + x(r.session) + ", " + x(r.decl.body) + ", " +
                     x(r.decl.sig) + ", " + std::to_string(static_cast<std::int64_t>(r.seq)) + ", 4, " +
                     x(r.addr.ip) + ", " + std::to_string(r.addr.port) + ", 1, " + std::to_string(r.last_seen) + ");"
                 "INSERT INTO outbox VALUES (" + x(o.id) + ", " + q(o.target) + ", " + x(o.msg.body) + ", " +
                     x(o.msg.sig) + ", " + std::to_string(o.queued) + ");"
                 "INSERT INTO history VALUES (" + x(h.id) + ", " + q(h.from) + ", " + q(h.to) + ", " +
                     std::to_string(h.sent) + ", " + std::to_string(h.stored) + ", " + q(h.text) + ");");
    }
    REQUIRE(query_text(path, "PRAGMA user_version") == "1");

    auto check_data = [&](Store& s) {
        CHECK(s.schema_version() == 11);
        auto loaded = s.load_identity();
        REQUIRE(loaded.ok());
        auto snap = snapshot_ok(s);
        if (!with_rows) {
            CHECK_FALSE(loaded->has_value());
            CHECK(snap.users.empty());
            CHECK(snap.sessions.empty());
            CHECK(snap.outbox.empty());
            CHECK(snap.seen.empty());
            return;
        }
        REQUIRE(loaded->has_value());
        const Identity& got = **loaded;
        CHECK(got.user == id.user);
        CHECK(got.pk == id.pk);
        CHECK(got.sk == id.sk);
        CHECK(got.session == id.session);
        CHECK_FALSE(got.sk_sealed.has_value());
        REQUIRE(snap.users.size() == 1);
        check_user(snap.users[0], bob);
        REQUIRE(snap.sessions.size() == 1);
        check_session(snap.sessions[0], r);
        REQUIRE(snap.outbox.size() == 1);
        check_outbox(snap.outbox[0], o);
        REQUIRE(snap.seen.size() == 1);
        CHECK(snap.seen[0].id == h.id);
        auto hist = history_ok(s, "bob", 10);
        REQUIRE(hist.size() == 1);
        check_message(hist[0], h);
    };

    check_data(*open_ok(path));
    CHECK(query_text(path, "PRAGMA user_version") == "11");
    CHECK(query_text(path, "SELECT count(*) FROM rooms") == "0");
    CHECK(mode_of(path) == 0600);
    CHECK(query_text(path, "SELECT sql FROM sqlite_master WHERE name = 'identity'").find("sk_sealed BLOB") !=
          std::string::npos);
    CHECK(query_text(path, "SELECT count(*) FROM sqlite_master WHERE name = 'identity_v2'") == "0");
    CHECK(query_text(path, "PRAGMA integrity_check") == "ok");

    // Opening again changes nothing, and the migrated table takes sealed keys.
    auto s = open_ok(path);
    check_data(*s);
    Identity sealed = id;
    sealed.sk = {};
    sealed.sk_sealed = Bytes{1, 2, 3};
    REQUIRE(s->save_identity(sealed).ok());
    auto loaded = s->load_identity();
    REQUIRE(loaded.ok());
    REQUIRE(loaded->has_value());
    CHECK((*loaded)->sk_sealed == std::optional<Bytes>(Bytes{1, 2, 3}));
}

TEST_CASE("a sealed identity round-trips and no plain key is left in the file") {
    TempDir dir;
    std::string path = dir.file("darkchat.db");
    Identity plain{"alice", pattern<32>(1), {}, pattern<8>(3)};
    // Key bytes that occur nowhere else in the file.
    for (std::size_t i = 0; i < plain.sk.size(); ++i) plain.sk[i] = static_cast<std::uint8_t>(200 + i % 50);
    Identity sealed = plain;
    sealed.sk = {};
    sealed.sk_sealed = Bytes{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    {
        auto s = open_ok(path);
        REQUIRE(s->save_identity(plain).ok());
        // Other rows around it, so that the identity is not alone on its page.
        apply_ok(*s, {store_op::PutUser{user("bob", 5, true, 100)},
                      store_op::PutHistory{message(8, "alice", "bob", 300)}});
    }
    REQUIRE(contains(read_file(path), plain.sk));  // the test would prove nothing otherwise

    {
        auto s = open_ok(path);
        REQUIRE(s->save_identity(sealed).ok());
        auto got = s->load_identity();
        REQUIRE(got.ok());
        REQUIRE(got->has_value());
        CHECK((*got)->user == "alice");
        CHECK((*got)->pk == plain.pk);
        CHECK((*got)->sk == SecretKey{});
        CHECK((*got)->session == plain.session);
        CHECK((*got)->sk_sealed == sealed.sk_sealed);
        CHECK(query_text(path, "SELECT count(*) FROM identity WHERE sk IS NULL") == "1");

        // A sealed key must not be empty; a failed save changes nothing.
        Identity empty = sealed;
        empty.sk_sealed = Bytes{};
        auto bad = s->save_identity(empty);
        REQUIRE_FALSE(bad.ok());
        CHECK(bad.error() == "store: save identity: CHECK constraint failed: length(sk_sealed) > 0");
        got = s->load_identity();
        REQUIRE(got.ok());
        CHECK((*got)->sk_sealed == sealed.sk_sealed);
    }
    // Closed: no copy of the plain key in the database or its journal.
    std::string bytes = read_file(path);
    CHECK_FALSE(contains(bytes, plain.sk));
    for (std::size_t i = 0; i + 8 <= plain.sk.size(); i += 8) {  // nor a piece of it
        CHECK_FALSE(contains(bytes, ByteView(plain.sk).subspan(i, 8)));
    }
    CHECK(contains(bytes, *sealed.sk_sealed));
    CHECK_FALSE(std::filesystem::exists(path + "-wal"));

    // And back to a plain key.
    auto s = open_ok(path);
    auto got = s->load_identity();
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    CHECK((*got)->sk_sealed == sealed.sk_sealed);
    REQUIRE(s->save_identity(plain).ok());
    got = s->load_identity();
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    CHECK((*got)->sk == plain.sk);
    CHECK_FALSE((*got)->sk_sealed.has_value());
    CHECK(snapshot_ok(*s).users.size() == 1);
}

namespace {

RoomRecord room_rec(std::uint8_t n, std::uint64_t next_seq) {
    RoomRecord r;
    r.room = pattern<16>(n);
    r.ticket.body = Bytes{n, 1, 2, 3};
    r.ticket.sig = pattern<64>(static_cast<std::uint8_t>(n + 1));
    r.direct = n % 2 == 1;
    r.mine = n % 3 == 1;
    r.members = {"alice", "bob", "carol"};
    r.required = {"bob", "carol"};
    r.run = ~0ULL - n;  // 64-bit runs keep every bit
    r.next_seq = next_seq;
    return r;
}

RoomLineRecord room_line(std::uint8_t room, std::uint64_t seq) {
    return RoomLineRecord{pattern<16>(room), seq, msg_id(static_cast<std::uint8_t>(seq)), 1000 + static_cast<TimeMs>(seq),
                          "line " + std::to_string(seq)};
}

void check_rooms(const RoomSnapshot& a, const RoomSnapshot& b) {
    REQUIRE(a.rooms.size() == b.rooms.size());
    for (std::size_t i = 0; i < a.rooms.size(); ++i) {
        CHECK(a.rooms[i].room == b.rooms[i].room);
        CHECK(a.rooms[i].ticket.body == b.rooms[i].ticket.body);
        CHECK(a.rooms[i].ticket.sig == b.rooms[i].ticket.sig);
        CHECK(a.rooms[i].direct == b.rooms[i].direct);
        CHECK(a.rooms[i].mine == b.rooms[i].mine);
        CHECK(a.rooms[i].members == b.rooms[i].members);
        CHECK(a.rooms[i].required == b.rooms[i].required);
        CHECK(a.rooms[i].run == b.rooms[i].run);
        CHECK(a.rooms[i].next_seq == b.rooms[i].next_seq);
    }
    REQUIRE(a.lines.size() == b.lines.size());
    for (std::size_t i = 0; i < a.lines.size(); ++i) {
        CHECK(a.lines[i].room == b.lines[i].room);
        CHECK(a.lines[i].seq == b.lines[i].seq);
        CHECK(a.lines[i].id == b.lines[i].id);
        CHECK(a.lines[i].sent == b.lines[i].sent);
        CHECK(a.lines[i].text == b.lines[i].text);
    }
    REQUIRE(a.cursors.size() == b.cursors.size());
    for (std::size_t i = 0; i < a.cursors.size(); ++i) {
        CHECK(a.cursors[i].room == b.cursors[i].room);
        CHECK(a.cursors[i].author == b.cursors[i].author);
        CHECK(a.cursors[i].run == b.cursors[i].run);
        CHECK(a.cursors[i].next == b.cursors[i].next);
    }
}

// Applies ops to the database at path and to mem; returns what a restarted
// darkchat reads back from the file.
Snapshot apply_both(const std::string& path, MemStore& mem, const std::vector<StoreOp>& ops) {
    {
        auto s = open_ok(path);
        apply_ok(*s, ops);
    }
    for (auto& op : ops) mem.apply(op);
    auto s = open_ok(path);
    return snapshot_ok(*s);
}

}  // namespace

TEST_CASE("room ops round-trip, next_seq never goes down, and the in-memory store agrees with SQLite") {
    TempDir dir;
    std::string path = dir.file("darkchat.db");
    MemStore mem;
    auto both = [&](const std::vector<StoreOp>& ops) {
        auto snap = apply_both(path, mem, ops);
        check_rooms(snap.rooms, mem.snapshot().rooms);
        return snap.rooms;
    };

    RoomRecord a = room_rec(1, 1), b = room_rec(2, 1);
    b.members.clear();
    b.required.clear();
    auto got = both({store_op::PutRoom{a}, store_op::PutRoom{b}, store_op::PutRoomLine{room_line(1, 1)},
                     store_op::PutRoomLine{room_line(1, 2)}, store_op::PutRoomLine{room_line(1, 3)},
                     store_op::PutRoomCursor{{a.room, "bob", 77, 5}}, store_op::PutRoomCursor{{b.room, "carol", 1ULL << 63, 2}}});
    REQUIRE(got.rooms.size() == 2);
    CHECK(got.rooms[0].members == a.members);
    CHECK(got.rooms[1].members.empty());
    CHECK(got.rooms[0].run == a.run);
    CHECK(got.rooms[0].next_seq == 4);  // raised past the lines stored
    REQUIRE(got.lines.size() == 3);
    CHECK(got.lines[2].text == "line 3");
    REQUIRE(got.cursors.size() == 2);
    CHECK(got.cursors[1].run == 1ULL << 63);

    // A PutRoom with an older next_seq (a new ticket, say) does not lower it; lines
    // acked by everyone go; a cursor moves.
    RoomRecord moved = a;
    moved.ticket.body = Bytes{9, 9};
    moved.next_seq = 2;
    got = both({store_op::PutRoom{moved}, store_op::DeleteRoomLines{a.room, 2}, store_op::PutRoomCursor{{a.room, "bob", 77, 9}}});
    CHECK(got.rooms[0].ticket.body == Bytes{9, 9});
    CHECK(got.rooms[0].next_seq == 4);
    REQUIRE(got.lines.size() == 1);
    CHECK(got.lines[0].seq == 3);
    CHECK(got.cursors[0].next == 9);

    // Leaving a room takes its lines and cursors with it, and nothing of the other room.
    got = both({store_op::DeleteRoom{a.room}});
    REQUIRE(got.rooms.size() == 1);
    CHECK(got.rooms[0].room == b.room);
    CHECK(got.lines.empty());
    REQUIRE(got.cursors.size() == 1);
    CHECK(got.cursors[0].author == "carol");
}

TEST_CASE("chat stream numbers round-trip, never go down, and the in-memory store agrees with SQLite") {
    TempDir dir;
    std::string path = dir.file("darkchat.db");
    MemStore mem;
    auto both = [&](const std::vector<StoreOp>& ops) {
        auto snap = apply_both(path, mem, ops);
        auto m = mem.snapshot().chat_seqs;
        REQUIRE(snap.chat_seqs.size() == m.size());
        for (std::size_t i = 0; i < m.size(); ++i) {
            CHECK(snap.chat_seqs[i].session == m[i].session);
            CHECK(snap.chat_seqs[i].peer == m[i].peer);
            CHECK(snap.chat_seqs[i].seq == m[i].seq);
        }
        return snap.chat_seqs;
    };
    SessionId s1{1, 1, 1, 1, 1, 1, 1, 1}, s2{2, 2, 2, 2, 2, 2, 2, 2};
    auto got = both({store_op::PutChatSeq{{s1, "bob", 5}}, store_op::PutChatSeq{{s1, "carol", 1}},
                     store_op::PutChatSeq{{s2, "bob", 1ULL << 63}}});
    REQUIRE(got.size() == 3);
    CHECK(got[0].seq == 5);
    CHECK(got[2].seq == 1ULL << 63);
    got = both({store_op::PutChatSeq{{s1, "bob", 3}}, store_op::PutChatSeq{{s1, "carol", 7}}});
    CHECK(got[0].seq == 5);  // not lowered
    CHECK(got[1].seq == 7);
}

TEST_CASE("group states round-trip, are replaced whole and deleted, and the in-memory store agrees with SQLite") {
    TempDir dir;
    std::string path = dir.file("darkchat.db");
    MemStore mem;
    auto both = [&](const std::vector<StoreOp>& ops) {
        auto snap = apply_both(path, mem, ops);
        auto m = mem.snapshot().groups;
        REQUIRE(snap.groups.size() == m.size());
        for (std::size_t i = 0; i < m.size(); ++i) {
            CHECK(snap.groups[i].group == m[i].group);
            CHECK(snap.groups[i].state == m[i].state);
        }
        return snap.groups;
    };
    GroupKeyId g1{}, g2{};
    g1.fill(1);
    g2.fill(2);
    auto got = both({store_op::PutGroup{{g2, Bytes{9, 9}}}, store_op::PutGroup{{g1, Bytes{1, 2, 3}}}});
    REQUIRE(got.size() == 2);
    CHECK(got[0].group == g1);  // by id
    CHECK(got[0].state == Bytes{1, 2, 3});
    got = both({store_op::PutGroup{{g1, Bytes{4}}}, store_op::DeleteGroup{g2}});
    REQUIRE(got.size() == 1);
    CHECK(got[0].state == Bytes{4});
    got = both({store_op::DeleteGroup{g1}, store_op::DeleteGroup{g1}});  // deleting twice is no fault
    CHECK(got.empty());
}

TEST_CASE("what we hold for others round-trips oldest first, is kept once, deleted, and the in-memory store agrees") {
    TempDir dir;
    std::string path = dir.file("darkchat.db");
    MemStore mem;
    auto both = [&](const std::vector<StoreOp>& ops) {
        auto snap = apply_both(path, mem, ops);
        auto m = mem.snapshot().held;
        REQUIRE(snap.held.size() == m.size());
        for (std::size_t i = 0; i < m.size(); ++i) {
            CHECK(snap.held[i].to == m[i].to);
            CHECK(snap.held[i].id == m[i].id);
            CHECK(snap.held[i].from == m[i].from);
            CHECK(snap.held[i].kept == m[i].kept);
            CHECK(snap.held[i].base == m[i].base);
            CHECK(snap.held[i].sealed == m[i].sealed);
        }
        return snap.held;
    };
    MessageId a{}, b{};
    a.fill(1);
    b.fill(2);
    auto got = both({store_op::PutHeld{{"bob", b, "alice", 2000, 1ULL << 63, Bytes{7, 7}}},
                     store_op::PutHeld{{"carol", a, "alice", 1000, 0, Bytes{1, 2, 3}}}});
    REQUIRE(got.size() == 2);
    CHECK(got[0].to == "carol");  // oldest first
    CHECK(got[1].base == 1ULL << 63);
    // The same (to, id) again keeps the first copy.
    got = both({store_op::PutHeld{{"bob", b, "dave", 3000, 0, Bytes{9}}}, store_op::DeleteHeld{"carol", a}});
    REQUIRE(got.size() == 1);
    CHECK(got[0].from == "alice");
    CHECK(got[0].sealed == Bytes{7, 7});
    got = both({store_op::DeleteHeld{"bob", b}, store_op::DeleteHeld{"bob", b}});  // deleting twice is no fault
    CHECK(got.empty());
}

TEST_CASE("a transfer's state is kept per file and side, replaced, deleted, and the in-memory store agrees") {
    TempDir dir;
    std::string path = dir.file("darkchat.db");
    MemStore mem;
    auto both = [&](const std::vector<StoreOp>& ops) {
        auto snap = apply_both(path, mem, ops);
        auto m = mem.snapshot().files;
        REQUIRE(snap.files.size() == m.size());
        for (std::size_t i = 0; i < m.size(); ++i) {
            CHECK(snap.files[i].file == m[i].file);
            CHECK(snap.files[i].side == m[i].side);
            CHECK(snap.files[i].state == m[i].state);
            CHECK(snap.files[i].peer == m[i].peer);
            CHECK(snap.files[i].session == m[i].session);
        }
        return snap.files;
    };
    GroupKeyId f{};
    f.fill(3);
    // A file sent to ourselves: both sides under one id.
    auto got = both({store_op::PutFile{{f, 1, Bytes{1}}}, store_op::PutFile{{f, 0, Bytes{2}}}});
    REQUIRE(got.size() == 2);
    CHECK(got[0].side == 0);
    CHECK(got[1].state == Bytes{1});
    got = both({store_op::PutFile{{f, 1, Bytes{5, 5}}}, store_op::DeleteFile{f, 0}});
    REQUIRE(got.size() == 1);
    CHECK(got[0].state == Bytes{5, 5});
    got = both({store_op::DeleteFile{f, 1}, store_op::DeleteFile{f, 1}});  // deleting twice is no fault
    CHECK(got.empty());
    // A group's file: held (side 2) and sent to two members, a row for each.
    PublicKey bob{}, carol{};
    bob.fill(7);
    carol.fill(8);
    got = both({store_op::PutFile{{f, 2, Bytes{9}}}, store_op::PutFile{{f, 0, Bytes{1}, bob}},
                store_op::PutFile{{f, 0, Bytes{2}, carol}}});
    REQUIRE(got.size() == 3);
    CHECK(got[0].peer == bob);
    CHECK(got[1].peer == carol);
    CHECK(got[2].side == 2);
    got = both({store_op::DeleteFile{f, 0, bob}});
    REQUIRE(got.size() == 2);
    CHECK(got[0].peer == carol);
    // A file to a contact taken by two of its sessions: the offer and a row for each.
    SessionId s1{}, s2{};
    s1.fill(1);
    s2.fill(2);
    GroupKeyId g{};
    g.fill(4);
    got = both({store_op::PutFile{{g, 0, Bytes{1}}}, store_op::PutFile{{g, 0, Bytes{2}, {}, s1}},
                store_op::PutFile{{g, 0, Bytes{3}, {}, s2}}});
    REQUIRE(got.size() == 5);
    CHECK(got[2].session == SessionId{});
    CHECK(got[3].session == s1);
    CHECK(got[3].state == Bytes{2});
    CHECK(got[4].session == s2);
    got = both({store_op::DeleteFile{g, 0, {}, s1}, store_op::PutFile{{g, 0, Bytes{7}, {}, s2}}});
    REQUIRE(got.size() == 4);
    CHECK(got[3].session == s2);
    CHECK(got[3].state == Bytes{7});
}

TEST_CASE("a schema 9 database's transfers keep their rows, with no peer and no session, in schema 11") {
    TempDir dir;
    std::string path = dir.file("darkchat.db");
    { auto s = open_ok(path); }
    // The files table as schema 9 had it, with a row in it.
    exec_sql(path,
             "DROP TABLE files;"
             "CREATE TABLE files (id BLOB NOT NULL CHECK (length(id) = 16), side INTEGER NOT NULL CHECK (side IN "
             "(0, 1)), state BLOB NOT NULL CHECK (length(state) > 0), PRIMARY KEY (id, side)) WITHOUT ROWID;"
             "INSERT INTO files VALUES (x'03030303030303030303030303030303', 1, x'0102');");
    set_user_version(path, 9);
    auto s = open_ok(path);
    CHECK(s->schema_version() == 11);
    auto snap = snapshot_ok(*s);
    REQUIRE(snap.files.size() == 1);
    CHECK(snap.files[0].side == 1);
    CHECK(snap.files[0].peer == PublicKey{});
    CHECK(snap.files[0].session == SessionId{});
    CHECK(snap.files[0].state == Bytes{1, 2});
}

TEST_CASE("the API's event log keeps events by seq, pages them, trims the oldest, and the in-memory store agrees") {
    TempDir dir;
    std::string path = dir.file("darkchat.db");
    MemStore mem;
    auto snap = apply_both(path, mem, {store_op::PutEvent{{1, 100, R"({"kind":"ready"})"}},
                                       store_op::PutEvent{{2, 101, R"({"kind":"message"})"}},
                                       store_op::PutEvent{{3, 102, R"({"kind":"delivered"})"}}});
    CHECK(snap.last_event == 3);
    CHECK(mem.snapshot().last_event == 3);
    auto s = store::Store::open(path);
    REQUIRE(s);
    auto page = (*s)->events_after(1, 1);
    REQUIRE(page);
    REQUIRE(page->size() == 1);
    CHECK((*page)[0] == EventRecord{2, 101, R"({"kind":"message"})"});
    CHECK(mem.events_after(1, 1) == *page);
    auto rest = (*s)->events_after(0, 100);
    REQUIRE(rest);
    CHECK(rest->size() == 3);
    CHECK((*s)->events_after(3, 100)->empty());
    s->reset();
    // Trimming keeps the numbering: the newest seq stays what it was.
    snap = apply_both(path, mem, {store_op::DeleteEvents{2}});
    CHECK(snap.last_event == 3);
    s = store::Store::open(path);
    REQUIRE(s);
    rest = (*s)->events_after(0, 100);
    REQUIRE(rest->size() == 1);
    CHECK((*rest)[0].seq == 3);
    CHECK(mem.events_after(0, 100) == *rest);
}

TEST_CASE("faults: a full disk, a busy database and low memory are worth retrying; the rest are not") {
    using store::Fault;
    for (Fault f : {Fault::disk_full, Fault::busy, Fault::out_of_memory}) {
        CAPTURE(store::describe(f));
        CHECK(store::is_transient(f));
    }
    for (Fault f : {Fault::none, Fault::read_only, Fault::corrupt, Fault::not_a_database, Fault::io, Fault::other}) {
        CAPTURE(store::describe(f));
        CHECK_FALSE(store::is_transient(f));
    }
    CHECK(std::string(store::describe(Fault::disk_full)) == "disk full");
    CHECK(std::string(store::describe(Fault::none)).empty());
}

TEST_CASE("fault() tells what the last call failed with, and none after one that succeeded") {
    TempDir dir;
    auto s = open_ok(dir.file("darkchat.db"));
    CHECK(s->fault() == store::Fault::none);
    auto bad = s->apply({store_op::PutUser{user("", 1, true, 1)}});
    REQUIRE_FALSE(bad.ok());
    CHECK(s->fault() == store::Fault::other);  // a constraint: the same batch fails again
    apply_ok(*s, {store_op::PutUser{user("bob", 1, true, 1)}});
    CHECK(s->fault() == store::Fault::none);
}

TEST_CASE("a full disk at run time is a transient fault: the same batch succeeds once there is space") {
    if (::getuid() != 0) {
        MESSAGE("skipped: mounting a tmpfs needs root");
        return;
    }
    TempDir dir;
    std::string mnt = dir.file("mnt");
    REQUIRE(::mkdir(mnt.c_str(), 0700) == 0);
    if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1M") != 0) {
        MESSAGE("skipped: cannot mount a tmpfs");
        return;
    }
    struct Unmount {
        std::string at;
        ~Unmount() { ::umount2(at.c_str(), MNT_DETACH); }
    } unmount{mnt};
    auto s = open_ok(mnt + "/darkchat.db");
    {
        std::ofstream filler(mnt + "/filler", std::ios::binary);
        std::string block(4096, 'x');
        for (int i = 0; i < 512 && filler.write(block.data(), static_cast<std::streamsize>(block.size())); ++i) {
        }
    }
    std::vector<StoreOp> ops;
    for (int i = 0; i < 100; ++i) {
        HistoryRecord h = message(static_cast<std::uint8_t>(i), "carol", "alice", i);
        h.text.assign(4000, static_cast<char>('a' + i % 26));
        ops.push_back(store_op::PutHistory{h});
    }
    auto r = s->apply(ops);
    REQUIRE_FALSE(r.ok());
    CHECK(s->fault() == store::Fault::disk_full);
    CHECK(store::is_transient(s->fault()));
    CHECK_MESSAGE(r.error().find("disk full") != std::string::npos, r.error());
    CHECK(snapshot_ok(*s).seen.empty());  // all or nothing

    std::filesystem::remove(mnt + "/filler");
    apply_ok(*s, ops);
    CHECK(s->fault() == store::Fault::none);
    CHECK(snapshot_ok(*s).seen.size() == 100);
}

TEST_CASE("an existing file that cannot be used is refused, named, and left exactly as it was") {
    TempDir dir;
    std::string path = dir.file("darkchat.db");
    {
        auto s = open_ok(path);
        apply_ok(*s, {store_op::PutUser{user("bob", 1, true, 1)}});
    }
    const std::string good = read_file(path);
    auto refused = [&](const std::string& contents, const std::string& message) {
        auto s = Store::open(path);
        REQUIRE_FALSE(s.ok());
        CHECK(s.error() == message);
        CHECK(read_file(path) == contents);
        for (const char* beside : {"-wal", "-shm", "-journal"}) CHECK_FALSE(std::filesystem::exists(path + beside));
    };
    SUBCASE("empty: no new database over it") {
        write_file(path, "");
        refused("", "store: " + path +
                        " is empty (0 bytes): not making a new identity over it; move it away to start afresh");
    }
    SUBCASE("a corrupt page in the middle") {
        std::string bad = good;
        std::size_t page = bad.size() / 4096 / 2;
        REQUIRE(page > 1);
        for (std::size_t i = 0; i < 4096; ++i) bad[page * 4096 + i] = static_cast<char>((i * 37 + 11) & 0xff);
        write_file(path, bad);
        auto s = Store::open(path);
        REQUIRE_FALSE(s.ok());
        CHECK_MESSAGE(s.error().rfind("store: " + path + " is corrupt (", 0) == 0, s.error());
        CHECK(read_file(path) == bad);
        CHECK_FALSE(std::filesystem::exists(path + "-wal"));
    }
    SUBCASE("mode 0400: read-only, also for root") {
        REQUIRE(::chmod(path.c_str(), 0400) == 0);
        refused(good, "store: " + path + " is read-only (mode 0400): darkchat must be able to write its database");
        REQUIRE(::chmod(path.c_str(), 0600) == 0);
    }
    SUBCASE("an empty SQLite database of no one is not darkchat's") {
        std::filesystem::remove(path);
        sqlite3* db = nullptr;
        REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
        REQUIRE(sqlite3_exec(db, "VACUUM", nullptr, nullptr, nullptr) == SQLITE_OK);
        sqlite3_close(db);
        refused(read_file(path), "store: " + path + " is an SQLite database but not darkchat's");
    }
}

TEST_CASE("lines of groups and rooms: each kept once, the newest kLinesKept of each conversation, across a reopen; as MemStore") {
    TempDir dir;
    MemStore mem;
    auto line = [](std::uint8_t conv, bool room, std::size_t n) {
        LineRecord l;
        l.conversation[0] = conv;
        l.room = room;
        l.key = {static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)};
        l.author = n % 2 ? "alice" : "bob";
        l.author_key[0] = static_cast<std::uint8_t>(n);
        l.sent = static_cast<TimeMs>(n);
        l.stored = static_cast<TimeMs>(n) + 1;
        l.own = n % 3 == 0;
        l.text = "line " + std::to_string(n);
        return l;
    };
    std::vector<StoreOp> ops;
    for (std::size_t n = 0; n < kLinesKept + 10; ++n) ops.push_back(store_op::PutLine{line(1, false, n)});
    ops.push_back(store_op::PutLine{line(2, true, 7)});
    LineRecord again = line(1, false, kLinesKept + 9);
    again.text = "a second copy";
    ops.push_back(store_op::PutLine{again});
    {
        auto s = open_ok(dir.file("darkchat.db"));
        apply_ok(*s, ops);
    }
    for (auto& op : ops) mem.apply(op);
    auto s = open_ok(dir.file("darkchat.db"));
    auto g = s->lines(line(1, false, 0).conversation, 5000);
    REQUIRE(g);
    REQUIRE(g->size() == kLinesKept);
    CHECK(g->front() == line(1, false, 10));
    CHECK(g->back() == line(1, false, kLinesKept + 9));
    auto newest = s->lines(line(1, false, 0).conversation, 2);
    REQUIRE(newest);
    CHECK(*newest == std::vector<LineRecord>{line(1, false, kLinesKept + 8), line(1, false, kLinesKept + 9)});
    auto r = s->lines(line(2, true, 0).conversation, 20);
    REQUIRE(r);
    CHECK(*r == std::vector<LineRecord>{line(2, true, 7)});
    CHECK(s->lines(GroupKeyId{}, 20)->empty());
    CHECK(mem.conversation_lines(line(1, false, 0).conversation, 5000) == *g);
    CHECK(mem.conversation_lines(line(1, false, 0).conversation, 2) == *newest);
    CHECK(mem.conversation_lines(line(2, true, 0).conversation, 20) == *r);
}

TEST_CASE("lines: a conversation put one line a turn keeps the newest kLinesKept, with a bounded tail of older rows") {
    TempDir dir;
    const std::string path = dir.file("darkchat.db");
    auto line = [](std::size_t n) {
        LineRecord l;
        l.conversation[0] = 3;
        l.room = true;
        l.key = {static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)};
        l.author = "alice";
        l.sent = static_cast<TimeMs>(n);
        l.stored = static_cast<TimeMs>(n);
        l.text = "line " + std::to_string(n);
        return l;
    };
    const std::size_t total = kLinesKept + 300;
    std::size_t most = 0;
    {
        auto s = open_ok(path);
        for (std::size_t n = 0; n < total; ++n) {
            apply_ok(*s, {store_op::PutLine{line(n)}});
            if (n % 50 == 0 || n + 1 == total)
                most = std::max<std::size_t>(most, std::stoul(query_text(path, "SELECT count(*) FROM lines")));
        }
        auto g = s->lines(line(0).conversation, 5000);
        REQUIRE(g);
        REQUIRE(g->size() == kLinesKept);
        CHECK(g->front() == line(total - kLinesKept));
        CHECK(g->back() == line(total - 1));
    }
    // Older rows wait for a trim a few lines at most: the table does not grow with the lines.
    CHECK(most >= kLinesKept);
    CHECK(most < kLinesKept + 100);
    CHECK(std::stoul(query_text(path, "SELECT count(*) FROM lines")) < kLinesKept + 100);
}
