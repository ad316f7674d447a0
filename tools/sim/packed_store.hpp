// A simulated user's store packed for large runs: what MemStore keeps
// (tests/support/mem_store.hpp), with its users and sessions, most of its
// size in dcsim, held as small entries that point into pools shared by every
// store of the process: the user names, the users' keys, and the sessions'
// signed declarations (each user that knows a session stores the very same
// declaration: here its bytes are kept once, while any store holds them).
// Every other operation goes to a MemStore inside. snapshot() gives what
// MemStore::snapshot() gives for the same operations, in the same order.
#pragma once

#include "support/mem_store.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace dc::sim {

// Values given a small number for the life of the process (a simulated network
// has a fixed set of users, names and keys). Ids are dense, from 0.
template <class T, class View, class Hash = std::hash<View>>
class Interned {
public:
    std::uint32_t id(const T& v) {
        if (auto it = ids_.find(View(v)); it != ids_.end()) return it->second;
        auto n = static_cast<std::uint32_t>(values_.size());
        values_.push_back(v);
        ids_.emplace(View(values_.back()), n);  // a deque does not move what it holds
        return n;
    }
    const T& operator[](std::uint32_t id) const { return values_[id]; }
    std::size_t size() const { return values_.size(); }

private:
    std::deque<T> values_;
    std::unordered_map<View, std::uint32_t, Hash> ids_;
};

struct KeyHash {
    std::size_t operator()(const PublicKey& k) const {
        return std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
    }
};

// Signed blobs shared by their content: intern() gives the one copy of equal
// bytes and signature while anything holds it; the last holder frees it.
class BlobPool {
public:
    using Ref = std::shared_ptr<const wire::SignedBlob>;
    BlobPool() = default;
    BlobPool(const BlobPool&) = delete;
    BlobPool& operator=(const BlobPool&) = delete;

    Ref intern(const wire::SignedBlob& b);
    std::size_t size() const { return items_.size(); }  // distinct blobs held

private:
    struct Item {
        wire::SignedBlob blob;
        std::size_t hash = 0;
        std::weak_ptr<Item> self;
    };
    std::unordered_multimap<std::size_t, Item*> items_;
};

// What every packed store of the process shares; it lives while any store does.
struct StorePools {
    Interned<std::string, std::string_view> names;
    Interned<PublicKey, PublicKey, KeyHash> keys;
    BlobPool decls;
    static std::shared_ptr<StorePools> shared();
};

class PackedStore {
public:
    void apply(const StoreOp& op);
    Snapshot snapshot() const;
    void clear();
    std::size_t users() const { return users_.size(); }
    std::size_t sessions() const { return sessions_.size(); }
    const MemStore& rest() const { return rest_; }  // all but users and sessions

private:
    struct ByName {
        const StorePools* pools = nullptr;
        bool operator()(std::uint32_t a, std::uint32_t b) const { return pools->names[a] < pools->names[b]; }
    };
    struct SessionKey {
        std::uint32_t user = 0;
        SessionId session{};
    };
    struct BySession {
        const StorePools* pools = nullptr;
        bool operator()(const SessionKey& a, const SessionKey& b) const {
            if (a.user != b.user) return pools->names[a.user] < pools->names[b.user];
            return a.session < b.session;
        }
    };
    struct User {
        std::uint32_t key = 0;
        bool contact = false;
        TimeMs first_seen = 0;
    };
    struct Session {
        BlobPool::Ref decl;
        std::uint64_t seq = 0;
        Addr addr;
        bool online = false;
        TimeMs last_seen = 0;
    };

    StorePools& pools();

    std::shared_ptr<StorePools> pools_;  // first: the entries below point into it
    std::map<std::uint32_t, User, ByName> users_;
    std::map<SessionKey, Session, BySession> sessions_;
    MemStore rest_;
};

}  // namespace dc::sim
