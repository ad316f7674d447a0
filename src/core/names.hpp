// A short list of user names kept in one string: each name after its length.
// Every node keeps the links of every user it knows. As a
// std::vector<std::string> they would cost a string header a name (and the
// name again past the short-string size); as this, one string header plus the
// names and a byte each.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace dc::core {

class NameList {
public:
    NameList() = default;
    explicit NameList(const std::vector<std::string>& names) {
        std::size_t n = 0;
        for (auto& s : names) n += s.size() + (s.size() < kLong ? 1 : 5);
        bytes_.reserve(n);
        for (auto& s : names) {
            // Names are 1 to 32 bytes (valid_user_name); anything longer still fits.
            if (s.size() < kLong) {
                bytes_.push_back(static_cast<char>(s.size()));
            } else {
                bytes_.push_back(static_cast<char>(kLong));
                for (int i = 0; i < 4; ++i) bytes_.push_back(static_cast<char>((s.size() >> (8 * i)) & 0xff));
            }
            bytes_.append(s);
        }
    }

    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = std::string_view;
        using difference_type = std::ptrdiff_t;
        using pointer = void;
        using reference = std::string_view;

        iterator() = default;
        std::string_view operator*() const { return {p_ + head(), length()}; }
        iterator& operator++() {
            p_ += head() + length();
            return *this;
        }
        iterator operator++(int) {
            auto o = *this;
            ++*this;
            return o;
        }
        bool operator==(const iterator&) const = default;

    private:
        friend class NameList;
        explicit iterator(const char* p) : p_(p) {}
        std::size_t head() const { return static_cast<unsigned char>(*p_) < kLong ? 1 : 5; }
        std::size_t length() const {
            auto b = static_cast<unsigned char>(*p_);
            if (b < kLong) return b;
            std::size_t n = 0;
            for (int i = 0; i < 4; ++i) n |= std::size_t{static_cast<unsigned char>(p_[1 + i])} << (8 * i);
            return n;
        }
        const char* p_ = nullptr;
    };

    iterator begin() const { return iterator(bytes_.data()); }
    iterator end() const { return iterator(bytes_.data() + bytes_.size()); }
    bool empty() const { return bytes_.empty(); }
    std::size_t size() const {
        std::size_t n = 0;
        for (auto it = begin(); it != end(); ++it) ++n;
        return n;
    }
    bool contains(std::string_view name) const {
        for (auto n : *this)
            if (n == name) return true;
        return false;
    }
    std::vector<std::string> to_vector() const {
        std::vector<std::string> v;
        for (auto n : *this) v.emplace_back(n);
        return v;
    }
    // The same names in the same order (the encoding is one-to-one).
    bool operator==(const NameList&) const = default;

private:
    static constexpr unsigned kLong = 255;  // a length byte of 255: four bytes of length follow
    std::string bytes_;
};

}  // namespace dc::core
