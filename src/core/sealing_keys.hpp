// Internal to the core: this session's short-lived X25519 keys, to which
// others seal what they send us. They live in memory only and are replaced at
// every start and every rotation period, so what was sealed to an old key
// cannot be read once it is gone (forward secrecy). The key before the current
// one is kept until the next rotation, so that what was sealed while our new
// declaration travelled still opens. Time is passed in.
#pragma once

#include "darkchat/core.hpp"

#include <optional>
#include <set>
#include <utility>

namespace dc::core {

class SealingKeys {
public:
    struct Pair {
        KxPublicKey pk{};
        KxSecretKey sk{};
    };

    explicit SealingKeys(Crypto& crypto) : crypto_(crypto) {}
    ~SealingKeys();
    SealingKeys(const SealingKeys&) = delete;
    SealingKeys& operator=(const SealingKeys&) = delete;

    // A new current key; the current one becomes the previous, the previous is wiped.
    void rotate(TimeMs now, TimeMs period);
    bool due(TimeMs now) const { return now >= next_rotation_; }
    TimeMs next_rotation() const { return next_rotation_; }

    const Pair& current() const { return current_; }
    // The pair whose public key is pk: the current or the previous one.
    const Pair* find(const KxPublicKey& pk) const;

    // Whether session should be told our current key because it used one we
    // no longer hold: true once per session and current key.
    bool tell(const SessionId& session) { return told_.insert({session, current_.pk}).second; }

private:
    Crypto& crypto_;
    Pair current_;
    std::optional<Pair> previous_;
    TimeMs next_rotation_ = 0;
    std::set<std::pair<SessionId, KxPublicKey>> told_;
};

}  // namespace dc::core
