// A bounded memory of the chat messages a node has accepted, for de-duplication
// (darkchat-security(7), "Availability under floods").
//
// Each author's messages are kept ordered by (sent, id), both signed by the
// author. When more than `capacity` are held, the oldest of the author holding
// the most are forgotten, and that author's floor rises to the last one
// forgotten: anything of theirs at or below the floor counts as seen. So a
// contact flooding us with chat pushes out only its own past, and other
// authors' messages, late ones too, are still recognised once.
#pragma once

#include "darkchat/types.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

namespace dc::core {

class SeenMessages {
public:
    explicit SeenMessages(std::size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

    bool contains(const std::string& author, TimeMs sent, const MessageId& id) const;
    // Remembers a message; false when it was seen (or is at or below its author's floor).
    bool insert(const std::string& author, TimeMs sent, const MessageId& id);

    std::size_t size() const { return size_; }          // ids held, never above capacity
    std::size_t authors() const { return by_author_.size(); }
    std::size_t capacity() const { return capacity_; }

private:
    using Key = std::pair<TimeMs, MessageId>;
    struct Author {
        std::set<Key> ids;
        std::optional<Key> floor;  // everything at or below it counts as seen
    };
    void evict();

    std::size_t capacity_;
    std::size_t size_ = 0;
    std::map<std::string, Author, std::less<>> by_author_;
};

}  // namespace dc::core
