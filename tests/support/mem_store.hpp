// The store in memory: applies StoreOps to plain containers as the SQLite store
// (include/darkchat/store.hpp) does, so that a node driven without SQLite (the
// simulator in tools/sim, the core's unit tests) restarts from what it stored.
#pragma once

#include "darkchat/model.hpp"

#include <algorithm>
#include <map>
#include <tuple>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace dc {

struct MemStore {
    std::map<std::string, UserRecord> users;
    std::map<std::pair<std::string, SessionId>, SessionRecord> sessions;
    std::map<std::pair<MessageId, std::string>, OutboxRecord> outbox;
    std::map<MessageId, HistoryRecord> history;
    std::map<RoomKey, RoomRecord> rooms;
    std::map<std::pair<RoomKey, std::uint64_t>, RoomLineRecord> room_lines;
    std::map<std::pair<RoomKey, std::string>, RoomCursorRecord> room_cursors;
    std::map<std::pair<SessionId, std::string>, ChatSeqRecord> chat_seqs;
    std::map<GroupKeyId, GroupRecord> groups;
    std::map<std::tuple<GroupKeyId, std::uint8_t, PublicKey, SessionId>, FileRecord> files;
    std::map<std::pair<std::string, MessageId>, HeldRecord> held;
    std::map<std::uint64_t, EventRecord> events;
    std::vector<LineRecord> lines;  // in the order stored

    void apply(const StoreOp& op) {
        std::visit(
            [&](auto& o) {
                using T = std::decay_t<decltype(o)>;
                if constexpr (std::is_same_v<T, store_op::PutUser>) users[o.user.name] = o.user;
                else if constexpr (std::is_same_v<T, store_op::PutSession>)
                    sessions[{o.session.user, o.session.session}] = o.session;
                else if constexpr (std::is_same_v<T, store_op::DeleteSession>) sessions.erase({o.user, o.session});
                else if constexpr (std::is_same_v<T, store_op::PutOutbox>) outbox[{o.entry.id, o.entry.target}] = o.entry;
                else if constexpr (std::is_same_v<T, store_op::DeleteOutbox>) outbox.erase({o.id, o.target});
                else if constexpr (std::is_same_v<T, store_op::PutHistory>) history.emplace(o.entry.id, o.entry);  // first wins
                else if constexpr (std::is_same_v<T, store_op::PutRoom>) {
                    auto& r = rooms[o.room.room];
                    const auto next = std::max(r.next_seq, o.room.next_seq);
                    r = o.room;
                    r.next_seq = next;
                } else if constexpr (std::is_same_v<T, store_op::DeleteRoom>) {
                    rooms.erase(o.room);
                    std::erase_if(room_lines, [&](auto& kv) { return kv.first.first == o.room; });
                    std::erase_if(room_cursors, [&](auto& kv) { return kv.first.first == o.room; });
                } else if constexpr (std::is_same_v<T, store_op::PutRoomLine>) {
                    room_lines[{o.line.room, o.line.seq}] = o.line;
                    if (auto it = rooms.find(o.line.room); it != rooms.end())
                        it->second.next_seq = std::max(it->second.next_seq, o.line.seq + 1);
                } else if constexpr (std::is_same_v<T, store_op::DeleteRoomLines>) {
                    std::erase_if(room_lines, [&](auto& kv) { return kv.first.first == o.room && kv.first.second <= o.upto; });
                } else if constexpr (std::is_same_v<T, store_op::PutRoomCursor>) {
                    room_cursors[{o.cursor.room, o.cursor.author}] = o.cursor;
                } else if constexpr (std::is_same_v<T, store_op::PutChatSeq>) {
                    auto& c = chat_seqs[{o.seq.session, o.seq.peer}];
                    const auto seq = std::max(c.seq, o.seq.seq);
                    c = o.seq;
                    c.seq = seq;
                } else if constexpr (std::is_same_v<T, store_op::PutGroup>) {
                    groups[o.group.group] = o.group;
                } else if constexpr (std::is_same_v<T, store_op::DeleteGroup>) {
                    groups.erase(o.group);
                } else if constexpr (std::is_same_v<T, store_op::PutHeld>) {
                    held.try_emplace({o.held.to, o.held.id}, o.held);
                } else if constexpr (std::is_same_v<T, store_op::DeleteHeld>) {
                    held.erase({o.to, o.id});
                } else if constexpr (std::is_same_v<T, store_op::PutFile>) {
                    files[{o.file.file, o.file.side, o.file.peer, o.file.session}] = o.file;
                } else if constexpr (std::is_same_v<T, store_op::DeleteFile>) {
                    files.erase({o.file, o.side, o.peer, o.session});
                } else if constexpr (std::is_same_v<T, store_op::PutEvent>) {
                    events[o.event.seq] = o.event;
                } else if constexpr (std::is_same_v<T, store_op::DeleteEvents>) {
                    events.erase(events.begin(), events.upper_bound(o.upto));
                } else if constexpr (std::is_same_v<T, store_op::PutLine>) {
                    auto same = [&](const LineRecord& l) { return l.conversation == o.line.conversation; };
                    if (std::any_of(lines.begin(), lines.end(),
                                    [&](const LineRecord& l) { return same(l) && l.key == o.line.key; }))
                        return;
                    lines.push_back(o.line);
                    auto n = std::count_if(lines.begin(), lines.end(), same);
                    for (auto it = lines.begin(); n > static_cast<long>(kLinesKept);)
                        if (same(*it)) it = lines.erase(it), --n;
                        else ++it;
                }
            },
            op);
    }

