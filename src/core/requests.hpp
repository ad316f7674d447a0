// Internal to the core: our requests still waiting for answers (user lists,
// pings, \explode, probes), keyed by the challenge they carry. An answer
// counts only if it echoes a challenge we hold, and each session's answer
// counts once. Bounded: the oldest is dropped when too many are outstanding.
// Time is passed in.
#pragma once

#include "darkchat/types.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace dc::core {

enum class PendingKind { user_list, ping, explode, probe };

// A requestUserList as asked, to ask for the next page of its answer (the
// answer may come from another address than the one asked, over TCP).
struct ListQuestion {
    Addr to;
    std::vector<std::string> want;
    std::string after;       // the page this request asks for (empty: the first)
    std::size_t pages = 1;   // pages asked for so far, this one included
};

struct Pending {
    PendingKind kind = PendingKind::probe;
    TimeMs expires = 0;
    std::size_t answers = 0;
    // The sessions that answered (each counts once), sorted: most requests get
    // one answer or a few, and a node holds dozens of requests after a start,
    // so a flat vector, not a tree node per answer.
    std::vector<std::pair<std::string, SessionId>> answered;
    std::unique_ptr<ListQuestion> list;  // a user list's question, to follow its pages

    // Records an answer; false when that session answered already.
    bool first_answer(const std::string& user, const SessionId& session) {
        std::pair<std::string, SessionId> key{user, session};
        auto it = std::lower_bound(answered.begin(), answered.end(), key);
        if (it != answered.end() && *it == key) return false;
        answered.insert(it, std::move(key));
        return true;
    }
};

class Requests {
public:
    static constexpr TimeMs kLifetime = 30000;     // how long an answer to our request is expected
    static constexpr std::size_t kMaxPending = 1024;  // outstanding requests of ours

    // Remembers a request sent now with challenge n (unpredictable, from the
    // caller's Crypto) and returns n.
    std::uint64_t add(PendingKind kind, std::uint64_t n, TimeMs now, std::unique_ptr<ListQuestion> list = {}) {
        if (pending_.size() >= kMaxPending) expire(now);
        if (pending_.size() >= kMaxPending) pending_.erase(pending_.begin());
        pending_[n] = Pending{kind, now + kLifetime, 0, {}, std::move(list)};
        return n;
    }

    // The request that challenge n belongs to, if it is still waiting.
    Pending* find(std::uint64_t n) {
        auto it = pending_.find(n);
        return it == pending_.end() ? nullptr : &it->second;
    }

    void expire(TimeMs now) {
        std::erase_if(pending_, [&](const auto& kv) { return kv.second.expires <= now; });
    }

    std::size_t size() const { return pending_.size(); }

private:
    std::map<std::uint64_t, Pending> pending_;
};

}  // namespace dc::core
