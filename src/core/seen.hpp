// Bounded memories of what a node has seen: the chat messages it accepted, for
// de-duplication (darkchat-security(7), "Availability under floods"), and the
// declarations it acted on.
//
// Each author's messages are kept ordered by (sent, id), both signed by the
// author. When more than `capacity` are held, the oldest of the author holding
// the most are forgotten, and that author's floor rises to the last one
// forgotten: anything of theirs at or below the floor counts as seen. So a
// contact flooding us with chat pushes out only its own past, and other
// authors' messages, late ones too, are still recognised once.
#pragma once

#include "darkchat/core.hpp"
#include "darkchat/types.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace dc::core {

class SeenMessages {
public:
    explicit SeenMessages(std::size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

    bool contains(const std::string& author, TimeMs sent, const MessageId& id) const;
    // Remembers a message; false when it was seen (or is at or below its author's floor).
    bool insert(const std::string& author, TimeMs sent, const MessageId& id);
    // Undoes insert() of a message that could not be stored after all (a floor
    // that rose meanwhile stays where it is).
    void forget(const std::string& author, TimeMs sent, const MessageId& id);

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

// The declarations a node has acted on (forwarded, answered): session,
// sequence number and nonce, the newest `capacity` of them (at most 65535);
// past it the oldest is forgotten. Every node keeps one, so it is kept small:
// a keyed 64-bit fingerprint of each (session, sequence, nonce) in a ring in
// arrival order (8 bytes a key) and an open-addressing index of 16-bit ring
// positions, at most three quarters full (3 to 5 bytes a key). Two keys share
// a fingerprint with a chance of about one in 2^64 per pair; the key of the
// fingerprints is the node's own secret (from its identity), so a sender cannot
// make one of its declarations pass for another's that was not handled.
class HandledDeclarations {
public:
    static constexpr std::size_t kMaxCapacity = 65535;
    // key: the secret the fingerprints are made with (Crypto::hash, keyed).
    HandledDeclarations(std::size_t capacity, Crypto& crypto, const SymmetricKey& key)
        : capacity_(capacity < 1 ? 1 : capacity > kMaxCapacity ? kMaxCapacity : capacity),
          crypto_(crypto),
          key_(key) {}

    bool contains(const SessionId& session, std::uint64_t seq, std::uint64_t nonce) const;
    // Remembers a declaration; false when it was held already.
    bool insert(const SessionId& session, std::uint64_t seq, std::uint64_t nonce);

    std::size_t size() const { return ring_.size(); }
    std::size_t capacity() const { return capacity_; }

private:
    std::uint64_t fingerprint(const SessionId& session, std::uint64_t seq, std::uint64_t nonce) const;
    std::size_t slot_of(std::uint64_t fp) const;  // index slot holding fp, or the empty one where it goes
    void erase_slot(std::size_t slot);
    void rehash(std::size_t slots);

    std::size_t capacity_;
    Crypto& crypto_;
    SymmetricKey key_;
    std::vector<std::uint64_t> ring_;   // fingerprints, oldest at oldest_ once full
    std::size_t oldest_ = 0;
    std::vector<std::uint16_t> index_;  // ring position + 1 (0: empty), linear probing, at most 3/4 full
};

}  // namespace dc::core
