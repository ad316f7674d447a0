#include "core/trust.hpp"

#include "darkchat/crypto.hpp"

#include <algorithm>

namespace dc::core {

bool Trust::key_ok(const PublicKey* pinned, const std::string& user, const PublicKey& key, TimeMs now) {
    if (!pinned || *pinned == key) return true;
    note(user, key, now);
    return false;
}

Trust::Conflict& Trust::note(const std::string& user, const PublicKey& key, TimeMs now) {
    if (!conflicts_.count(user) && conflicts_.size() >= kMaxConflicts) {
        auto oldest = std::min_element(conflicts_.begin(), conflicts_.end(),
                                       [](auto& a, auto& b) { return a.second.last_seen < b.second.last_seen; });
        conflicts_.erase(oldest);
    }
    Conflict& c = conflicts_[user];
    if (c.key != key) c = Conflict{key, now, false};
    c.last_seen = now;
    return c;
}

Trust::Untrusted Trust::untrusted_message(const std::string& user, const PublicKey& key, const MessageId& id,
                                          TimeMs now) {
    Untrusted u;
    Conflict& c = note(user, key, now);
    if (!c.warned) {
        c.warned = true;
        u.warn = true;
    }
    if (!shown_.insert(id).second) return u;
    if (shown_.size() > kMaxUntrustedIds) shown_.clear();
    u.show = true;
    return u;
}

Result<PublicKey> Trust::accept(const std::string& name, const std::string& fingerprint, bool known_user) {
    auto c = conflicts_.find(name);
    if (c == conflicts_.end() || !known_user)
        return Error{"no new key seen for " + name + " (\\keys " + name + " shows its keys)"};
    auto norm = [](std::string x) {
        x.erase(std::remove(x.begin(), x.end(), ' '), x.end());
        return x;
    };
    if (norm(fingerprint) != norm(crypto::fingerprint(c->second.key)))
        return Error{"that is not the fingerprint of " + name + "'s new key (\\keys " + name + ")"};
    PublicKey key = c->second.key;
    conflicts_.erase(c);
    return key;
}

const PublicKey* Trust::other_key(const std::string& user) const {
    auto c = conflicts_.find(user);
    return c == conflicts_.end() ? nullptr : &c->second.key;
}

}  // namespace dc::core
