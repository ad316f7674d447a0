// Bounded de-duplication of chat messages and declarations; see src/core/seen.hpp.
#include "core/seen.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace dc::core {

bool SeenMessages::contains(const std::string& author, TimeMs sent, const MessageId& id) const {
    auto a = by_author_.find(author);
    if (a == by_author_.end()) return false;
    Key k{sent, id};
    return (a->second.floor && k <= *a->second.floor) || a->second.ids.count(k) > 0;
}

bool SeenMessages::insert(const std::string& author, TimeMs sent, const MessageId& id) {
    if (contains(author, sent, id)) return false;
    by_author_[author].ids.insert(Key{sent, id});
    if (++size_ > capacity_) evict();
    return true;
}

void SeenMessages::forget(const std::string& author, TimeMs sent, const MessageId& id) {
    auto it = by_author_.find(author);
    if (it == by_author_.end()) return;
    if (it->second.ids.erase(Key{sent, id}) == 1) --size_;
    if (it->second.ids.empty() && !it->second.floor) by_author_.erase(it);
}

// Forgets an eighth of the capacity at once (so the cost is spread over many
// inserts), one id at a time from whichever author holds the most.
void SeenMessages::evict() {
    const std::size_t target = capacity_ - std::max<std::size_t>(1, capacity_ / 8);
    using Entry = std::pair<std::size_t, std::map<std::string, Author, std::less<>>::iterator>;
    std::vector<Entry> heap;
    heap.reserve(by_author_.size());
    for (auto it = by_author_.begin(); it != by_author_.end(); ++it) heap.emplace_back(it->second.ids.size(), it);
    auto less = [](const Entry& x, const Entry& y) { return x.first < y.first; };
    std::make_heap(heap.begin(), heap.end(), less);
    while (size_ > target && !heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), less);
        auto& [count, it] = heap.back();
        auto& a = it->second;
        if (a.ids.size() <= 1) {
            // Every author is down to one message: forget this one entirely.
            size_ -= a.ids.size();
            by_author_.erase(it);
            heap.pop_back();
            continue;
        }
        a.floor = *a.ids.begin();
        a.ids.erase(a.ids.begin());
        --size_;
        count = a.ids.size();
        std::push_heap(heap.begin(), heap.end(), less);
    }
}

// ---- declarations acted on ----------------------------------------------------------

std::size_t HandledDeclarations::hash(const Key& k) {
    std::uint64_t s = 0;
    std::memcpy(&s, k.session.data(), sizeof s < k.session.size() ? sizeof s : k.session.size());
    std::uint64_t x = s ^ (k.seq * 0x9e3779b97f4a7c15ULL) ^ (k.nonce * 0xc2b2ae3d27d4eb4fULL);
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return static_cast<std::size_t>(x);
}

std::size_t HandledDeclarations::slot_of(const Key& k) const {
    const std::size_t mask = index_.size() - 1;
    std::size_t i = hash(k) & mask;
    while (index_[i] != 0 && !(ring_[index_[i] - 1] == k)) i = (i + 1) & mask;
    return i;
}

bool HandledDeclarations::contains(const SessionId& session, std::uint64_t seq, std::uint64_t nonce) const {
    if (index_.empty()) return false;
    return index_[slot_of(Key{session, seq, nonce})] != 0;
}

// Linear probing without tombstones: the entries after the freed slot move
// back into it unless they already sit at or after their home slot.
void HandledDeclarations::erase_slot(std::size_t i) {
    const std::size_t mask = index_.size() - 1;
    for (std::size_t j = (i + 1) & mask; index_[j] != 0; j = (j + 1) & mask) {
        std::size_t home = hash(ring_[index_[j] - 1]) & mask;
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays) continue;
        index_[i] = index_[j];
        i = j;
    }
    index_[i] = 0;
}

void HandledDeclarations::rehash(std::size_t slots) {
    index_.assign(slots, 0);
    for (std::size_t p = 0; p < ring_.size(); ++p) index_[slot_of(ring_[p])] = static_cast<std::uint16_t>(p + 1);
}

bool HandledDeclarations::insert(const SessionId& session, std::uint64_t seq, std::uint64_t nonce) {
    Key k{session, seq, nonce};
    if (!index_.empty() && index_[slot_of(k)] != 0) return false;
    std::size_t pos;
    if (ring_.size() < capacity_) {
        if ((ring_.size() + 1) * 4 > index_.size() * 3) rehash(std::max<std::size_t>(16, index_.size() * 2));
        // Grown a quarter at a time, not doubled: most nodes never fill it.
        if (ring_.size() == ring_.capacity())
            ring_.reserve(std::min(capacity_, ring_.size() + std::max<std::size_t>(64, ring_.size() / 4)));
        pos = ring_.size();
        ring_.push_back(k);
    } else {
        pos = oldest_;
        erase_slot(slot_of(ring_[pos]));
        ring_[pos] = k;
        oldest_ = (oldest_ + 1) % capacity_;
    }
    index_[slot_of(k)] = static_cast<std::uint16_t>(pos + 1);
    return true;
}

}  // namespace dc::core
