// Internal to the core: what this node holds for other users (darkchat-protocol(7),
// HOLDING). A contact who cannot reach a user (no session of it is online)
// leaves its messages with us, sealed to that user's holding key, and we hand
// them over when a session of that user is back, until one acknowledges each.
// Bounded in count, per sender and in bytes; nothing is kept longer than
// Config::hold_max_age. It reads no clock and sends nothing: the node asks it
// what is due and tells it what was acknowledged.
#pragma once

#include "darkchat/core.hpp"

#include <map>
#include <string>
#include <vector>

namespace dc::core {

class Holding {
public:
    explicit Holding(const Config& cfg) : cfg_(cfg) {}

    // What the store kept, oldest first (as the snapshot gives it).
    void restore(std::vector<HeldRecord> held);

    // Keeps x unless a limit says no: then why not, in words for the sender's
    // terminal. Empty: kept now, or kept before (a sender that restarted asks
    // again; it is told yes and nothing is stored twice). fresh: it is new.
    std::string keep(HeldRecord x, bool& fresh);

    // Up to max of what we hold for `to` that was not handed over in the last
    // `retry` ms, in the order it was kept; each counts as handed over now.
    std::vector<const HeldRecord*> due(const std::string& to, TimeMs now, TimeMs retry, std::size_t max);
    // A session of `to` acknowledged id: forgotten. False when we held no such thing.
    bool erase(const std::string& to, const MessageId& id);
    // Takes out what is older than Config::hold_max_age.
    std::vector<HeldRecord> expire(TimeMs now);

    // The users we hold something for.
    std::vector<std::string> recipients() const;
    bool holds_for(const std::string& to) const;
    std::size_t size() const { return items_.size(); }
    std::size_t bytes() const { return bytes_; }

private:
    struct Item {
        HeldRecord rec;
        std::uint64_t order = 0;  // the order it was kept in
        TimeMs handed = 0;        // last handed over (0: never)
        bool was_handed = false;
    };
    using Key = std::pair<std::string, MessageId>;
    void add(HeldRecord rec);
    void remove(std::map<Key, Item>::iterator it);

    const Config& cfg_;
    std::map<Key, Item> items_;
    std::map<std::string, std::size_t, std::less<>> per_sender_;
    std::map<std::string, std::size_t, std::less<>> per_recipient_;
    std::size_t bytes_ = 0;
    std::uint64_t next_order_ = 0;
};

}  // namespace dc::core
