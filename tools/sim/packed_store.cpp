#include "sim/packed_store.hpp"

#include <type_traits>
#include <variant>

namespace dc::sim {

BlobPool::Ref BlobPool::intern(const wire::SignedBlob& b) {
    std::string_view body(reinterpret_cast<const char*>(b.body.data()), b.body.size());
    std::string_view sig(reinterpret_cast<const char*>(b.sig.data()), b.sig.size());
    std::size_t h = std::hash<std::string_view>{}(body) ^ (std::hash<std::string_view>{}(sig) * 0x9e3779b97f4a7c15ULL);
    auto [first, last] = items_.equal_range(h);
    for (auto it = first; it != last; ++it)
        if (it->second->blob == b) {
            auto held = it->second->self.lock();
            return Ref(held, &held->blob);
        }
    auto* raw = new Item{b, h, {}};
    std::shared_ptr<Item> item(raw, [this](Item* p) {
        auto [f, l] = items_.equal_range(p->hash);
        for (auto it = f; it != l; ++it)
            if (it->second == p) {
                items_.erase(it);
                break;
            }
        delete p;
    });
    item->self = item;
    items_.emplace(h, raw);
    return Ref(item, &item->blob);
}

std::shared_ptr<StorePools> StorePools::shared() {
    static std::weak_ptr<StorePools> one;
    auto p = one.lock();
    if (!p) one = p = std::make_shared<StorePools>();
    return p;
}

StorePools& PackedStore::pools() {
    if (!pools_) {
        pools_ = StorePools::shared();
        users_ = decltype(users_)(ByName{pools_.get()});
        sessions_ = decltype(sessions_)(BySession{pools_.get()});
    }
    return *pools_;
}

void PackedStore::apply(const StoreOp& op) {
    if (auto* u = std::get_if<store_op::PutUser>(&op)) {
        auto& p = pools();
        users_.insert_or_assign(p.names.id(u->user.name), User{p.keys.id(u->user.key), u->user.contact, u->user.first_seen});
    } else if (auto* s = std::get_if<store_op::PutSession>(&op)) {
        auto& p = pools();
        const SessionRecord& r = s->session;
        sessions_.insert_or_assign(SessionKey{p.names.id(r.user), r.session},
                                   Session{p.decls.intern(r.decl), r.seq, r.addr, r.online, r.last_seen});
    } else if (auto* d = std::get_if<store_op::DeleteSession>(&op)) {
        sessions_.erase(SessionKey{pools().names.id(d->user), d->session});
    } else {
        rest_.apply(op);
    }
}

Snapshot PackedStore::snapshot() const {
    Snapshot s = rest_.snapshot();
    s.users.reserve(users_.size());
    for (auto& [name, u] : users_) s.users.push_back(UserRecord{pools_->names[name], pools_->keys[u.key], u.contact, u.first_seen});
    s.sessions.reserve(sessions_.size());
    for (auto& [k, v] : sessions_) {
        SessionRecord r;
        r.session = k.session;
        r.decl = *v.decl;
        r.seq = v.seq;
        r.addr = v.addr;
        r.online = v.online;
        r.last_seen = v.last_seen;
        r.user = pools_->names[k.user];
        s.sessions.push_back(std::move(r));
    }
    return s;
}

void PackedStore::clear() {
    users_.clear();
    sessions_.clear();
    rest_.clear();
}

}  // namespace dc::sim
