// The checks a database passes at start-up, and Store::open (startup.hpp).
#include "impl.hpp"
#include "startup.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

namespace dc::store {

namespace {


// The directory that holds path ("." for a bare file name).
std::string parent_dir(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

Error read_only_error(const std::string& path, const std::string& why) {
    return err("store: " + path + " is read-only (" + why + "): darkchat must be able to write its database");
}

}  // namespace

Result<void> create_private_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST) return {};
        if (errno == ENOSPC || errno == EDQUOT)
            return err("store: disk full: cannot create " + path + "; free some space and start again");
        return err("store: cannot create " + path + ": " + std::generic_category().message(errno));
    }
    int rc = ::fchmod(fd, 0600);
    int saved = errno;
    ::close(fd);
    if (rc != 0) return err("store: cannot chmod " + path + ": " + std::generic_category().message(saved));
    return {};
}

Result<void> check_file(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return err("store: cannot read " + path + ": " + std::generic_category().message(errno));
    if (!S_ISREG(st.st_mode)) return err("store: " + path + " is not a file");
    if (st.st_size == 0) {
        return err("store: " + path +
                   " is empty (0 bytes): not making a new identity over it; move it away to start afresh");
    }
    if ((st.st_mode & S_IWUSR) == 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        return read_only_error(path, std::string("mode ") + mode);
    }
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        if (e == EACCES || e == EPERM || e == EROFS) return read_only_error(path, std::generic_category().message(e));
        return err("store: cannot open " + path + ": " + std::generic_category().message(e));
    }
    char head[16] = {};
    ssize_t n = ::pread(fd, head, sizeof head, 0);
    ::close(fd);
    if (n != static_cast<ssize_t>(sizeof head) || std::memcmp(head, "SQLite format 3", sizeof head) != 0)
        return err("store: " + path + " is not a darkchat database");
    // WAL makes its -wal and -shm files beside the database.
    std::string dir = parent_dir(path);
    if (::access(dir.c_str(), W_OK | X_OK) != 0 && (errno == EROFS || errno == EACCES || errno == EPERM)) {
        return err("store: " + dir + " is read-only (" + std::generic_category().message(errno) +
                   "): darkchat makes files beside " + path);
    }
    return {};
}


Error open_error(sqlite3* db, int rc, const std::string& path, Fault& fault) {
    fault = classify(db, rc);
    switch (fault) {
    case Fault::disk_full:
        return err("store: disk full: cannot open " + path + "; free some space and start again");
    case Fault::read_only:
        return read_only_error(path, db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    case Fault::corrupt:
        return err("store: " + path + " is corrupt: restore it from a backup, or move it away to start afresh");
    case Fault::not_a_database:
        return err("store: " + path + " is not a darkchat database");
    default:
        return db_error(db, rc, path, fault);
    }
}

Result<void> check_contents(Connection& conn) {
    auto& path = conn.path;
    auto& fault = conn.fault;
    if (sqlite3_db_readonly(conn.raw(), "main") == 1) {
        fault = Fault::read_only;
        return read_only_error(path, "opened read-only");
    }
    auto step_one = [&](const char* sql, StmtPtr& s) -> int {
        sqlite3_stmt* raw_stmt = nullptr;
        int rc = sqlite3_prepare_v2(conn.raw(), sql, -1, &raw_stmt, nullptr);
        s.reset(raw_stmt);
        return rc != SQLITE_OK ? rc : sqlite3_step(s.get());
    };
    StmtPtr s;
    // The first read: a file that is not a database, a corrupt first page or a
    // full disk (the WAL index is made now) show here.
    int rc = step_one("PRAGMA user_version", s);
    if (rc != SQLITE_ROW) return open_error(conn.raw(), rc, path, fault);
    const auto v = sqlite3_column_int64(s.get(), 0);
    if (v > kSchemaVersion) {
        fault = Fault::other;
        return err("store: " + path + ": database schema " + std::to_string(v) + " is newer than this darkchat (" +
                   std::to_string(kSchemaVersion) + ")");
    }
    rc = step_one("SELECT count(*) FROM sqlite_master", s);
    if (rc != SQLITE_ROW) return open_error(conn.raw(), rc, path, fault);
    if (v == 0) {
        // Ours are created with their schema in the same start; this one has none of it.
        fault = Fault::not_a_database;
        return err("store: " + path + " is an SQLite database but not darkchat's");
    }
    rc = step_one("PRAGMA quick_check(1)", s);
    if (rc != SQLITE_ROW) return open_error(conn.raw(), rc, path, fault);
    const auto* first = reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 0));
    std::string verdict = first != nullptr ? first : "";
    if (verdict != "ok") {
        // Its first line may only name the schema ("*** in database main ***").
        if (auto nl = verdict.rfind('\n'); nl != std::string::npos) verdict.erase(0, nl + 1);
        fault = Fault::corrupt;
        return err("store: " + path + " is corrupt (" + verdict +
                   "): restore it from a backup, or move it away to start afresh");
    }
    return {};
}

