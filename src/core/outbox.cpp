#include "core/outbox.hpp"

#include <algorithm>
#include <tuple>

namespace dc::core {

void Outbox::restore(OutboxRecord rec, wire::ChatMessage msg) {
    OutEntry e;
    e.rec = std::move(rec);
    e.msg = std::move(msg);
    e.gap = cfg_.retry_initial;
    Key k{e.rec.id, e.rec.target};
    auto [it, added] = entries_.emplace(std::move(k), std::move(e));
    if (added) index(it->second);
}

void Outbox::index(const OutEntry& e) {
    Target& t = targets_[e.rec.target];
    ++t.count;
    t.untried += !e.tried;
    if (e.msg.seq != 0) streams_[Stream{e.rec.target, e.msg.session, e.msg.to}].emplace(e.msg.seq, e.rec.id);
}

void Outbox::unindex(const OutEntry& e) {
    auto t = targets_.find(e.rec.target);
    if (t != targets_.end()) {
        --t->second.count;
        t->second.untried -= !e.tried;
        if (t->second.count == 0) targets_.erase(t);
    }
    if (e.msg.seq == 0) return;
    auto s = streams_.find(Stream{e.rec.target, e.msg.session, e.msg.to});
    if (s == streams_.end()) return;
    s->second.erase({e.msg.seq, e.rec.id});
    if (s->second.empty()) streams_.erase(s);
}

void Outbox::erase(const MessageId& id, const std::string& target) {
    auto it = entries_.find({id, target});
    if (it == entries_.end()) return;
    unindex(it->second);
    entries_.erase(it);
}

const Outbox::Numbers* Outbox::numbers(const std::string& target, const SessionId& session,
                                       const std::string& to) const {
    auto s = streams_.find(Stream{target, session, to});
    return s == streams_.end() ? nullptr : &s->second;
}

void Outbox::all_due(TimeMs now) {
    for (auto& [k, e] : entries_) e.next_try = now;
}

OutEntry* Outbox::find(const MessageId& id, const std::string& target) {
    auto it = entries_.find({id, target});
    return it == entries_.end() ? nullptr : &it->second;
}

std::size_t Outbox::waiting_for(const std::string& target) const {
    auto t = targets_.find(target);
    return t == targets_.end() ? 0 : t->second.count;
}

OutEntry& Outbox::add(OutboxRecord rec, wire::ChatMessage msg, TimeMs now, bool& behind) {
    OutEntry e;
    e.rec = std::move(rec);
    e.msg = std::move(msg);
    e.gap = cfg_.retry_initial;
    e.next_try = now;
    auto t = targets_.find(e.rec.target);
    behind = t != targets_.end() && t->second.untried > 0;
    Key k{e.rec.id, e.rec.target};
    auto [it, added] = entries_.emplace(std::move(k), std::move(e));
    if (added) index(it->second);
    return it->second;
}

// Chat leaves at most chat_send_rate per second after a burst: an entry over
// the budget waits until the budget has room again (so a backlog, or every
// retry falling due at once, goes out spread over time). Entries that wait
// together go together, oldest first (in_order): pacing never sends a later
// message of a stream before an earlier one.
bool Outbox::paced(TimeMs now, bool on_channel) {
    TokenBucket& b = pace_[on_channel];
    if (b.take(now, pace_rate(on_channel), pace_burst(on_channel))) {
        pace_ready_[on_channel] = 0;
        return true;
    }
    pace_ready_[on_channel] = now + b.until_next(pace_rate(on_channel));
    return false;
}

std::size_t Outbox::pace_budget(TimeMs now) {
    double tokens = 0;
    for (bool ch : {false, true}) {
        pace_[ch].refill(now, pace_rate(ch), pace_burst(ch));
        tokens += std::max(0.0, pace_[ch].tokens());
    }
    return static_cast<std::size_t>(tokens) + 1;
}

void Outbox::sort_oldest_first(std::vector<OutEntry*>& v, std::size_t first) {
    auto older = [](const OutEntry* x, const OutEntry* y) {
        return std::tuple(x->msg.sent, x->rec.queued, x->msg.seq) < std::tuple(y->msg.sent, y->rec.queued, y->msg.seq);
    };
    if (first < v.size()) {
        std::partial_sort(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(first), v.end(), older);
        v.resize(first);
    } else {
        std::sort(v.begin(), v.end(), older);
    }
}

std::vector<OutEntry*> Outbox::flush(const std::string& target, TimeMs now) {
    auto all = in_order([&](const Key& k, const OutEntry&) { return k.second == target; });
    for (auto* e : all) {
        e->gap = rtt_.timeout(target);
        e->next_try = now;
    }
    return all;
}

std::uint64_t Outbox::base_of(const OutEntry& e) const {
    if (e.msg.seq == 0) return 0;
    const Numbers* n = numbers(e.rec.target, e.msg.session, e.msg.to);
    return n && !n->empty() ? std::min(e.msg.seq, n->begin()->first) : e.msg.seq;
}

void Outbox::held(OutEntry& e, TimeMs now) {
    e.gap = cfg_.retry_max;
    e.next_try = std::max(e.next_try, now + cfg_.retry_max);
}

OutEntry* Outbox::wanted(const OutEntry& e, std::uint64_t want, TimeMs now) {
    const Numbers* n = numbers(e.rec.target, e.msg.session, e.msg.to);
    if (!n) return nullptr;
    auto w = n->lower_bound({want, MessageId{}});
    if (w == n->end() || w->first != want) return nullptr;
    OutEntry* o = find(w->second, e.rec.target);
    if (!o || (o->last_nudge != 0 && now - o->last_nudge < kResendAfterHeld)) return nullptr;
    o->last_nudge = now;
    o->gap = rtt_.timeout(o->rec.target);
    o->next_try = now;
    return o;
}

std::vector<OutEntry*> Outbox::upto(const std::string& target, const SessionId& session, const std::string& to,
                                    std::uint64_t last) {
    std::vector<OutEntry*> v;
    const Numbers* n = numbers(target, session, to);
    if (!n) return v;
    for (auto& [seq, id] : *n) {
        if (seq > last) break;
        if (OutEntry* o = find(id, target)) v.push_back(o);
    }
    return v;
}

}  // namespace dc::core
