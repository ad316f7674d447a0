// What a Store reads: the identity, the snapshot the core starts from, a peer's history.
#include "impl.hpp"

namespace dc::store {

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
    {
        Query q(s.all_groups.get());
        while ((rc = q.step()) == SQLITE_ROW) {
            GroupRecord g;
            if (!q.col_array(0, g.group)) return corrupt_row(s.fault, "groups");
            g.state = q.col_bytes(1);
            snap.groups.push_back(std::move(g));
        }
        if (rc != SQLITE_DONE) return db_error(s.raw(), rc, "load groups", s.fault);
    }
    {
        Query q(s.all_files.get());
        while ((rc = q.step()) == SQLITE_ROW) {
            FileRecord f;
            if (!q.col_array(0, f.file)) return corrupt_row(s.fault, "files");
            f.side = static_cast<std::uint8_t>(q.col_i64(1));
            if (!q.col_array(2, f.peer) || !q.col_array(3, f.session)) return corrupt_row(s.fault, "files");
            f.state = q.col_bytes(4);
            snap.files.push_back(std::move(f));
        }
        if (rc != SQLITE_DONE) return db_error(s.raw(), rc, "load files", s.fault);
    }
    {
        Query q(s.all_held.get());
        while ((rc = q.step()) == SQLITE_ROW) {
            HeldRecord h;
            h.to = q.col_text(0);
            if (!q.col_array(1, h.id)) return corrupt_row(s.fault, "held");
            h.from = q.col_text(2);
            h.kept = q.col_i64(3);
            h.base = static_cast<std::uint64_t>(q.col_i64(4));
            h.sealed = q.col_bytes(5);
            snap.held.push_back(std::move(h));
        }
        if (rc != SQLITE_DONE) return db_error(s.raw(), rc, "load held", s.fault);
    }
    {
        Query q(s.last_event.get());
        rc = q.step();
        if (rc != SQLITE_ROW) return db_error(s.raw(), rc, "load last event", s.fault);
        snap.last_event = static_cast<std::uint64_t>(q.col_i64(0));
        q.step();
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

Result<std::vector<LineRecord>> Store::lines(const GroupKeyId& conversation, std::size_t limit) {
    impl_->fault = Fault::none;
    std::vector<LineRecord> out;
    Query q(impl_->conversation_lines.get());
    // Up to Impl::kTrimEvery - 1 older lines may wait for their trim: never shown.
    q.blob(conversation).i64(clamp_limit(std::min(limit, kLinesKept)));
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
        LineRecord l;
        if (!q.col_array(0, l.conversation) || !q.col_array(4, l.author_key)) return corrupt_row(impl_->fault, "lines");
        l.room = q.col_i64(1) != 0;
        l.key = q.col_bytes(2);
        l.author = q.col_text(3);
        l.sent = q.col_i64(5);
        l.stored = q.col_i64(6);
        l.own = q.col_i64(7) != 0;
        l.text = q.col_text(8);
        out.push_back(std::move(l));
    }
    if (rc != SQLITE_DONE) return db_error(impl_->raw(), rc, "lines", impl_->fault);
    std::reverse(out.begin(), out.end());  // newest were selected first; callers want oldest first
    return out;
}

Result<std::vector<EventRecord>> Store::events_after(std::uint64_t seq, std::size_t limit) {
    impl_->fault = Fault::none;
    std::vector<EventRecord> out;
    Query q(impl_->events_after.get());
    q.i64(as_i64(seq)).i64(clamp_limit(limit));
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
        EventRecord e;
        e.seq = static_cast<std::uint64_t>(q.col_i64(0));
        e.at = q.col_i64(1);
        e.body = q.col_text(2);
        out.push_back(std::move(e));
    }
    if (rc != SQLITE_DONE) return db_error(impl_->raw(), rc, "events", impl_->fault);
    return out;
}

}  // namespace dc::store