Result<void> configure(Connection& conn) {
    auto& path = conn.path;
    auto& fault = conn.fault;
    sqlite3_extended_result_codes(conn.raw(), 1);
    sqlite3_busy_timeout(conn.raw(), kBusyTimeoutMs);

    // The first statement reads the file: this is where a file that is not a
    // database shows itself.
    StmtPtr s;
    sqlite3_stmt* raw_stmt = nullptr;
    int rc = sqlite3_prepare_v2(conn.raw(), "PRAGMA journal_mode=WAL", -1, &raw_stmt, nullptr);
    s.reset(raw_stmt);
    if (rc == SQLITE_OK) {
        Query q(s.get());
        rc = q.step();
        if (rc == SQLITE_ROW) {
            std::string mode = q.col_text(0);
            if (mode != "wal" && !(path == ":memory:" && mode == "memory")) {
                return err("store: cannot use WAL mode for " + path + " (journal mode is " + mode + ")");
            }
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK) return open_error(conn.raw(), rc, path, fault);

    // WAL with synchronous=NORMAL survives a killed process (a power cut may
    // lose the newest transactions, never consistency).
    if (auto r = conn.exec("PRAGMA synchronous=NORMAL", path); !r) return r;
    // Checkpoints happen in checkpoint_if_due(), not inside a commit.
    sqlite3_wal_autocheckpoint(conn.raw(), 0);
    sqlite3_wal_hook(
        conn.raw(),
        [](void* self, sqlite3*, const char*, int pages) {
            static_cast<Connection*>(self)->wal_pages = pages;
            return SQLITE_OK;
        },
        &conn);
    if (auto r = conn.exec("PRAGMA foreign_keys=ON", path); !r) return r;
    // A node reads its whole store once at start-up and then writes little
    // rows; SQLite's default page cache would keep most of the file in the
    // heap for the life of the process, while the kernel's file cache
    // already holds the pages a later read needs.
    if (auto r = conn.exec("PRAGMA cache_size=-256", path); !r) return r;
    // Deleted and overwritten content is zeroed, so that a plain secret key
    // does not linger in free space once it is sealed with a passphrase.
    if (auto r = conn.exec("PRAGMA secure_delete=ON", path); !r) return r;
    return {};
}

Result<std::unique_ptr<Store>> Store::open(const std::string& path) {
    if (path.empty()) return err("store: empty database path");
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    if (path == ":memory:") {
        sqlite3* db = nullptr;
        int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
        impl->db.reset(db);
        if (rc != SQLITE_OK) return err(std::string("store: cannot open :memory: ") + sqlite3_errstr(rc));
        if (auto r = configure(*impl); !r) return err(r.error());
        auto v = migrate(*impl);
        if (!v) return err(v.error());
        impl->version = *v;
        if (auto r = prepare_statements(*impl, *impl); !r) return err(r.error());
        return std::unique_ptr<Store>(new Store(std::move(impl)));
    }

    // A new database only where there is no file at all: never over one that
    // cannot be read, whatever the reason.
    struct stat st {};
    const bool fresh = ::lstat(path.c_str(), &st) != 0 && errno == ENOENT;
    // The files SQLite may add beside the database, and which of them are
    // there before it opens: a refused open removes the ones it added.
    const char* const kBeside[] = {"-wal", "-shm", "-journal"};
    bool there_before[std::size(kBeside)] = {};
    for (std::size_t i = 0; i < std::size(kBeside); ++i)
        there_before[i] = !fresh && ::lstat((path + kBeside[i]).c_str(), &st) == 0;
    if (fresh) {
        if (auto r = create_private_file(path); !r) return err(r.error());
    } else if (auto r = check_file(path); !r) {
        return err(r.error());
    }

    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
    impl->db.reset(db);  // a handle is returned even on failure and must be closed
    Result<void> started;
    if (rc != SQLITE_OK) {
        started = open_error(db, rc, path, impl->fault);
    } else {
        sqlite3_extended_result_codes(db, 1);
        sqlite3_busy_timeout(db, kBusyTimeoutMs);
        if (!fresh) started = check_contents(*impl);
        if (started) started = configure(*impl);
        if (started) {
            auto v = migrate(*impl);
            if (v) {
                impl->version = *v;
            } else {
                started = err(v.error());
            }
        }
        if (started) started = prepare_statements(*impl, *impl);
    }
    if (!started) {
        impl.reset();  // closed before its files are removed
        if (fresh) ::unlink(path.c_str());
        for (std::size_t i = 0; i < std::size(kBeside); ++i) {
            if (!there_before[i]) ::unlink((path + kBeside[i]).c_str());
        }
        return err(started.error());
    }
    return std::unique_ptr<Store>(new Store(std::move(impl)));
}

}  // namespace dc::store
