// What this node holds for other users (holding.hpp).
#include "core/holding.hpp"

#include <algorithm>

namespace dc::core {

void Holding::restore(std::vector<HeldRecord> held) {
    for (auto& h : held)
        if (!items_.count({h.to, h.id})) add(std::move(h));
}

void Holding::add(HeldRecord rec) {
    Key k{rec.to, rec.id};
    bytes_ += rec.sealed.size();
    ++per_sender_[rec.from];
    ++per_recipient_[rec.to];
    items_.emplace(std::move(k), Item{std::move(rec), next_order_++, 0});
}

void Holding::remove(std::map<Key, Item>::iterator it) {
    const HeldRecord& r = it->second.rec;
    bytes_ -= r.sealed.size();
    if (auto s = per_sender_.find(r.from); s != per_sender_.end() && --s->second == 0) per_sender_.erase(s);
    if (auto t = per_recipient_.find(r.to); t != per_recipient_.end() && --t->second == 0) per_recipient_.erase(t);
    items_.erase(it);
}

std::string Holding::keep(HeldRecord x, bool& fresh) {
    fresh = false;
    if (items_.count({x.to, x.id})) return {};
    if (x.sealed.size() > cfg_.max_held_bytes) return "too big to hold";
    if (auto s = per_sender_.find(x.from); s != per_sender_.end() && s->second >= cfg_.max_held_per_sender)
        return "holding " + std::to_string(s->second) + " messages from " + x.from + " already";
    if (items_.size() >= cfg_.max_held || bytes_ + x.sealed.size() > cfg_.max_held_bytes) return "full";
    fresh = true;
    add(std::move(x));
    return {};
}

std::vector<const HeldRecord*> Holding::due(const std::string& to, TimeMs now, TimeMs retry, std::size_t max) {
    std::vector<Item*> v;
    for (auto it = items_.lower_bound(Key{to, MessageId{}}); it != items_.end() && it->first.first == to; ++it) {
        Item& i = it->second;
        if (!i.was_handed || now - i.handed >= retry) v.push_back(&i);
    }
    std::sort(v.begin(), v.end(), [](const Item* a, const Item* b) { return a->order < b->order; });
    if (v.size() > max) v.resize(max);
    std::vector<const HeldRecord*> out;
    for (Item* i : v) {
        i->handed = now;
        i->was_handed = true;
        out.push_back(&i->rec);
    }
    return out;
}

bool Holding::erase(const std::string& to, const MessageId& id) {
    auto it = items_.find({to, id});
    if (it == items_.end()) return false;
    remove(it);
    return true;
}

std::vector<HeldRecord> Holding::expire(TimeMs now) {
    std::vector<HeldRecord> out;
    for (auto it = items_.begin(); it != items_.end();) {
        auto next = std::next(it);
        if (now - it->second.rec.kept > cfg_.hold_max_age) {
            out.push_back(it->second.rec);
            remove(it);
        }
        it = next;
    }
    return out;
}

std::vector<std::string> Holding::recipients() const {
    std::vector<std::string> v;
    for (auto& [to, n] : per_recipient_) v.push_back(to);
    return v;
}

bool Holding::holds_for(const std::string& to) const { return per_recipient_.count(to) > 0; }

}  // namespace dc::core
