// The schema and the statements on it (schema.hpp).
#include "schema.hpp"

namespace dc::store {

namespace {

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
    // 5: conversation groups (darkchat-groups(7)): each group's state as the
    // group machine encodes it (its record, epoch keys, line counters).
    R"sql(
CREATE TABLE groups (
    id BLOB PRIMARY KEY CHECK (length(id) = 16),
    state BLOB NOT NULL CHECK (length(state) > 0)
) WITHOUT ROWID;
)sql",
    // 6: holding (darkchat-protocol(7), HOLDING): messages other users left with
    // us for a user who was offline, sealed to that user's holding key.
    R"sql(
CREATE TABLE held (
    to_user TEXT NOT NULL,
    id BLOB NOT NULL CHECK (length(id) = 16),
    from_user TEXT NOT NULL,
    kept INTEGER NOT NULL,
    base INTEGER NOT NULL,
    sealed BLOB NOT NULL,
    PRIMARY KEY (to_user, id)
) WITHOUT ROWID;
)sql",
    // 7: file transfers (darkchat-protocol(7), FILES): each side's state of a
    // transfer as the file machine encodes it (manifest, key, chunks on disk).
    R"sql(
CREATE TABLE files (
    id BLOB NOT NULL CHECK (length(id) = 16),
    side INTEGER NOT NULL CHECK (side IN (0, 1)),
    state BLOB NOT NULL CHECK (length(state) > 0),
    PRIMARY KEY (id, side)
) WITHOUT ROWID;
)sql",
    // 8: the daemon API's event log (darkchat-api(7)): every event the node
    // showed, numbered, so that a client sees what it missed.
    R"sql(
CREATE TABLE events (
    seq INTEGER PRIMARY KEY CHECK (seq > 0),
    at INTEGER NOT NULL,
    body TEXT NOT NULL
);
)sql",
    // 9: lines said in conversation groups and rooms, for \history: the newest
    // of each conversation (model.hpp, kLinesKept), in the order shown.
    R"sql(
CREATE TABLE lines (
    n INTEGER PRIMARY KEY,
    conversation BLOB NOT NULL CHECK (length(conversation) = 16),
    room INTEGER NOT NULL CHECK (room IN (0, 1)),
    key BLOB NOT NULL,
    author TEXT NOT NULL,
    author_key BLOB NOT NULL CHECK (length(author_key) = 32),
    sent INTEGER NOT NULL,
    stored INTEGER NOT NULL,
    own INTEGER NOT NULL CHECK (own IN (0, 1)),
    text TEXT NOT NULL,
    UNIQUE (conversation, key)
);
CREATE INDEX lines_by_conversation ON lines (conversation, n);
)sql",
    // 10: files shared in groups (darkchat-protocol(7), FILES IN GROUPS): a file
    // held to serve a group's members (side 2), and one sending state per member
    // it goes to (peer; all zero for a file between two, as every row before).
    R"sql(
CREATE TABLE files_10 (
    id BLOB NOT NULL CHECK (length(id) = 16),
    side INTEGER NOT NULL CHECK (side IN (0, 1, 2)),
    peer BLOB NOT NULL CHECK (length(peer) = 32),
    state BLOB NOT NULL CHECK (length(state) > 0),
    PRIMARY KEY (id, side, peer)
) WITHOUT ROWID;
INSERT INTO files_10 (id, side, peer, state) SELECT id, side, zeroblob(32), state FROM files;
DROP TABLE files;
ALTER TABLE files_10 RENAME TO files;
)sql",
    // 11: a file to a contact goes to each of its sessions that takes it: one
    // sending state per session (all zero for the offer itself, for a file in a
    // group and for every row before).
    R"sql(
CREATE TABLE files_11 (
    id BLOB NOT NULL CHECK (length(id) = 16),
    side INTEGER NOT NULL CHECK (side IN (0, 1, 2)),
    peer BLOB NOT NULL CHECK (length(peer) = 32),
    session BLOB NOT NULL CHECK (length(session) = 8),
    state BLOB NOT NULL CHECK (length(state) > 0),
    PRIMARY KEY (id, side, peer, session)
) WITHOUT ROWID;
INSERT INTO files_11 (id, side, peer, session, state) SELECT id, side, peer, zeroblob(8), state FROM files;
DROP TABLE files;
ALTER TABLE files_11 RENAME TO files;
)sql",
};

}  // namespace

