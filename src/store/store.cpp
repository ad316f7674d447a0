// The SQLite store: schema migrations keyed on PRAGMA user_version, one cached
// prepared statement per query, and every write batch in one transaction.
// This is the only file that includes <sqlite3.h>.
//
// A Store is used from one thread at a time (its statements are shared state).
#include "darkchat/store.hpp"

#include <sqlite3.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <system_error>
#include <type_traits>

namespace dc::store {

namespace {

constexpr int kSchemaVersion = 4;
constexpr int kBusyTimeoutMs = 5000;

// Migration N takes a database from user_version N-1 to N. Never edit a
// released migration; append a new one and bump kSchemaVersion.
constexpr const char* kMigrations[kSchemaVersion] = {
    // 1: the initial schema.
    R"sql(
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
)sql",
    // 2: the secret key may be sealed with a passphrase: exactly one of sk and
    // sk_sealed is set. SQLite cannot relax a column's constraint, so the
    // identity table is rebuilt; the row is copied unchanged.
    R"sql(
CREATE TABLE identity_v2 (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    user TEXT NOT NULL CHECK (user <> ''),
    pk BLOB NOT NULL CHECK (length(pk) = 32),
    sk BLOB CHECK (length(sk) = 64),
    session BLOB NOT NULL CHECK (length(session) = 8),
    sk_sealed BLOB CHECK (length(sk_sealed) > 0),
    CHECK ((sk IS NULL) <> (sk_sealed IS NULL))
);
INSERT INTO identity_v2 (id, user, pk, sk, session) SELECT id, user, pk, sk, session FROM identity;
DROP TABLE identity;
ALTER TABLE identity_v2 RENAME TO identity;
)sql",
    // 3: rooms on relays, so that a killed member loses none of its lines and shows
    // none twice (darkchat-rooms(7), DELIVERY). Names are kept one per line.
    R"sql(
CREATE TABLE rooms (
    room BLOB PRIMARY KEY NOT NULL CHECK (length(room) = 16),
    ticket_body BLOB NOT NULL,
    ticket_sig BLOB NOT NULL CHECK (length(ticket_sig) = 64),
    direct INTEGER NOT NULL CHECK (direct IN (0, 1)),
    mine INTEGER NOT NULL CHECK (mine IN (0, 1)),
    members TEXT NOT NULL,
    required TEXT NOT NULL,
    run INTEGER NOT NULL,
    next_seq INTEGER NOT NULL
);
CREATE TABLE room_lines (
    room BLOB NOT NULL CHECK (length(room) = 16),
    seq INTEGER NOT NULL,
    id BLOB NOT NULL CHECK (length(id) = 16),
    sent INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (room, seq)
);
CREATE TABLE room_cursors (
    room BLOB NOT NULL CHECK (length(room) = 16),
    author TEXT NOT NULL CHECK (author <> ''),
    run INTEGER NOT NULL,
    next INTEGER NOT NULL,
    PRIMARY KEY (room, author)
);
)sql",
    // 4: the order of direct chat (darkchat-protocol(7), ORDER): per stream (an
    // author's session, a recipient) what we numbered last or showed last.
    R"sql(
CREATE TABLE chat_seqs (
    session BLOB NOT NULL CHECK (length(session) = 8),
    peer TEXT NOT NULL CHECK (peer <> ''),
    seq INTEGER NOT NULL,
    PRIMARY KEY (session, peer)
) WITHOUT ROWID;
)sql",
};

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
// describes the wrong call.
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

std::int64_t clamp_limit(std::size_t n) {
    constexpr auto max = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
    return static_cast<std::int64_t>(std::min(n, max));
}

