// The store's start-up checks alone, on files made for each case: what is refused
// before SQLite opens a file and after, and the file a new database starts from.
#include "store/startup.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace dc;
using namespace dc::store;

namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed at the end.
struct TempDir {
    TempDir() {
        char tmpl[] = "/tmp/dc_startup_XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string file(const std::string& name, const std::string& content) const {
        std::string p = path + "/" + name;
        std::ofstream(p, std::ios::binary) << content;
        return p;
    }
    std::string path;
};

Connection open_file(const std::string& path) {
    Connection c;
    c.path = path;
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) == SQLITE_OK);
    c.db.reset(db);
    return c;
}

std::string refusal(const Result<void>& r) {
    REQUIRE_FALSE(r.ok());
    return r.error();
}

}  // namespace

TEST_CASE("a new database file is private to its owner whatever the umask, and an existing one is left alone") {
    TempDir d;
    const std::string p = d.path + "/new.db";
    const mode_t old = ::umask(0);
    REQUIRE(create_private_file(p).ok());
    ::umask(old);
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    std::ofstream(p, std::ios::app) << "x";
    REQUIRE(create_private_file(p).ok());
    CHECK(fs::file_size(p) == 1);
    CHECK(refusal(create_private_file(d.path + "/missing/dir.db")).find("cannot create") != std::string::npos);
}

TEST_CASE("files that are not a writable darkchat database are refused before SQLite opens them") {
    TempDir d;
    CHECK(refusal(check_file(d.path + "/absent.db")).find("cannot read") != std::string::npos);
    CHECK(refusal(check_file(d.path)).find("is not a file") != std::string::npos);
    CHECK(refusal(check_file(d.file("empty.db", ""))).find("is empty (0 bytes)") != std::string::npos);
    CHECK(refusal(check_file(d.file("notes.txt", "dear diary, today I wrote sixteen+ bytes")))
              .find("is not a darkchat database") != std::string::npos);
    const std::string ro = d.file("ro.db", std::string("SQLite format 3") + '\0' + "rest");
    REQUIRE(::chmod(ro.c_str(), 0400) == 0);
    CHECK(refusal(check_file(ro)).find("is read-only (mode 0400)") != std::string::npos);
    REQUIRE(::chmod(ro.c_str(), 0600) == 0);
    CHECK(check_file(ro).ok());  // the header is all this check reads
}

TEST_CASE("an SQLite file is checked for its schema before anything is written, and then configured for WAL") {
    TempDir d;
    const std::string foreign = d.path + "/foreign.db";
    {
        auto c = open_file(foreign);
        REQUIRE(c.exec("CREATE TABLE photos (id INTEGER)", "create").ok());
    }
    auto c = open_file(foreign);
    CHECK(refusal(check_contents(c)).find("is an SQLite database but not darkchat's") != std::string::npos);
    CHECK(c.fault == Fault::not_a_database);

    const std::string newer = d.path + "/newer.db";
    {
        auto n = open_file(newer);
        REQUIRE(n.exec("PRAGMA user_version = 99", "set").ok());
    }
    auto n = open_file(newer);
    CHECK(refusal(check_contents(n)).find("database schema 99 is newer") != std::string::npos);

    const std::string ours = d.path + "/ours.db";
    {
        auto o = open_file(ours);
        REQUIRE(o.exec("CREATE TABLE identity (id INTEGER); PRAGMA user_version = 1", "create").ok());
    }
    auto o = open_file(ours);
    CHECK(check_contents(o).ok());
    REQUIRE(configure(o).ok());
    {
        StmtPtr s;
        REQUIRE(o.prepare(s, "PRAGMA journal_mode").ok());
        Query q(s.get());
        REQUIRE(q.step() == SQLITE_ROW);
        CHECK(q.col_text(0) == "wal");
    }
    // Commits count the log's pages for checkpoint_if_due instead of checkpointing.
    REQUIRE(o.exec("INSERT INTO identity VALUES (1)", "insert").ok());
    CHECK(o.wal_pages > 0);
}

TEST_CASE("a database that cannot be opened is described by its path and cause") {
    Fault f = Fault::none;
    CHECK(open_error(nullptr, SQLITE_CORRUPT, "/x/y.db", f).message ==
          "store: /x/y.db is corrupt: restore it from a backup, or move it away to start afresh");
    CHECK(f == Fault::corrupt);
    CHECK(open_error(nullptr, SQLITE_NOTADB, "/x/y.db", f).message == "store: /x/y.db is not a darkchat database");
    CHECK(open_error(nullptr, SQLITE_FULL, "/x/y.db", f).message.find("disk full: cannot open /x/y.db") !=
          std::string::npos);
    CHECK(f == Fault::disk_full);
}
