// Internal to src/store: what a Store holds. The statements are a base declared
// after the connection, so they are finalized before the database is closed.
#pragma once

#include "schema.hpp"

namespace dc::store {

struct Store::Impl : Connection, Statements {
    int version = 0;
};

}  // namespace dc::store
