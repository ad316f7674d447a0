#include "core/sealing_keys.hpp"

#include "darkchat/crypto.hpp"

namespace dc::core {

SealingKeys::~SealingKeys() {
    crypto::wipe(current_.sk);
    if (previous_) crypto::wipe(previous_->sk);
}

void SealingKeys::rotate(TimeMs now, TimeMs period) {
    if (previous_) crypto::wipe(previous_->sk);
    if (current_.pk != KxPublicKey{}) previous_ = current_;
    crypto_.random(current_.sk);
    current_.pk = crypto_.kx_public(current_.sk);
    next_rotation_ = now + period;
    told_.clear();  // every entry names an old key: none can match again
}

const SealingKeys::Pair* SealingKeys::find(const KxPublicKey& pk) const {
    if (pk == current_.pk) return &current_;
    if (previous_ && pk == previous_->pk) return &*previous_;
    return nullptr;
}

}  // namespace dc::core
