#include "core/chat_order.hpp"

#include <algorithm>

namespace dc::core {

ChatOrder::Place ChatOrder::place(const StreamKey& k, std::uint64_t seq, std::uint64_t base) const {
    auto it = streams_.find(k);
    std::uint64_t last = it == streams_.end() ? 0 : it->second.last;
    if (seq <= last) return Place::late;
    // Everything below base was acknowledged: nothing there to wait for.
    std::uint64_t expected = std::max(last, base > 0 ? base - 1 : 0) + 1;
    return seq <= expected ? Place::now : Place::wait;
}

bool ChatOrder::hold(const StreamKey& k, std::uint64_t seq, HeldChat&& m, TimeMs now) {
    auto it = streams_.find(k);
    if (it != streams_.end() && it->second.waiting.count(seq)) return true;
    if (held_count_ >= max_held_) return false;
    if (it == streams_.end()) it = streams_.emplace(k, Stream{}).first;
    Stream& s = it->second;
    if (s.waiting.size() >= max_per_stream_) return false;
    if (s.waiting.empty()) s.since = now;
    s.waiting.emplace(seq, std::move(m));
    ++held_count_;
    return true;
}

std::vector<HeldChat> ChatOrder::release(Stream& s) {
    std::vector<HeldChat> out;
    auto first = s.waiting.begin();
    if (first != s.waiting.end() && first->first <= s.last + 1) {
        out.push_back(std::move(first->second));
        s.waiting.erase(first);
        --held_count_;
    }
    return out;
}

std::vector<HeldChat> ChatOrder::shown(const StreamKey& k, std::uint64_t seq, TimeMs now) {
    auto& s = streams_[k];
    s.last = std::max(s.last, seq);
    s.since = now;  // progress: the wait starts again
    // Held ones at or below what was shown are late now: due as well.
    std::vector<HeldChat> out;
    while (!s.waiting.empty() && s.waiting.begin()->first <= s.last) {
        out.push_back(std::move(s.waiting.begin()->second));
        s.waiting.erase(s.waiting.begin());
        --held_count_;
    }
    auto next = release(s);
    for (auto& m : next) out.push_back(std::move(m));
    return out;
}

std::vector<HeldChat> ChatOrder::overdue(TimeMs now) {
    std::vector<HeldChat> out;
    for (auto& [k, s] : streams_) {
        if (s.waiting.empty() || now - s.since < max_wait_) continue;
        // Skip the gap before the lowest number held; the rest follows through shown().
        s.last = std::max(s.last, s.waiting.begin()->first - 1);
        s.since = now;
        auto due = release(s);
        for (auto& m : due) out.push_back(std::move(m));
    }
    return out;
}

bool ChatOrder::waiting(const StreamKey& k) const {
    auto it = streams_.find(k);
    return it != streams_.end() && !it->second.waiting.empty();
}

std::uint64_t ChatOrder::last_shown(const StreamKey& k) const {
    auto it = streams_.find(k);
    return it == streams_.end() ? 0 : it->second.last;
}

void ChatOrder::set_last_shown(const StreamKey& k, std::uint64_t seq) { streams_[k].last = seq; }

std::optional<TimeMs> ChatOrder::next_deadline() const {
    std::optional<TimeMs> t;
    for (auto& [k, s] : streams_)
        if (!s.waiting.empty()) t = t ? std::min(*t, s.since + max_wait_) : s.since + max_wait_;
    return t;
}

}  // namespace dc::core
