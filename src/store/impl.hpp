// Internal to src/store: what a Store holds. The statements are a base declared
// after the connection, so they are finalized before the database is closed.
#pragma once

#include "schema.hpp"

#include <map>

namespace dc::store {

struct Store::Impl : Connection, Statements {
    int version = 0;
    // Lines put per conversation since its last trim (store.cpp, PutLine): the trim
    // walks kLinesKept rows of the conversation's index, so it runs once per kTrimEvery
    // lines, not once per line. At most kTrimmedConversations are counted; a line of
    // any other is trimmed at once.
    static constexpr std::size_t kTrimEvery = 64;
    static constexpr std::size_t kTrimmedConversations = 1024;
    std::map<GroupKeyId, std::size_t> untrimmed;
};

}  // namespace dc::store
