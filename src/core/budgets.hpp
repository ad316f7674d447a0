// Internal to the core and the roles: packet budgets. One token bucket, the
// per-sender maps of them, and the node's split of incoming traffic into
// known sessions and strangers. Time is passed in; nothing here reads a clock.
#pragma once

#include "darkchat/model.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <tuple>

namespace dc::core {

// `rate` tokens a second, up to `burst`. A bucket starts full the first time it
// is used (whatever the time then, zero included), and a clock that steps back
// adds nothing rather than taking tokens away.
class TokenBucket {
public:
    // Adds what accrued since the last call.
    void refill(TimeMs now, double rate, double burst) {
        if (fresh_) {
            tokens_ = burst;
            last_ = now;
            fresh_ = false;
        }
        tokens_ = std::min(burst, tokens_ + static_cast<double>(std::max<TimeMs>(0, now - last_)) * rate / 1000.0);
        last_ = now;
    }

    // Spends one token if there is one.
    bool take_one() {
        if (tokens_ < 1) return false;
        tokens_ -= 1;
        return true;
    }

    bool take(TimeMs now, double rate, double burst) {
        refill(now, rate, burst);
        return take_one();
    }

    double tokens() const { return tokens_; }
    bool fresh() const { return fresh_; }

    // How long until the next whole token, at rate (at least a millisecond).
    TimeMs until_next(double rate) const {
        return std::max<TimeMs>(1, static_cast<TimeMs>(std::ceil((1 - tokens_) * 1000.0 / rate)));
    }

private:
    double tokens_ = 0;
    TimeMs last_ = 0;
    bool fresh_ = true;
};

// One bucket per sender, at most `max` senders: past that, a new sender
// clears the map (everyone starts full again) rather than letting a flood of
// spoofed senders grow it without bound.
template <typename Key>
class BucketMap {
public:
    explicit BucketMap(std::size_t max) : max_(max) {}

    bool take(const Key& k, TimeMs now, double rate, double burst) {
        if (buckets_.size() >= max_ && !buckets_.count(k)) buckets_.clear();
        return buckets_[k].take(now, rate, burst);
    }

    std::size_t size() const { return buckets_.size(); }

private:
    std::size_t max_;
    std::map<Key, TokenBucket> buckets_;
};

inline constexpr std::size_t kMaxBuckets = 4096;  // senders remembered per map

// The node's budgets apart from the per-ip one (the envelope's): a known
// session's, one for its datagrams and one for its TCP frames (a spoofer on the
// same host who claims that session's address cannot spend what its UDP traffic
// needs: its datagrams come from another port; over TCP it only spends the
// session's TCP budget), and one for all strangers together, so that known
// sessions never wait behind strangers.
class SenderBudgets {
public:
    bool known(TimeMs now, const std::string& user, const SessionId& session, bool stream, double rate, double burst) {
        return known_.take({user, session, stream}, now, rate, burst);
    }
    bool strangers(TimeMs now, double rate, double burst) { return strangers_.take(now, rate, burst); }

private:
    BucketMap<std::tuple<std::string, SessionId, bool>> known_{kMaxBuckets};
    TokenBucket strangers_;
};

}  // namespace dc::core
