// A map kept as a sorted std::vector of pairs, for maps of one entry or a few
// that a node holds many of: every user it knows has a map of its sessions
// (nearly always one), which as a std::map cost a header and a tree node (an
// allocation) per session. Iterates in key order, as
// std::map does. Unlike std::map, inserting or erasing moves the entries after
// the place it happens: references to entries do not survive either.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

namespace dc::core {

template <typename K, typename V, typename Less = std::less<K>>
class FlatMap {
public:
    using value_type = std::pair<K, V>;
    using iterator = typename std::vector<value_type>::iterator;
    using const_iterator = typename std::vector<value_type>::const_iterator;

    iterator begin() { return v_.begin(); }
    iterator end() { return v_.end(); }
    const_iterator begin() const { return v_.begin(); }
    const_iterator end() const { return v_.end(); }
    std::size_t size() const { return v_.size(); }
    bool empty() const { return v_.empty(); }

    iterator find(const K& k) {
        auto it = lower(v_, k);
        return it != v_.end() && it->first == k ? it : v_.end();
    }
    const_iterator find(const K& k) const {
        auto it = lower(v_, k);
        return it != v_.end() && it->first == k ? it : v_.end();
    }
    std::size_t count(const K& k) const { return find(k) != end() ? 1 : 0; }

    // The value under k, made (value-initialised) if there is none.
    V& operator[](const K& k) {
        auto it = lower(v_, k);
        if (it == v_.end() || !(it->first == k)) it = v_.insert(it, value_type{k, V{}});
        return it->second;
    }
    std::size_t erase(const K& k) {
        auto it = find(k);
        if (it == v_.end()) return 0;
        v_.erase(it);
        return 1;
    }
    void clear() { std::vector<value_type>().swap(v_); }

private:
    template <typename Vec>
    static auto lower(Vec& v, const K& k) {
        return std::lower_bound(v.begin(), v.end(), k, [](const value_type& e, const K& key) { return Less{}(e.first, key); });
    }
    std::vector<value_type> v_;
};

}  // namespace dc::core
