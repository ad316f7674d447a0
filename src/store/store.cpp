// The SQLite store (store.hpp): its parts are sqlite.hpp (handles, queries, faults),
// schema.hpp (migrations, statements), startup.hpp (the checks at open) and
// snapshot.cpp (what it reads). This file writes: the identity, and every batch of
// store ops in one transaction, all or nothing.
//
// A Store is used from one thread at a time (its statements are shared state).
#include "impl.hpp"

#include <type_traits>

namespace dc::store {

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

int Store::schema_version() const { return impl_->version; }

Fault Store::fault() const { return impl_->fault; }

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

Result<void> Store::apply(const std::vector<StoreOp>& ops) { return apply(ops, {}); }

Result<void> Store::apply(const std::vector<StoreOp>& ops, const std::vector<StoreOp>& more) {
    impl_->fault = Fault::none;
    if (ops.empty() && more.empty()) return {};
    Impl& s = *impl_;
    Transaction tx(s.raw(), s.rollback.get(), s.fault);
    if (auto r = tx.begin(s.begin_immediate.get()); !r) return r;

    for (const auto* list : {&ops, &more})
        for (const auto& op : *list) {
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
                    } else if constexpr (std::is_same_v<T, store_op::PutGroup>) {
                        what = "put group";
                        return Query(s.put_group.get()).blob(o.group.group).blob(o.group.state).run();
                    } else if constexpr (std::is_same_v<T, store_op::DeleteGroup>) {
                        what = "delete group";
                        return Query(s.delete_group.get()).blob(o.group).run();
                    } else if constexpr (std::is_same_v<T, store_op::PutFile>) {
                        what = "put file";
                        return Query(s.put_file.get())
                            .blob(o.file.file).i64(o.file.side).blob(o.file.peer).blob(o.file.session).blob(o.file.state)
                            .run();
                    } else if constexpr (std::is_same_v<T, store_op::DeleteFile>) {
                        what = "delete file";
                        return Query(s.delete_file.get()).blob(o.file).i64(o.side).blob(o.peer).blob(o.session).run();
                    } else if constexpr (std::is_same_v<T, store_op::PutEvent>) {
                        what = "put event";
                        const EventRecord& e = o.event;
                        return Query(s.put_event.get()).i64(as_i64(e.seq)).i64(e.at).text(e.body).run();
                    } else if constexpr (std::is_same_v<T, store_op::DeleteEvents>) {
                        what = "delete events";
                        return Query(s.delete_events.get()).i64(as_i64(o.upto)).run();
                    } else if constexpr (std::is_same_v<T, store_op::PutLine>) {
                        what = "put line";
                        const LineRecord& l = o.line;
                        int rc = Query(s.put_line.get())
                                     .blob(l.conversation).i64(l.room ? 1 : 0).blob(l.key).text(l.author)
                                     .blob(l.author_key).i64(l.sent).i64(l.stored).i64(l.own ? 1 : 0).text(l.text)
                                     .run();
                        if (rc != SQLITE_OK) return rc;
                        auto n = s.untrimmed.find(l.conversation);
                        if (n == s.untrimmed.end() && s.untrimmed.size() < Impl::kTrimmedConversations)
                            n = s.untrimmed.emplace(l.conversation, 0).first;
                        if (n != s.untrimmed.end() && ++n->second < Impl::kTrimEvery) return SQLITE_OK;
                        if (n != s.untrimmed.end()) n->second = 0;
                        return Query(s.trim_lines.get()).blob(l.conversation).i64(static_cast<std::int64_t>(kLinesKept)).run();
                    } else if constexpr (std::is_same_v<T, store_op::PutHeld>) {
                        what = "put held";
                        const HeldRecord& h = o.held;
                        return Query(s.put_held.get())
                            .text(h.to).blob(h.id).text(h.from).i64(h.kept).i64(as_i64(h.base)).blob(h.sealed)
                            .run();
                    } else if constexpr (std::is_same_v<T, store_op::DeleteHeld>) {
                        what = "delete held";
                        return Query(s.delete_held.get()).text(o.to).blob(o.id).run();
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

void Store::release_memory() { sqlite3_db_release_memory(impl_->raw()); }

void Store::checkpoint_if_due() {
    constexpr int kCheckpointPages = 1000;  // SQLite's own default for automatic checkpoints
    if (impl_->wal_pages < kCheckpointPages) return;
    int log = 0, done = 0;
    if (sqlite3_wal_checkpoint_v2(impl_->raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done) == SQLITE_OK)
        impl_->wal_pages = log - done;
}

}  // namespace dc::store
