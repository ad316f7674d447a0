// The store's SQLite layer alone: result codes as faults, one use of a statement,
// transactions that roll back unless committed, and a connection's calls.
#include "store/sqlite.hpp"

#include "store_memory.hpp"

#include <doctest/doctest.h>

using namespace dc;
using namespace dc::store;
using dc::store::testing::memory;

namespace {

std::int64_t count(Connection& c, const char* sql) {
    StmtPtr s;
    REQUIRE(c.prepare(s, sql).ok());
    Query q(s.get());
    REQUIRE(q.step() == SQLITE_ROW);
    return q.col_i64(0);
}

}  // namespace

TEST_CASE("result codes are faults: the transient ones, the permanent ones, success") {
    CHECK(classify(nullptr, SQLITE_OK) == Fault::none);
    CHECK(classify(nullptr, SQLITE_DONE) == Fault::none);
    CHECK(classify(nullptr, SQLITE_FULL) == Fault::disk_full);
    CHECK(classify(nullptr, SQLITE_BUSY_SNAPSHOT) == Fault::busy);
    CHECK(classify(nullptr, SQLITE_LOCKED) == Fault::busy);
    CHECK(classify(nullptr, SQLITE_IOERR_NOMEM) == Fault::out_of_memory);
    CHECK(classify(nullptr, SQLITE_READONLY) == Fault::read_only);
    CHECK(classify(nullptr, SQLITE_CORRUPT) == Fault::corrupt);
    CHECK(classify(nullptr, SQLITE_NOTADB) == Fault::not_a_database);
    CHECK(classify(nullptr, SQLITE_IOERR_WRITE) == Fault::io);
    CHECK(classify(nullptr, SQLITE_CONSTRAINT) == Fault::other);
    CHECK(is_transient(classify(nullptr, SQLITE_FULL)));
    CHECK_FALSE(is_transient(classify(nullptr, SQLITE_CORRUPT)));

    Fault f = Fault::none;
    CHECK(db_error(nullptr, SQLITE_FULL, "put user", f).message == "store: disk full");
    CHECK(f == Fault::disk_full);
    CHECK(db_error(nullptr, SQLITE_CONSTRAINT, "put user", f).message.rfind("store: put user: ", 0) == 0);
    CHECK(f == Fault::other);
    CHECK(corrupt_row(f, "rooms").message == "store: database is corrupt (bad row in rooms)");
    CHECK(f == Fault::corrupt);
}

TEST_CASE("a query binds in order, keeps empty text and blobs apart from NULL, and reads back what it stored") {
    auto c = memory();
    REQUIRE(c.exec("CREATE TABLE t (i INTEGER, s TEXT, b BLOB, n BLOB)", "create").ok());
    StmtPtr put, get;
    REQUIRE(c.prepare(put, "INSERT INTO t VALUES (?, ?, ?, ?)").ok());
    REQUIRE(c.prepare(get, "SELECT i, s, b, n FROM t ORDER BY rowid").ok());
    const std::array<std::uint8_t, 4> key{1, 0, 2, 0};
    CHECK(Query(put.get()).i64(as_i64(~std::uint64_t{0})).text("").blob(ByteView{}).null().run() == SQLITE_OK);
    CHECK(Query(put.get()).i64(7).text("x").blob(key).blob(key).run() == SQLITE_OK);

    Query q(get.get());
    REQUIRE(q.step() == SQLITE_ROW);
    CHECK(static_cast<std::uint64_t>(q.col_i64(0)) == ~std::uint64_t{0});  // the bit pattern is kept
    CHECK_FALSE(q.col_null(1));
    CHECK(q.col_text(1).empty());
    CHECK_FALSE(q.col_null(2));
    CHECK(q.col_bytes(2).empty());
    CHECK(q.col_null(3));
    REQUIRE(q.step() == SQLITE_ROW);
    std::array<std::uint8_t, 4> back{};
    CHECK(q.col_array(2, back));
    CHECK(back == key);
    std::array<std::uint8_t, 8> wrong{};
    CHECK_FALSE(q.col_array(2, wrong));  // a blob of another size is not the array
    CHECK(q.step() == SQLITE_DONE);
    CHECK(clamp_limit(~std::size_t{0}) == std::numeric_limits<std::int64_t>::max());
}

TEST_CASE("a transaction that is not committed rolls back, and a failed bind fails the step") {
    auto c = memory();
    REQUIRE(c.exec("CREATE TABLE t (i INTEGER NOT NULL)", "create").ok());
    StmtPtr begin, commit, put;
    REQUIRE(c.prepare(begin, "BEGIN IMMEDIATE").ok());
    REQUIRE(c.prepare(commit, "COMMIT").ok());
    REQUIRE(c.prepare(put, "INSERT INTO t VALUES (?)").ok());
    {
        Transaction tx(c.raw(), nullptr, c.fault);
        REQUIRE(tx.begin(begin.get()).ok());
        CHECK(Query(put.get()).i64(1).run() == SQLITE_OK);
    }
    CHECK(count(c, "SELECT count(*) FROM t") == 0);
    CHECK(sqlite3_get_autocommit(c.raw()) != 0);
    {
        Transaction tx(c.raw(), nullptr, c.fault);
        REQUIRE(tx.begin(begin.get()).ok());
        CHECK(Query(put.get()).i64(2).run() == SQLITE_OK);
        REQUIRE(tx.commit(commit.get()).ok());
    }
    CHECK(count(c, "SELECT count(*) FROM t") == 1);

    CHECK(Query(put.get()).null().run() == SQLITE_CONSTRAINT_NOTNULL);
    Query extra(put.get());
    extra.i64(3).i64(4);  // one parameter too many
    CHECK(extra.run() == SQLITE_RANGE);
}

TEST_CASE("a connection reports its user_version and the fault of a failed call") {
    auto c = memory();
    auto v = c.user_version();
    REQUIRE(v.ok());
    CHECK(*v == 0);
    REQUIRE(c.exec("PRAGMA user_version = 9", "set").ok());
    CHECK(*c.user_version() == 9);
    auto bad = c.exec("CREATE TABLE", "broken sql");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().rfind("store: broken sql: ", 0) == 0);
    CHECK(c.fault == Fault::other);
    StmtPtr s;
    CHECK_FALSE(c.prepare(s, "SELECT * FROM nowhere").ok());
}
