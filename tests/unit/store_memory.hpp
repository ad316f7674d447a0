// For the unit tests of the store's parts: a connection to a new in-memory database.
#pragma once

#include "store/sqlite.hpp"

#include <doctest/doctest.h>

namespace dc::store::testing {

inline Connection memory() {
    Connection c;
    c.path = ":memory:";
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) == SQLITE_OK);
    c.db.reset(db);
    sqlite3_extended_result_codes(db, 1);
    return c;
}

}  // namespace dc::store::testing
