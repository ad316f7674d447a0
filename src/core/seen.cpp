// Bounded de-duplication of chat messages and declarations; see src/core/seen.hpp.
#include "core/seen.hpp"

#include <algorithm>
#include <array>
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

std::uint64_t HandledDeclarations::fingerprint(const SessionId& session, std::uint64_t seq,
                                               std::uint64_t nonce) const {
    std::array<std::uint8_t, std::tuple_size_v<SessionId> + 16> in{};
    std::memcpy(in.data(), session.data(), session.size());
    for (int i = 0; i < 8; ++i) {
        in[session.size() + i] = static_cast<std::uint8_t>(seq >> (8 * i));
        in[session.size() + 8 + i] = static_cast<std::uint8_t>(nonce >> (8 * i));
    }
    std::array<std::uint8_t, 16> out{};  // the shortest keyed hash there is; half of it kept
    crypto_.hash(out, ByteView(key_), ByteView(in));
    std::uint64_t fp = 0;
    std::memcpy(&fp, out.data(), sizeof fp);
    return fp;
}

// The fingerprints are keyed hashes already: their low bits are the home slot.
std::size_t HandledDeclarations::slot_of(std::uint64_t fp) const {
    const std::size_t mask = index_.size() - 1;
    std::size_t i = static_cast<std::size_t>(fp) & mask;
    while (index_[i] != 0 && ring_[index_[i] - 1] != fp) i = (i + 1) & mask;
    return i;
}

bool HandledDeclarations::contains(const SessionId& session, std::uint64_t seq, std::uint64_t nonce) const {
    if (index_.empty()) return false;
    return index_[slot_of(fingerprint(session, seq, nonce))] != 0;
}

// Linear probing without tombstones: the entries after the freed slot move
// back into it unless they already sit at or after their home slot.
void HandledDeclarations::erase_slot(std::size_t i) {
    const std::size_t mask = index_.size() - 1;
    for (std::size_t j = (i + 1) & mask; index_[j] != 0; j = (j + 1) & mask) {
        std::size_t home = static_cast<std::size_t>(ring_[index_[j] - 1]) & mask;
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
    const std::uint64_t fp = fingerprint(session, seq, nonce);
    if (!index_.empty() && index_[slot_of(fp)] != 0) return false;
    std::size_t pos;
    if (ring_.size() < capacity_) {
        if ((ring_.size() + 1) * 4 > index_.size() * 3) rehash(std::max<std::size_t>(16, index_.size() * 2));
        // Grown a quarter at a time, not doubled: most nodes never fill it.
        if (ring_.size() == ring_.capacity())
            ring_.reserve(std::min(capacity_, ring_.size() + std::max<std::size_t>(64, ring_.size() / 4)));
        pos = ring_.size();
        ring_.push_back(fp);
    } else {
        pos = oldest_;
        erase_slot(slot_of(ring_[pos]));
        ring_[pos] = fp;
        oldest_ = (oldest_ + 1) % capacity_;
    }
    index_[slot_of(fp)] = static_cast<std::uint16_t>(pos + 1);
    return true;
}

}  // namespace dc::core