// A room's member lists, one name per line (user names have no newline).
std::string join_names(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) {
        if (!out.empty()) out += '\n';
        out += n;
    }
    return out;
}
std::vector<std::string> split_names(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        if (end > start) out.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

std::int64_t as_i64(std::uint64_t v) { return static_cast<std::int64_t>(v); }  // bit pattern kept

Error corrupt_row(Fault& fault, std::string_view table) {
    fault = Fault::corrupt;
    return err("store: database is corrupt (bad row in " + std::string(table) + ")");
}

// Creates path with mode 0600 if it does not exist yet. The explicit fchmod
// makes the mode independent of the umask.
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

// Checks an existing database file before SQLite opens it, reading only: a
// file of 0 bytes, a file that is not an SQLite database, a file or directory
// that cannot be written. Root ignores the permission bits, so a file whose
// owner took away the write bit is taken as read-only from its mode.
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

// The message for a database that cannot be opened or read at start-up: the
// path and the cause in one line.
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

}  // namespace

struct Store::Impl {
    DbPtr db;  // declared first: destroyed after the statements
    std::string path;
    int version = 0;
    Fault fault = Fault::none;  // of the last call that failed, none after one that succeeded
    int wal_pages = 0;          // pages in the write-ahead log after the last commit

    StmtPtr begin_deferred, begin_immediate, commit, rollback;
    StmtPtr load_identity, save_identity;
    StmtPtr put_user, put_session, delete_session, put_outbox, delete_outbox, put_history;
    StmtPtr all_users, all_sessions, all_outbox, seen_ids, peer_history;
    StmtPtr put_room, delete_room, delete_room_lines_all, delete_room_cursors, put_room_line, raise_next_seq,
        delete_room_lines, put_room_cursor, all_rooms, all_room_lines, all_room_cursors, put_chat_seq, all_chat_seqs;

    sqlite3* raw() const { return db.get(); }

    Result<void> exec(const char* sql, std::string_view what) {
        int rc = sqlite3_exec(raw(), sql, nullptr, nullptr, nullptr);
        if (rc != SQLITE_OK) return db_error(raw(), rc, what, fault);
        return {};
    }

