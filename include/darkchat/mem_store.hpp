// The store in memory: applies StoreOps to plain containers as the SQLite store
// (include/darkchat/store.hpp) does, so that a node driven without SQLite (the
// simulator in tools/sim, the core's unit tests) restarts from what it stored.
#pragma once

#include "darkchat/model.hpp"

#include <algorithm>
#include <map>
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
            },
            op);
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
        return s;
    }

    void clear() { *this = MemStore{}; }
};

}  // namespace dc