    // As Store::history: the newest limit messages with peer, oldest first.
    std::vector<HistoryRecord> peer_history(const std::string& peer, std::size_t limit) const {
        std::vector<HistoryRecord> h;
        for (auto& [k, v] : history)
            if (v.from == peer || v.to == peer) h.push_back(v);
        std::stable_sort(h.begin(), h.end(), [](auto& a, auto& b) { return a.stored < b.stored; });
        if (h.size() > limit) h.erase(h.begin(), h.end() - static_cast<long>(limit));
        return h;
    }

    // As Store::lines: the newest limit lines of a group or room, oldest first.
    std::vector<LineRecord> conversation_lines(const GroupKeyId& conversation, std::size_t limit) const {
        std::vector<LineRecord> out;
        for (auto& l : lines)
            if (l.conversation == conversation) out.push_back(l);
        if (out.size() > limit) out.erase(out.begin(), out.end() - static_cast<long>(limit));
        return out;
    }

    // As Store::events_after.
    std::vector<EventRecord> events_after(std::uint64_t seq, std::size_t limit) const {
        std::vector<EventRecord> out;
        for (auto it = events.upper_bound(seq); it != events.end() && out.size() < limit; ++it) out.push_back(it->second);
        return out;
    }

    // As Store::load_snapshot: outbox in the order queued, seen newest stored first.
    Snapshot snapshot(std::size_t max_seen = 100000) const {
        Snapshot s;
        for (auto& [k, v] : users) s.users.push_back(v);
        for (auto& [k, v] : sessions) s.sessions.push_back(v);
        for (auto& [k, v] : outbox) s.outbox.push_back(v);
        std::stable_sort(s.outbox.begin(), s.outbox.end(),
                         [](const OutboxRecord& a, const OutboxRecord& b) { return a.queued < b.queued; });
        std::vector<const HistoryRecord*> h;
        for (auto& [k, v] : history) h.push_back(&v);
        std::stable_sort(h.begin(), h.end(), [](auto* a, auto* b) { return a->stored > b->stored; });
        for (std::size_t i = 0; i < h.size() && i < max_seen; ++i) s.seen.push_back(SeenRecord{h[i]->id, h[i]->from, h[i]->sent});
        for (auto& [k, v] : rooms) s.rooms.rooms.push_back(v);
        for (auto& [k, v] : room_lines) s.rooms.lines.push_back(v);
        for (auto& [k, v] : room_cursors) s.rooms.cursors.push_back(v);
        for (auto& [k, v] : chat_seqs) s.chat_seqs.push_back(v);
        for (auto& [k, v] : groups) s.groups.push_back(v);
        for (auto& [k, v] : files) s.files.push_back(v);
        for (auto& [k, v] : held) s.held.push_back(v);
        s.last_event = events.empty() ? 0 : events.rbegin()->first;
        std::stable_sort(s.held.begin(), s.held.end(),
                         [](const HeldRecord& a, const HeldRecord& b) { return a.kept < b.kept; });
        return s;
    }

    void clear() { *this = MemStore{}; }
};

}  // namespace dc
