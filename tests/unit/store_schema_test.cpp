// The store's schema alone: migrations from an empty database and from an older
// schema, refusals, the statements prepared against it, and names kept in a column.
#include "store/schema.hpp"

#include "store_memory.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace dc;
using namespace dc::store;
using dc::store::testing::memory;

namespace {

std::set<std::string> tables(Connection& c) {
    std::set<std::string> v;
    StmtPtr s;
    REQUIRE(c.prepare(s, "SELECT name FROM sqlite_master WHERE type = 'table'").ok());
    Query q(s.get());
    while (q.step() == SQLITE_ROW) v.insert(q.col_text(0));
    return v;
}

}  // namespace

TEST_CASE("an empty database is migrated to the current schema, and migrating again changes nothing") {
    auto c = memory();
    auto v = migrate(c);
    REQUIRE(v.ok());
    CHECK(*v == kSchemaVersion);
    CHECK(*c.user_version() == kSchemaVersion);
    CHECK(tables(c) == std::set<std::string>{"identity", "users", "sessions", "outbox", "history", "rooms",
                                             "room_lines", "room_cursors", "chat_seqs", "groups", "held", "files", "events", "lines"});
    auto again = migrate(c);
    REQUIRE(again.ok());
    CHECK(*again == kSchemaVersion);

    Statements st;
    CHECK(prepare_statements(c, st).ok());
    CHECK(st.put_room != nullptr);
    CHECK(st.all_chat_seqs != nullptr);
}

TEST_CASE("a database at schema 1 keeps its identity row through the later migrations") {
    auto c = memory();
    // Schema 1 as a released darkchat left it: its identity table, user_version 1.
    REQUIRE(c.exec(R"sql(
CREATE TABLE identity (id INTEGER PRIMARY KEY CHECK (id = 1), user TEXT NOT NULL, pk BLOB NOT NULL,
    sk BLOB NOT NULL, session BLOB NOT NULL);
INSERT INTO identity VALUES (1, 'alice', zeroblob(32), zeroblob(64), zeroblob(8));
PRAGMA user_version = 1;
)sql",
                   "schema 1")
                .ok());
    auto v = migrate(c);
    REQUIRE(v.ok());
    CHECK(*v == kSchemaVersion);
    StmtPtr s;
    REQUIRE(c.prepare(s, "SELECT user, sk_sealed IS NULL FROM identity").ok());
    Query q(s.get());
    REQUIRE(q.step() == SQLITE_ROW);
    CHECK(q.col_text(0) == "alice");
    CHECK(q.col_i64(1) == 1);
}

TEST_CASE("a newer schema and another program's tables are refused, and nothing is added") {
    auto newer = memory();
    REQUIRE(newer.exec("PRAGMA user_version = 99", "set").ok());
    auto v = migrate(newer);
    REQUIRE_FALSE(v.ok());
    CHECK(v.error().find("database schema 99 is newer than this darkchat") != std::string::npos);

    auto other = memory();
    REQUIRE(other.exec("CREATE TABLE photos (id INTEGER)", "create").ok());
    auto o = migrate(other);
    REQUIRE_FALSE(o.ok());
    CHECK(o.error().find("is an SQLite database but not darkchat's") != std::string::npos);
    CHECK(tables(other) == std::set<std::string>{"photos"});
    CHECK(*other.user_version() == 0);
}

TEST_CASE("a room's names are kept one per line and read back the same") {
    const std::vector<std::string> names{"alice", "bob", "c.d-e_f"};
    CHECK(join_names(names) == "alice\nbob\nc.d-e_f");
    CHECK(split_names(join_names(names)) == names);
    CHECK(split_names("").empty());
    CHECK(split_names("alice\n\nbob\n") == std::vector<std::string>{"alice", "bob"});
}
