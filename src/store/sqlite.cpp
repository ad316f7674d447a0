// SQLite results as faults and messages, and one connection's calls (sqlite.hpp).
#include "sqlite.hpp"

#include <cerrno>

namespace dc::store {

Fault classify(sqlite3* db, int rc) {
    const int sys = db != nullptr ? sqlite3_system_errno(db) : 0;
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return Fault::none;
    case SQLITE_FULL:
        return Fault::disk_full;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return Fault::busy;
    case SQLITE_NOMEM:
        return Fault::out_of_memory;
    case SQLITE_READONLY:
        return Fault::read_only;
    case SQLITE_CORRUPT:
        return Fault::corrupt;
    case SQLITE_NOTADB:
        return Fault::not_a_database;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
        if (rc == SQLITE_IOERR_NOMEM) return Fault::out_of_memory;
        if (sys == ENOSPC || sys == EDQUOT) return Fault::disk_full;
        if (sys == EROFS || sys == EACCES || sys == EPERM) return Fault::read_only;
        return Fault::io;
    default:
        return Fault::other;
    }
}

// A short, clear message for a failed SQLite call, and its kind in fault.
// Call it before anything else touches the connection, or sqlite3_errmsg

Error db_error(sqlite3* db, int rc, std::string_view what, Fault& fault) {
    fault = classify(db, rc);
    std::string msg = "store: ";
    if (fault == Fault::disk_full || fault == Fault::read_only || fault == Fault::corrupt) {
        const char* file = db != nullptr ? sqlite3_db_filename(db, "main") : nullptr;
        if (file != nullptr && *file != '\0') {
            msg += file;
            msg += ": ";
        }
    }
    switch (fault) {
    case Fault::disk_full:
        return err(msg + "disk full");
    case Fault::busy:
        return err(msg + "database is locked (is another darkchat using this profile?)");
    case Fault::read_only:
        return err(msg + "database is read-only");
    case Fault::corrupt:
        return err(msg + "database is corrupt");
    case Fault::out_of_memory:
        return err(msg + "out of memory");
    default:
        break;
    }
    msg.append(what);
    msg += ": ";
    msg += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return err(std::move(msg));
}

Error corrupt_row(Fault& fault, std::string_view table) {
    fault = Fault::corrupt;
    return err("store: database is corrupt (bad row in " + std::string(table) + ")");
}

Result<void> Connection::exec(const char* sql, std::string_view what) {
    int rc = sqlite3_exec(raw(), sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return db_error(raw(), rc, what, fault);
    return {};
}

Result<void> Connection::prepare(StmtPtr& out, const char* sql) {
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v3(raw(), sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    out.reset(s);
    if (rc != SQLITE_OK) return db_error(raw(), rc, "prepare", fault);
    return {};
}

Result<int> Connection::user_version() {
    StmtPtr s;
    if (auto r = prepare(s, "PRAGMA user_version"); !r) return err(r.error());
    Query q(s.get());
    int rc = q.step();
    if (rc != SQLITE_ROW) return db_error(raw(), rc, path, fault);
    return static_cast<int>(q.col_i64(0));
}

bool is_transient(Fault f) { return f == Fault::disk_full || f == Fault::busy || f == Fault::out_of_memory; }

const char* describe(Fault f) {
    switch (f) {
    case Fault::none: return "";
    case Fault::disk_full: return "disk full";
    case Fault::busy: return "database is locked";
    case Fault::out_of_memory: return "out of memory";
    case Fault::read_only: return "read-only";
    case Fault::corrupt: return "corrupt";
    case Fault::not_a_database: return "not a darkchat database";
    case Fault::io: return "I/O error";
    case Fault::other: return "error";
    }
    return "error";
}

}  // namespace dc::store
