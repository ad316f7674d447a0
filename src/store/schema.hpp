// Internal to src/store: the schema (numbered migrations, only ever appended), the
// prepared statements every query and write of a Store goes through, and how a room's
// member lists are kept in a column.
#pragma once

#include "sqlite.hpp"

#include <string>
#include <vector>

namespace dc::store {

inline constexpr int kSchemaVersion = 11;

// Takes the database of conn to kSchemaVersion in one transaction and returns the
// version it is at. Refused: a schema newer than this darkchat, or tables of another
// program in a database at version 0.
Result<int> migrate(Connection& conn);

// One cached statement per query of a Store, prepared once against the schema.
struct Statements {
    StmtPtr begin_deferred, begin_immediate, commit, rollback;
    StmtPtr load_identity, save_identity;
    StmtPtr put_user, put_session, delete_session, put_outbox, delete_outbox, put_history;
    StmtPtr all_users, all_sessions, all_outbox, seen_ids, peer_history;
    StmtPtr put_room, delete_room, delete_room_lines_all, delete_room_cursors, put_room_line, raise_next_seq,
        delete_room_lines, put_room_cursor, all_rooms, all_room_lines, all_room_cursors, put_chat_seq, all_chat_seqs,
        put_group, delete_group, all_groups, put_held, delete_held, all_held, put_file, delete_file, all_files,
        put_event, delete_events, last_event, events_after, put_line, trim_lines, conversation_lines;
};
Result<void> prepare_statements(Connection& conn, Statements& st);

// A room's member lists, one name per line (user names have no newline).
std::string join_names(const std::vector<std::string>& names);
std::vector<std::string> split_names(const std::string& text);

}  // namespace dc::store
