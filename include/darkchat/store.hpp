// The SQLite store (WAL). Only src/store includes <sqlite3.h>.
#pragma once

#include "darkchat/model.hpp"

#include <memory>

namespace dc::store {

class Store {
public:
    // Opens (creating if needed) the database at path, enables WAL and runs
    // schema migrations. The file is created with owner-only permissions.
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

    // The newest `limit` messages exchanged with peer, oldest first.
    Result<std::vector<HistoryRecord>> history(const std::string& peer, std::size_t limit);

    int schema_version() const;

private:
    struct Impl;
    explicit Store(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace dc::store
