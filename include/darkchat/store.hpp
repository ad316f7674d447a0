// The SQLite store (WAL). Only src/store includes <sqlite3.h>.
#pragma once

#include "darkchat/model.hpp"

#include <memory>

namespace dc::store {

// Why a call of a Store failed: whether trying again later may work.
enum class Fault {
    none,            // the last call succeeded
    // Transient: the same call may succeed later, unchanged.
    disk_full,       // no space left (SQLITE_FULL, ENOSPC, EDQUOT): retry once space is freed
    busy,            // another connection holds the database (SQLITE_BUSY, SQLITE_LOCKED)
    out_of_memory,   // SQLITE_NOMEM
    // Permanent: retrying the same call fails the same way; a person must act.
    read_only,       // the file, its directory or its file system cannot be written
    corrupt,         // SQLITE_CORRUPT, or a row that breaks the schema's promises
    not_a_database,  // SQLITE_NOTADB
    io,              // any other I/O error (a failing disk)
    other,           // anything else: a constraint or misuse (a bug), a schema too new
};

// True for the faults where retrying the same write later may succeed.
bool is_transient(Fault f);
// A few words for f, e.g. "disk full" ("" for none).
const char* describe(Fault f);

class Store {
public:
    // Opens the database at path, enables WAL and runs schema migrations. A
    // database is created (owner-only, with an empty schema) only when no file
    // is at path; an existing file is never replaced. Refused, with a message
    // that names path and the cause, and nothing on disk changed: an empty
    // (0-byte) file, a file that is not an SQLite database or is another
    // program's, a corrupt database (PRAGMA quick_check, which reads every
    // page), a schema newer than this darkchat, a file or directory that
    // cannot be written, a full disk. A refused open removes the files it
    // added (the new database, -wal, -shm), so the caller must be the only
    // process opening it (darkchat holds the data directory's lock).
    static Result<std::unique_ptr<Store>> open(const std::string& path);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    // The identity, with its secret key either plain (sk) or sealed with a
    // passphrase (sk_sealed set, sk all zeros).
    Result<std::optional<Identity>> load_identity();
    // Replaces the identity (there is at most one). When id.sk_sealed is set,
    // only the sealed key is stored; the store zeroes what it deletes, so a
    // plain key stored before is gone from the file once it is closed.
    Result<void> save_identity(const Identity& id);

    // Loads everything the core needs at start-up; at most max_seen history ids, newest first.
    Result<Snapshot> load_snapshot(std::size_t max_seen = 100000);

    // Applies ops in order in one transaction: all or nothing.
    Result<void> apply(const std::vector<StoreOp>& ops);
    // ops, then more, in one transaction (the node's turn and the API's event
    // log of what it shows: both stored, or neither).
    Result<void> apply(const std::vector<StoreOp>& ops, const std::vector<StoreOp>& more);

    // The newest `limit` messages exchanged with peer, oldest first.
    Result<std::vector<HistoryRecord>> history(const std::string& peer, std::size_t limit);

    // The newest `limit` lines kept of a conversation group or a room, oldest first.
    Result<std::vector<LineRecord>> lines(const GroupKeyId& conversation, std::size_t limit);

    // The API's event log (darkchat-api(7)): at most limit events with a seq
    // above seq, oldest first.
    Result<std::vector<EventRecord>> events_after(std::uint64_t seq, std::size_t limit);

    int schema_version() const;

    // Copies the write-ahead log into the database once it holds enough pages.
    // Commits never do it themselves (it would hold up what follows a commit,
    // such as showing the messages just stored); the driver calls this when an
    // input has been handled. Failing here costs nothing: it is tried again later.
    void checkpoint_if_due();

    // Gives back the memory of SQLite's page cache (it refills from the
    // file as needed); the driver calls this when the node goes quiet.
    void release_memory();

    // The fault of the last call on this Store that returned an error, or
    // Fault::none when the last call succeeded. The driver retries a failed
    // apply() while the fault is transient, and stops and says what to do when
    // it is permanent.
    Fault fault() const;

private:
    struct Impl;
    explicit Store(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace dc::store
