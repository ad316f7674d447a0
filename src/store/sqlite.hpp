// Internal to src/store: owning SQLite handles, one use of a prepared statement
// (Query), a transaction that rolls back unless committed, one connection with the
// fault of its last failed call, and what kind of failure an SQLite result code is.
// Only src/store includes <sqlite3.h>.
#pragma once

#include "darkchat/store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <limits>
#include <string_view>

namespace dc::store {

struct DbClose {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalize {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, DbClose>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalize>;

// What kind of failure rc is. SQLite reports some failures of the file system
// (ENOSPC while it sizes the WAL index, EROFS while it makes the -wal file) as
// SQLITE_IOERR or SQLITE_CANTOPEN; the errno of the failed call tells them apart.
// Call it before anything else touches the connection.
Fault classify(sqlite3* db, int rc);

// A short, clear message for a failed SQLite call, and its kind in fault.
// Call it before anything else touches the connection, or sqlite3_errmsg
// describes the wrong call.
Error db_error(sqlite3* db, int rc, std::string_view what, Fault& fault);

// A row that breaks the schema's promises (a blob of the wrong size).
Error corrupt_row(Fault& fault, std::string_view table);

// One use of a cached statement: binds parameters in order, steps, reads
// columns, and resets the statement when it goes out of scope so that it holds
// no read transaction open.
class Query {
public:
    explicit Query(sqlite3_stmt* s) : s_(s) {}
    ~Query() {
        sqlite3_reset(s_);
        sqlite3_clear_bindings(s_);
    }
    Query(const Query&) = delete;
    Query& operator=(const Query&) = delete;

    Query& i64(std::int64_t v) { return check(sqlite3_bind_int64(s_, next_++, v)); }
    Query& null() { return check(sqlite3_bind_null(s_, next_++)); }
    Query& text(std::string_view v) {
        // A null pointer would bind NULL, not an empty string.
        const char* p = v.data() != nullptr ? v.data() : "";
        return check(sqlite3_bind_text64(s_, next_++, p, v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
    }
    Query& blob(ByteView v) {
        // sqlite3_bind_blob with a null pointer binds NULL, not an empty blob.
        if (v.empty()) return check(sqlite3_bind_zeroblob(s_, next_++, 0));
        return check(sqlite3_bind_blob64(s_, next_++, v.data(), v.size(), SQLITE_TRANSIENT));
    }
    template <std::size_t N>
    Query& blob(const std::array<std::uint8_t, N>& a) { return blob(ByteView(a.data(), a.size())); }

    // SQLITE_ROW, SQLITE_DONE, or an error code (also a failed bind).
    int step() { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(s_); }

    // Runs a statement that returns no rows.
    int run() {
        int rc = step();
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
    }

    std::int64_t col_i64(int i) const { return sqlite3_column_int64(s_, i); }
    bool col_null(int i) const { return sqlite3_column_type(s_, i) == SQLITE_NULL; }
    std::string col_text(int i) const {
        auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
        int n = sqlite3_column_bytes(s_, i);
        return p != nullptr ? std::string(p, static_cast<std::size_t>(n)) : std::string();
    }
    Bytes col_bytes(int i) const {
        auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s_, i));
        int n = sqlite3_column_bytes(s_, i);
        return p != nullptr ? Bytes(p, p + n) : Bytes();
    }
    // False when the stored blob does not have the array's size.
    template <std::size_t N>
    bool col_array(int i, std::array<std::uint8_t, N>& out) const {
        auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s_, i));
        int n = sqlite3_column_bytes(s_, i);
        if (p == nullptr || static_cast<std::size_t>(n) != N) return false;
        std::copy(p, p + N, out.begin());
        return true;
    }

private:
    Query& check(int rc) {
        if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
        return *this;
    }

    sqlite3_stmt* s_;
    int next_ = 1;
    int bind_rc_ = SQLITE_OK;
};

inline std::int64_t clamp_limit(std::size_t n) {
    constexpr auto max = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
    return static_cast<std::int64_t>(std::min(n, max));
}

inline std::int64_t as_i64(std::uint64_t v) { return static_cast<std::int64_t>(v); }  // bit pattern kept

// A transaction that rolls back unless committed. Leaves the connection
// outside any transaction in every case.
class Transaction {
public:
    Transaction(sqlite3* db, sqlite3_stmt* rollback, Fault& fault) : db_(db), rollback_(rollback), fault_(fault) {}
    ~Transaction() { end(); }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    Result<void> begin(sqlite3_stmt* begin) {
        int rc = Query(begin).run();
        if (rc != SQLITE_OK) return db_error(db_, rc, "begin", fault_);
        return {};
    }
    Result<void> commit(sqlite3_stmt* commit) {
        int rc = Query(commit).run();
        if (rc != SQLITE_OK) return db_error(db_, rc, "commit", fault_);  // the destructor rolls back
        return {};
    }
    // Rolls back if a transaction is still open (some errors end it themselves).
    void end() {
        if (sqlite3_get_autocommit(db_) == 0) {
            if (rollback_ != nullptr) {
                Query(rollback_).run();
            } else {
                sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
            }
        }
    }

private:
    sqlite3* db_;
    sqlite3_stmt* rollback_;  // null before the statements are prepared
    Fault& fault_;
};

// One connection to a database file, and what its calls last went wrong with.
struct Connection {
    DbPtr db;
    std::string path;
    Fault fault = Fault::none;  // of the last call that failed, none after one that succeeded
    int wal_pages = 0;          // pages in the write-ahead log after the last commit

    sqlite3* raw() const { return db.get(); }
    Result<void> exec(const char* sql, std::string_view what);
    Result<void> prepare(StmtPtr& out, const char* sql);
    Result<int> user_version();
};

}  // namespace dc::store