Result<int> migrate(Connection& conn) {
    auto& path = conn.path;
    auto& fault = conn.fault;
    auto before = conn.user_version();
    if (!before) return err(before.error());
    if (*before > kSchemaVersion) {
        return err("store: " + path + ": database schema " + std::to_string(*before) +
                   " is newer than this darkchat (" + std::to_string(kSchemaVersion) + ")");
    }
    if (*before == kSchemaVersion) return *before;

    Transaction tx(conn.raw(), nullptr, fault);
    if (int rc = sqlite3_exec(conn.raw(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr); rc != SQLITE_OK) {
        return db_error(conn.raw(), rc, path, fault);
    }
    // Read again under the write lock: another process may have migrated meanwhile.
    auto current = conn.user_version();
    if (!current) return err(current.error());
    int v = *current;
    if (v > kSchemaVersion) {
        return err("store: " + path + ": database schema " + std::to_string(v) +
                   " is newer than this darkchat (" + std::to_string(kSchemaVersion) + ")");
    }
    if (v == 0) {
        // A fresh darkchat database is empty; refuse to add tables to someone else's.
        StmtPtr s;
        if (auto r = conn.prepare(s, "SELECT count(*) FROM sqlite_master"); !r) return err(r.error());
        Query q(s.get());
        int rc = q.step();
        if (rc != SQLITE_ROW) return db_error(conn.raw(), rc, path, fault);
        if (q.col_i64(0) != 0) return err("store: " + path + " is an SQLite database but not darkchat's");
    }
    for (; v < kSchemaVersion; ++v) {
        auto what = "migrating " + path + " to schema " + std::to_string(v + 1);
        if (auto r = conn.exec(kMigrations[v], what); !r) return err(r.error());
        // PRAGMA takes no bound parameters; the value is a constant of this program.
        auto pragma = "PRAGMA user_version = " + std::to_string(v + 1);
        if (auto r = conn.exec(pragma.c_str(), what); !r) return err(r.error());
    }
    if (int rc = sqlite3_exec(conn.raw(), "COMMIT", nullptr, nullptr, nullptr); rc != SQLITE_OK) {
        return db_error(conn.raw(), rc, path, fault);
    }
    return v;
}

Result<void> prepare_statements(Connection& conn, Statements& st) {
    struct Entry {
        StmtPtr* stmt;
        const char* sql;
    };
    const Entry entries[] = {
        {&st.begin_deferred, "BEGIN"},
        {&st.begin_immediate, "BEGIN IMMEDIATE"},
        {&st.commit, "COMMIT"},
        {&st.rollback, "ROLLBACK"},
        {&st.load_identity, "SELECT user, pk, sk, session, sk_sealed FROM identity WHERE id = 1"},
        {&st.save_identity,
         "INSERT INTO identity (id, user, pk, sk, session, sk_sealed) VALUES (1, ?, ?, ?, ?, ?) "
         "ON CONFLICT (id) DO UPDATE SET user = excluded.user, pk = excluded.pk, "
         "sk = excluded.sk, session = excluded.session, sk_sealed = excluded.sk_sealed"},
        {&st.put_user,
         "INSERT INTO users (name, key, contact, first_seen) VALUES (?, ?, ?, ?) "
         "ON CONFLICT (name) DO UPDATE SET key = excluded.key, contact = excluded.contact, "
         "first_seen = excluded.first_seen"},
        {&st.put_session,
         "INSERT INTO sessions (user, session, decl_body, decl_sig, seq, addr_family, addr_ip, "
         "addr_port, online, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
         "ON CONFLICT (user, session) DO UPDATE SET decl_body = excluded.decl_body, "
         "decl_sig = excluded.decl_sig, seq = excluded.seq, addr_family = excluded.addr_family, "
         "addr_ip = excluded.addr_ip, addr_port = excluded.addr_port, online = excluded.online, "
         "last_seen = excluded.last_seen"},
        {&st.delete_session, "DELETE FROM sessions WHERE user = ? AND session = ?"},
        {&st.put_outbox,
         "INSERT INTO outbox (id, target, msg_body, msg_sig, queued) VALUES (?, ?, ?, ?, ?) "
         "ON CONFLICT (id, target) DO UPDATE SET msg_body = excluded.msg_body, "
         "msg_sig = excluded.msg_sig, queued = excluded.queued"},
        {&st.delete_outbox, "DELETE FROM outbox WHERE id = ? AND target = ?"},
        // History is immutable and ids are unique: the first copy wins.
        {&st.put_history,
         "INSERT OR IGNORE INTO history (id, from_user, to_user, sent, stored, text) "
         "VALUES (?, ?, ?, ?, ?, ?)"},
        {&st.all_users, "SELECT name, key, contact, first_seen FROM users ORDER BY name"},
        {&st.all_sessions,
         "SELECT user, session, decl_body, decl_sig, seq, addr_family, addr_ip, addr_port, "
         "online, last_seen FROM sessions ORDER BY user, session"},
        {&st.all_outbox,
         "SELECT id, target, msg_body, msg_sig, queued FROM outbox ORDER BY queued, rowid"},
        {&st.seen_ids, "SELECT id, from_user, sent FROM history ORDER BY stored DESC, rowid DESC LIMIT ?"},
        {&st.put_room,
         "INSERT INTO rooms (room, ticket_body, ticket_sig, direct, mine, members, required, run, next_seq) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
         "ON CONFLICT (room) DO UPDATE SET ticket_body = excluded.ticket_body, ticket_sig = excluded.ticket_sig, "
         "direct = excluded.direct, mine = excluded.mine, members = excluded.members, required = excluded.required, "
         "run = excluded.run, next_seq = max(next_seq, excluded.next_seq)"},
        {&st.delete_room, "DELETE FROM rooms WHERE room = ?"},
        {&st.delete_room_lines_all, "DELETE FROM room_lines WHERE room = ?"},
        {&st.delete_room_cursors, "DELETE FROM room_cursors WHERE room = ?"},
        {&st.put_room_line,
         "INSERT INTO room_lines (room, seq, id, sent, text) VALUES (?, ?, ?, ?, ?) "
         "ON CONFLICT (room, seq) DO UPDATE SET id = excluded.id, sent = excluded.sent, text = excluded.text"},
        {&st.raise_next_seq, "UPDATE rooms SET next_seq = max(next_seq, ?2 + 1) WHERE room = ?1"},
        {&st.delete_room_lines, "DELETE FROM room_lines WHERE room = ? AND seq <= ?"},
        {&st.put_room_cursor,
         "INSERT INTO room_cursors (room, author, run, next) VALUES (?, ?, ?, ?) "
         "ON CONFLICT (room, author) DO UPDATE SET run = excluded.run, next = excluded.next"},
        {&st.all_rooms,
         "SELECT room, ticket_body, ticket_sig, direct, mine, members, required, run, next_seq FROM rooms ORDER BY room"},
        {&st.all_room_lines, "SELECT room, seq, id, sent, text FROM room_lines ORDER BY room, seq"},
        {&st.all_room_cursors, "SELECT room, author, run, next FROM room_cursors ORDER BY room, author"},
        {&st.put_chat_seq,
         "INSERT INTO chat_seqs (session, peer, seq) VALUES (?, ?, ?) "
         "ON CONFLICT (session, peer) DO UPDATE SET seq = max(seq, excluded.seq)"},
        {&st.all_chat_seqs, "SELECT session, peer, seq FROM chat_seqs ORDER BY session, peer"},
        {&st.put_group,
         "INSERT INTO groups (id, state) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state"},
        {&st.delete_group, "DELETE FROM groups WHERE id = ?"},
        {&st.all_groups, "SELECT id, state FROM groups ORDER BY id"},
        {&st.put_file,
         "INSERT INTO files (id, side, peer, session, state) VALUES (?, ?, ?, ?, ?) "
         "ON CONFLICT (id, side, peer, session) DO UPDATE "
         "SET state = excluded.state"},
        {&st.delete_file, "DELETE FROM files WHERE id = ? AND side = ? AND peer = ? AND session = ?"},
        {&st.all_files, "SELECT id, side, peer, session, state FROM files ORDER BY id, side, peer, session"},
        {&st.put_held,
         "INSERT INTO held (to_user, id, from_user, kept, base, sealed) VALUES (?, ?, ?, ?, ?, ?) "
         "ON CONFLICT (to_user, id) DO NOTHING"},
        {&st.delete_held, "DELETE FROM held WHERE to_user = ? AND id = ?"},
        {&st.all_held, "SELECT to_user, id, from_user, kept, base, sealed FROM held ORDER BY kept, to_user, id"},
        {&st.put_event, "INSERT OR REPLACE INTO events (seq, at, body) VALUES (?, ?, ?)"},
        {&st.delete_events, "DELETE FROM events WHERE seq <= ?"},
        {&st.last_event, "SELECT coalesce(max(seq), 0) FROM events"},
        {&st.events_after, "SELECT seq, at, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?"},
        // A line shown once is kept once; past kLinesKept the conversation's oldest go.
        {&st.put_line,
         "INSERT OR IGNORE INTO lines (conversation, room, key, author, author_key, sent, stored, own, text) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"},
        {&st.trim_lines,
         "DELETE FROM lines WHERE conversation = ?1 AND n <= (SELECT n FROM lines WHERE conversation = ?1 "
         "ORDER BY n DESC LIMIT 1 OFFSET ?2)"},
        {&st.conversation_lines,
         "SELECT conversation, room, key, author, author_key, sent, stored, own, text FROM lines "
         "WHERE conversation = ?1 ORDER BY n DESC LIMIT ?2"},
        {&st.peer_history,
         "SELECT id, from_user, to_user, sent, stored, text FROM history "
         "WHERE from_user = ?1 OR to_user = ?1 ORDER BY stored DESC, rowid DESC LIMIT ?2"},
    };
    for (const auto& e : entries) {
        if (auto r = conn.prepare(*e.stmt, e.sql); !r) return r;
    }
    return {};
}

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

}  // namespace dc::store
