// Internal to src/store: the checks a database passes at start-up, before and after
// SQLite opens it, each refusal one clear line that names the file and the cause,
// with nothing on disk changed.
#pragma once

#include "sqlite.hpp"

#include <string>

namespace dc::store {

inline constexpr int kBusyTimeoutMs = 5000;

// Creates path with mode 0600 if it does not exist yet. The explicit fchmod
// makes the mode independent of the umask.
Result<void> create_private_file(const std::string& path);

// Checks an existing database file before SQLite opens it, reading only: a
// file of 0 bytes, a file that is not an SQLite database, a file or directory
// that cannot be written. Root ignores the permission bits, so a file whose
// owner took away the write bit is taken as read-only from its mode.
Result<void> check_file(const std::string& path);

// The message for a database that cannot be opened or read at start-up: the
// path and the cause in one line.
Error open_error(sqlite3* db, int rc, const std::string& path, Fault& fault);

// Reads an existing database before anything is written to it (WAL mode,
// migrations): that it is darkchat's, not newer than this program, and
// intact. PRAGMA quick_check reads every page, so it costs time in proportion
// to the file; a darkchat database is small, and a corrupt page found now is
// a clear refusal instead of a node that runs and cannot save.
Result<void> check_contents(Connection& conn);

// WAL, synchronous=NORMAL, checkpoints left to Store::checkpoint_if_due (the
// connection counts the log's pages), foreign keys, secure delete.
Result<void> configure(Connection& conn);

}  // namespace dc::store