    Result<void> prepare(StmtPtr& out, const char* sql) {
        sqlite3_stmt* s = nullptr;
        int rc = sqlite3_prepare_v3(raw(), sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
        out.reset(s);
        if (rc != SQLITE_OK) return db_error(raw(), rc, "prepare", fault);
        return {};
    }

    Result<int> user_version() {
        StmtPtr s;
        if (auto r = prepare(s, "PRAGMA user_version"); !r) return err(r.error());
        Query q(s.get());
        int rc = q.step();
        if (rc != SQLITE_ROW) return db_error(raw(), rc, path, fault);
        return static_cast<int>(q.col_i64(0));
    }

    Result<void> check_contents();
    Result<void> configure();
    Result<void> migrate();
    Result<void> prepare_all();
};

namespace {

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

}  // namespace

// Reads an existing database before anything is written to it (WAL mode,
// migrations): that it is darkchat's, not newer than this program, and
// intact. PRAGMA quick_check reads every page, so it costs time in proportion
// to the file; a darkchat database is small, and a corrupt page found now is
// a clear refusal instead of a node that runs and cannot save.
Result<void> Store::Impl::check_contents() {
    if (sqlite3_db_readonly(raw(), "main") == 1) {
        fault = Fault::read_only;
        return read_only_error(path, "opened read-only");
    }
    auto step_one = [&](const char* sql, StmtPtr& s) -> int {
        sqlite3_stmt* raw_stmt = nullptr;
        int rc = sqlite3_prepare_v2(raw(), sql, -1, &raw_stmt, nullptr);
        s.reset(raw_stmt);
        return rc != SQLITE_OK ? rc : sqlite3_step(s.get());
    };
    StmtPtr s;
    // The first read: a file that is not a database, a corrupt first page or a
    // full disk (the WAL index is made now) show here.
    int rc = step_one("PRAGMA user_version", s);
    if (rc != SQLITE_ROW) return open_error(raw(), rc, path, fault);
    const auto v = sqlite3_column_int64(s.get(), 0);
    if (v > kSchemaVersion) {
        fault = Fault::other;
        return err("store: " + path + ": database schema " + std::to_string(v) + " is newer than this darkchat (" +
                   std::to_string(kSchemaVersion) + ")");
    }
    rc = step_one("SELECT count(*) FROM sqlite_master", s);
    if (rc != SQLITE_ROW) return open_error(raw(), rc, path, fault);
    if (v == 0) {
        // Ours are created with their schema in the same start; this one has none of it.
        fault = Fault::not_a_database;
        return err("store: " + path + " is an SQLite database but not darkchat's");
    }
    rc = step_one("PRAGMA quick_check(1)", s);
    if (rc != SQLITE_ROW) return open_error(raw(), rc, path, fault);
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

Result<void> Store::Impl::configure() {
    sqlite3_extended_result_codes(raw(), 1);
    sqlite3_busy_timeout(raw(), kBusyTimeoutMs);

    // The first statement reads the file: this is where a file that is not a
    // database shows itself.
    StmtPtr s;
    sqlite3_stmt* raw_stmt = nullptr;
    int rc = sqlite3_prepare_v2(raw(), "PRAGMA journal_mode=WAL", -1, &raw_stmt, nullptr);
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
    if (rc != SQLITE_OK) return open_error(raw(), rc, path, fault);

    // WAL with synchronous=NORMAL survives a killed process (a power cut may
    // lose the newest transactions, never consistency).
    if (auto r = exec("PRAGMA synchronous=NORMAL", path); !r) return r;
    // Checkpoints happen in checkpoint_if_due(), not inside a commit.
    sqlite3_wal_autocheckpoint(raw(), 0);
    sqlite3_wal_hook(
        raw(),
        [](void* self, sqlite3*, const char*, int pages) {
            static_cast<Impl*>(self)->wal_pages = pages;
            return SQLITE_OK;
        },
        this);
    if (auto r = exec("PRAGMA foreign_keys=ON", path); !r) return r;
    // Deleted and overwritten content is zeroed, so that a plain secret key
    // does not linger in free space once it is sealed with a passphrase.
    if (auto r = exec("PRAGMA secure_delete=ON", path); !r) return r;
    return {};
}

Result<void> Store::Impl::migrate() {
    auto before = user_version();
    if (!before) return err(before.error());
    if (*before > kSchemaVersion) {
        return err("store: " + path + ": database schema " + std::to_string(*before) +
                   " is newer than this darkchat (" + std::to_string(kSchemaVersion) + ")");
    }
    if (*before == kSchemaVersion) {
        version = *before;
        return {};
    }

    Transaction tx(raw(), nullptr, fault);
    if (int rc = sqlite3_exec(raw(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr); rc != SQLITE_OK) {
        return db_error(raw(), rc, path, fault);
    }
    // Read again under the write lock: another process may have migrated meanwhile.
    auto current = user_version();
    if (!current) return err(current.error());
    int v = *current;
    if (v > kSchemaVersion) {
        return err("store: " + path + ": database schema " + std::to_string(v) +
                   " is newer than this darkchat (" + std::to_string(kSchemaVersion) + ")");
    }
    if (v == 0) {
        // A fresh darkchat database is empty; refuse to add tables to someone else's.
        StmtPtr s;
        if (auto r = prepare(s, "SELECT count(*) FROM sqlite_master"); !r) return r;
        Query q(s.get());
        int rc = q.step();
        if (rc != SQLITE_ROW) return db_error(raw(), rc, path, fault);
        if (q.col_i64(0) != 0) return err("store: " + path + " is an SQLite database but not darkchat's");
    }
    for (; v < kSchemaVersion; ++v) {
        auto what = "migrating " + path + " to schema " + std::to_string(v + 1);
        if (auto r = exec(kMigrations[v], what); !r) return r;
        // PRAGMA takes no bound parameters; the value is a constant of this program.
        auto pragma = "PRAGMA user_version = " + std::to_string(v + 1);
        if (auto r = exec(pragma.c_str(), what); !r) return r;
    }
    if (int rc = sqlite3_exec(raw(), "COMMIT", nullptr, nullptr, nullptr); rc != SQLITE_OK) {
        return db_error(raw(), rc, path, fault);
    }
    version = v;
    return {};
}

Result<void> Store::Impl::prepare_all() {
    struct Entry {
        StmtPtr* stmt;
        const char* sql;
    };
    const Entry entries[] = {
        {&begin_deferred, "BEGIN"},
        {&begin_immediate, "BEGIN IMMEDIATE"},
        {&commit, "COMMIT"},
        {&rollback, "ROLLBACK"},
        {&load_identity, "SELECT user, pk, sk, session, sk_sealed FROM identity WHERE id = 1"},
        {&save_identity,
         "INSERT INTO identity (id, user, pk, sk, session, sk_sealed) VALUES (1, ?, ?, ?, ?, ?) "
         "ON CONFLICT (id) DO UPDATE SET user = excluded.user, pk = excluded.pk, "
         "sk = excluded.sk, session = excluded.session, sk_sealed = excluded.sk_sealed"},
        {&put_user,
         "INSERT INTO users (name, key, contact, first_seen) VALUES (?, ?, ?, ?) "
         "ON CONFLICT (name) DO UPDATE SET key = excluded.key, contact = excluded.contact, "
         "first_seen = excluded.first_seen"},
        {&put_session,
         "INSERT INTO sessions (user, session, decl_body, decl_sig, seq, addr_family, addr_ip, "
         "addr_port, online, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
         "ON CONFLICT (user, session) DO UPDATE SET decl_body = excluded.decl_body, "
         "decl_sig = excluded.decl_sig, seq = excluded.seq, addr_family = excluded.addr_family, "
         "addr_ip = excluded.addr_ip, addr_port = excluded.addr_port, online = excluded.online, "
         "last_seen = excluded.last_seen"},
        {&delete_session, "DELETE FROM sessions WHERE user = ? AND session = ?"},
        {&put_outbox,
         "INSERT INTO outbox (id, target, msg_body, msg_sig, queued) VALUES (?, ?, ?, ?, ?) "
         "ON CONFLICT (id, target) DO UPDATE SET msg_body = excluded.msg_body, "
         "msg_sig = excluded.msg_sig, queued = excluded.queued"},
        {&delete_outbox, "DELETE FROM outbox WHERE id = ? AND target = ?"},
        // History is immutable and ids are unique: the first copy wins.
        {&put_history,
         "INSERT OR IGNORE INTO history (id, from_user, to_user, sent, stored, text) "
         "VALUES (?, ?, ?, ?, ?, ?)"},
        {&all_users, "SELECT name, key, contact, first_seen FROM users ORDER BY name"},
        {&all_sessions,
         "SELECT user, session, decl_body, decl_sig, seq, addr_family, addr_ip, addr_port, "
         "online, last_seen FROM sessions ORDER BY user, session"},
        {&all_outbox,
         "SELECT id, target, msg_body, msg_sig, queued FROM outbox ORDER BY queued, rowid"},
        {&seen_ids, "SELECT id, from_user, sent FROM history ORDER BY stored DESC, rowid DESC LIMIT ?"},
        {&put_room,
         "INSERT INTO rooms (room, ticket_body, ticket_sig, direct, mine, members, required, run, next_seq) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
         "ON CONFLICT (room) DO UPDATE SET ticket_body = excluded.ticket_body, ticket_sig = excluded.ticket_sig, "
         "direct = excluded.direct, mine = excluded.mine, members = excluded.members, required = excluded.required, "
         "run = excluded.run, next_seq = max(next_seq, excluded.next_seq)"},
        {&delete_room, "DELETE FROM rooms WHERE room = ?"},
        {&delete_room_lines_all, "DELETE FROM room_lines WHERE room = ?"},
        {&delete_room_cursors, "DELETE FROM room_cursors WHERE room = ?"},
        {&put_room_line,
         "INSERT INTO room_lines (room, seq, id, sent, text) VALUES (?, ?, ?, ?, ?) "
         "ON CONFLICT (room, seq) DO UPDATE SET id = excluded.id, sent = excluded.sent, text = excluded.text"},
        {&raise_next_seq, "UPDATE rooms SET next_seq = max(next_seq, ?2 + 1) WHERE room = ?1"},
        {&delete_room_lines, "DELETE FROM room_lines WHERE room = ? AND seq <= ?"},
        {&put_room_cursor,
         "INSERT INTO room_cursors (room, author, run, next) VALUES (?, ?, ?, ?) "
         "ON CONFLICT (room, author) DO UPDATE SET run = excluded.run, next = excluded.next"},
        {&all_rooms,
         "SELECT room, ticket_body, ticket_sig, direct, mine, members, required, run, next_seq FROM rooms ORDER BY room"},
        {&all_room_lines, "SELECT room, seq, id, sent, text FROM room_lines ORDER BY room, seq"},
        {&all_room_cursors, "SELECT room, author, run, next FROM room_cursors ORDER BY room, author"},
        {&put_chat_seq,
         "INSERT INTO chat_seqs (session, peer, seq) VALUES (?, ?, ?) "
         "ON CONFLICT (session, peer) DO UPDATE SET seq = max(seq, excluded.seq)"},
        {&all_chat_seqs, "SELECT session, peer, seq FROM chat_seqs ORDER BY session, peer"},
        {&peer_history,
         "SELECT id, from_user, to_user, sent, stored, text FROM history "
         "WHERE from_user = ?1 OR to_user = ?1 ORDER BY stored DESC, rowid DESC LIMIT ?2"},
    };
    for (const auto& e : entries) {
        if (auto r = prepare(*e.stmt, e.sql); !r) return r;
    }
    return {};
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::open(const std::string& path) {
    if (path.empty()) return err("store: empty database path");
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    if (path == ":memory:") {
        sqlite3* db = nullptr;
        int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
        impl->db.reset(db);
        if (rc != SQLITE_OK) return err(std::string("store: cannot open :memory: ") + sqlite3_errstr(rc));
        if (auto r = impl->configure(); !r) return err(r.error());
        if (auto r = impl->migrate(); !r) return err(r.error());
        if (auto r = impl->prepare_all(); !r) return err(r.error());
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
        if (!fresh) started = impl->check_contents();
        if (started) started = impl->configure();
        if (started) started = impl->migrate();
        if (started) started = impl->prepare_all();
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

int Store::schema_version() const { return impl_->version; }

Fault Store::fault() const { return impl_->fault; }

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

Result<std::optional<Identity>> Store::load_identity() {
    impl_->fault = Fault::none;
    Query q(impl_->load_identity.get());
    int rc = q.step();
    if (rc == SQLITE_DONE) return std::optional<Identity>();
    if (rc != SQLITE_ROW) return db_error(impl_->raw(), rc, "load identity", impl_->fault);
    Identity id;
    id.user = q.col_text(0);
    if (!q.col_array(1, id.pk) || !q.col_array(3, id.session)) return corrupt_row(impl_->fault, "identity");
    if (q.col_null(2)) {
        if (q.col_null(4)) return corrupt_row(impl_->fault, "identity");
        id.sk_sealed = q.col_bytes(4);
    } else if (!q.col_array(2, id.sk)) {
        return corrupt_row(impl_->fault, "identity");
    }
    return std::optional<Identity>(std::move(id));
}

Result<void> Store::save_identity(const Identity& id) {
    impl_->fault = Fault::none;
    Query q(impl_->save_identity.get());
    q.text(id.user).blob(id.pk);
    if (id.sk_sealed) {
        q.null().blob(id.session).blob(*id.sk_sealed);
    } else {
        q.blob(id.sk).blob(id.session).null();
    }
    if (int rc = q.run(); rc != SQLITE_OK) return db_error(impl_->raw(), rc, "save identity", impl_->fault);
    return {};
}

Result<void> Store::apply(const std::vector<StoreOp>& ops) {
    impl_->fault = Fault::none;
    if (ops.empty()) return {};
    Impl& s = *impl_;
    Transaction tx(s.raw(), s.rollback.get(), s.fault);
    if (auto r = tx.begin(s.begin_immediate.get()); !r) return r;

    for (const auto& op : ops) {
        const char* what = "";
        int rc = std::visit(
            [&](const auto& o) -> int {
                using T = std::decay_t<decltype(o)>;
                if constexpr (std::is_same_v<T, store_op::PutUser>) {
                    what = "put user";
                    const UserRecord& u = o.user;
                    return Query(s.put_user.get())
                        .text(u.name).blob(u.key).i64(u.contact ? 1 : 0).i64(u.first_seen)
                        .run();
                } else if constexpr (std::is_same_v<T, store_op::PutSession>) {
                    what = "put session";
                    const SessionRecord& r = o.session;
                    return Query(s.put_session.get())
                        .text(r.user).blob(r.session).blob(r.decl.body).blob(r.decl.sig)
                        .i64(static_cast<std::int64_t>(r.seq))  // bit pattern kept; read back as uint64
                        .i64(r.addr.family).blob(r.addr.ip).i64(r.addr.port)
                        .i64(r.online ? 1 : 0).i64(r.last_seen)
                        .run();
                } else if constexpr (std::is_same_v<T, store_op::DeleteSession>) {
                    what = "delete session";
                    return Query(s.delete_session.get()).text(o.user).blob(o.session).run();
                } else if constexpr (std::is_same_v<T, store_op::PutOutbox>) {
                    what = "put outbox";
                    const OutboxRecord& e = o.entry;
                    return Query(s.put_outbox.get())
                        .blob(e.id).text(e.target).blob(e.msg.body).blob(e.msg.sig).i64(e.queued)
                        .run();
                } else if constexpr (std::is_same_v<T, store_op::DeleteOutbox>) {
                    what = "delete outbox";
                    return Query(s.delete_outbox.get()).blob(o.id).text(o.target).run();
                } else if constexpr (std::is_same_v<T, store_op::PutHistory>) {
                    what = "put history";
                    const HistoryRecord& h = o.entry;
                    return Query(s.put_history.get())
                        .blob(h.id).text(h.from).text(h.to).i64(h.sent).i64(h.stored).text(h.text)
                        .run();
                } else if constexpr (std::is_same_v<T, store_op::PutRoom>) {
                    what = "put room";
                    const RoomRecord& r = o.room;
                    return Query(s.put_room.get())
                        .blob(r.room).blob(r.ticket.body).blob(r.ticket.sig).i64(r.direct ? 1 : 0)
                        .i64(r.mine ? 1 : 0).text(join_names(r.members)).text(join_names(r.required))
                        .i64(as_i64(r.run)).i64(as_i64(r.next_seq))
                        .run();
                } else if constexpr (std::is_same_v<T, store_op::DeleteRoom>) {
                    what = "delete room";
                    for (auto* stmt : {s.delete_room.get(), s.delete_room_lines_all.get(), s.delete_room_cursors.get()})
                        if (int rc = Query(stmt).blob(o.room).run(); rc != SQLITE_OK) return rc;
                    return SQLITE_OK;
                } else if constexpr (std::is_same_v<T, store_op::PutRoomLine>) {
                    what = "put room line";
                    const RoomLineRecord& l = o.line;
                    int rc = Query(s.put_room_line.get())
                                 .blob(l.room).i64(as_i64(l.seq)).blob(l.id).i64(l.sent).text(l.text)
                                 .run();
                    if (rc != SQLITE_OK) return rc;
                    return Query(s.raise_next_seq.get()).blob(l.room).i64(as_i64(l.seq)).run();
                } else if constexpr (std::is_same_v<T, store_op::DeleteRoomLines>) {
                    what = "delete room lines";
                    return Query(s.delete_room_lines.get()).blob(o.room).i64(as_i64(o.upto)).run();
                } else if constexpr (std::is_same_v<T, store_op::PutRoomCursor>) {
                    what = "put room cursor";
                    const RoomCursorRecord& c = o.cursor;
                    return Query(s.put_room_cursor.get())
                        .blob(c.room).text(c.author).i64(as_i64(c.run)).i64(as_i64(c.next))
                        .run();
                } else {
                    static_assert(std::is_same_v<T, store_op::PutChatSeq>);
                    what = "put chat seq";
                    const ChatSeqRecord& c = o.seq;
                    return Query(s.put_chat_seq.get()).blob(c.session).text(c.peer).i64(as_i64(c.seq)).run();
                }
            },
            op);
        if (rc != SQLITE_OK) return db_error(s.raw(), rc, what, s.fault);  // tx rolls back
    }
    return tx.commit(s.commit.get());
}

void Store::checkpoint_if_due() {
    constexpr int kCheckpointPages = 1000;  // SQLite's own default for automatic checkpoints
    if (impl_->wal_pages < kCheckpointPages) return;
    int log = 0, done = 0;
    if (sqlite3_wal_checkpoint_v2(impl_->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done) == SQLITE_OK)
        impl_->wal_pages = log - done;
}

Result<Snapshot> Store::load_snapshot(std::size_t max_seen) {
    impl_->fault = Fault::none;
    Impl& s = *impl_;
    // One read transaction, so that the parts agree with each other even if
    // another process writes meanwhile.
    Transaction tx(s.raw(), s.rollback.get(), s.fault);
    if (auto r = tx.begin(s.begin_deferred.get()); !r) return err(r.error());

    Snapshot snap;
    int rc = SQLITE_OK;
    {
        Query q(s.all_users.get());
        while ((rc = q.step()) == SQLITE_ROW) {
            UserRecord u;
            u.name = q.col_text(0);
            if (!q.col_array(1, u.key)) return corrupt_row(s.fault, "users");
            u.contact = q.col_i64(2) != 0;
            u.first_seen = q.col_i64(3);
            snap.users.push_back(std::move(u));
        }
        if (rc != SQLITE_DONE) return db_error(s.raw(), rc, "load users", s.fault);
    }
    {
        Query q(s.all_sessions.get());
        while ((rc = q.step()) == SQLITE_ROW) {
            SessionRecord r;
            r.user = q.col_text(0);
            if (!q.col_array(1, r.session) || !q.col_array(3, r.decl.sig) || !q.col_array(6, r.addr.ip)) {
                return corrupt_row(s.fault, "sessions");
            }
            r.decl.body = q.col_bytes(2);
            r.seq = static_cast<std::uint64_t>(q.col_i64(4));
            r.addr.family = static_cast<std::uint8_t>(q.col_i64(5));
            r.addr.port = static_cast<std::uint16_t>(q.col_i64(7));
            r.online = q.col_i64(8) != 0;
            r.last_seen = q.col_i64(9);
            snap.sessions.push_back(std::move(r));
        }
        if (rc != SQLITE_DONE) return db_error(s.raw(), rc, "load sessions", s.fault);
    }
    {
        Query q(s.all_outbox.get());
        while ((rc = q.step()) == SQLITE_ROW) {
            OutboxRecord e;
            if (!q.col_array(0, e.id) || !q.col_array(3, e.msg.sig)) return corrupt_row(s.fault, "outbox");
            e.target = q.col_text(1);
            e.msg.body = q.col_bytes(2);
            e.queued = q.col_i64(4);
            snap.outbox.push_back(std::move(e));
        }
        if (rc != SQLITE_DONE) return db_error(s.raw(), rc, "load outbox", s.fault);
    }
    {
        Query q(s.seen_ids.get());
        q.i64(clamp_limit(max_seen));
        while ((rc = q.step()) == SQLITE_ROW) {
            SeenRecord r;
            if (!q.col_array(0, r.id)) return corrupt_row(s.fault, "history");
            r.from = q.col_text(1);
            r.sent = q.col_i64(2);
            snap.seen.push_back(std::move(r));
        }
        if (rc != SQLITE_DONE) return db_error(s.raw(), rc, "load history ids", s.fault);
    }
    {
        Query q(s.all_rooms.get());
        while ((rc = q.step()) == SQLITE_ROW) {
            RoomRecord r;
            if (!q.col_array(0, r.room) || !q.col_array(2, r.ticket.sig)) return corrupt_row(s.fault, "rooms");
            r.ticket.body = q.col_bytes(1);
            r.direct = q.col_i64(3) != 0;
            r.mine = q.col_i64(4) != 0;
            r.members = split_names(q.col_text(5));
            r.required = split_names(q.col_text(6));
            r.run = static_cast<std::uint64_t>(q.col_i64(7));
            r.next_seq = static_cast<std::uint64_t>(q.col_i64(8));
            snap.rooms.rooms.push_back(std::move(r));
        }
        if (rc != SQLITE_DONE) return db_error(s.raw(), rc, "load rooms", s.fault);
    }
    {
        Query q(s.all_room_lines.get());
        while ((rc = q.step()) == SQLITE_ROW) {
            RoomLineRecord l;
            if (!q.col_array(0, l.room) || !q.col_array(2, l.id)) return corrupt_row(s.fault, "room_lines");
            l.seq = static_cast<std::uint64_t>(q.col_i64(1));
            l.sent = q.col_i64(3);
            l.text = q.col_text(4);
            snap.rooms.lines.push_back(std::move(l));
        }
        if (rc != SQLITE_DONE) return db_error(s.raw(), rc, "load room lines", s.fault);
    }
    {
        Query q(s.all_room_cursors.get());
        while ((rc = q.step()) == SQLITE_ROW) {
            RoomCursorRecord c;
            if (!q.col_array(0, c.room)) return corrupt_row(s.fault, "room_cursors");
            c.author = q.col_text(1);
            c.run = static_cast<std::uint64_t>(q.col_i64(2));
            c.next = static_cast<std::uint64_t>(q.col_i64(3));
            snap.rooms.cursors.push_back(std::move(c));
        }
        if (rc != SQLITE_DONE) return db_error(s.raw(), rc, "load room cursors", s.fault);
    }
    {
        Query q(s.all_chat_seqs.get());
        while ((rc = q.step()) == SQLITE_ROW) {
            ChatSeqRecord c;
            if (!q.col_array(0, c.session)) return corrupt_row(s.fault, "chat_seqs");
            c.peer = q.col_text(1);
            c.seq = static_cast<std::uint64_t>(q.col_i64(2));
            snap.chat_seqs.push_back(std::move(c));
        }
        if (rc != SQLITE_DONE) return db_error(s.raw(), rc, "load chat seqs", s.fault);
    }
    if (auto r = tx.commit(s.commit.get()); !r) return err(r.error());
    return snap;
}

Result<std::vector<HistoryRecord>> Store::history(const std::string& peer, std::size_t limit) {
    impl_->fault = Fault::none;
    std::vector<HistoryRecord> out;
    Query q(impl_->peer_history.get());
    q.text(peer).i64(clamp_limit(limit));
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
        HistoryRecord h;
        if (!q.col_array(0, h.id)) return corrupt_row(impl_->fault, "history");
        h.from = q.col_text(1);
        h.to = q.col_text(2);
        h.sent = q.col_i64(3);
        h.stored = q.col_i64(4);
        h.text = q.col_text(5);
        out.push_back(std::move(h));
    }
    if (rc != SQLITE_DONE) return db_error(impl_->raw(), rc, "history", impl_->fault);
    std::reverse(out.begin(), out.end());  // newest were selected first; callers want oldest first
    return out;
}

}  // namespace dc::store
