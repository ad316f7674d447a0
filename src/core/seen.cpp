// Bounded de-duplication of chat messages; see include/darkchat/seen.hpp.
#include "darkchat/seen.hpp"

#include <algorithm>
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

}  // namespace dc::core
