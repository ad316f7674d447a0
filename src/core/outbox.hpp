// Internal to the core: the outbox. Chat messages waiting for an
// acknowledgement, per target user (a recipient, or our own user for the
// mirror to our other devices): when each is tried again (backing off), the
// pacer that spreads chat packets over time, and what an acknowledgement
// does. It sends nothing itself: try_send() hands an entry that may go now
// to the caller, who seals it to each of the target's sessions. Time is
// passed in.
#pragma once

#include "darkchat/core.hpp"
#include "core/round_trips.hpp"
#include "core/budgets.hpp"

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace dc::core {

struct OutEntry {
    OutboxRecord rec;
    wire::ChatMessage msg;
    TimeMs next_try = 0;
    TimeMs gap = 0;
    TimeMs last_nudge = 0;  // when a receiver's wait for it last made us resend it
    bool tried = false;     // sent at least once (to the sessions online then)
    std::uint32_t tries = 0;
    TimeMs first_try = 0;   // of its first try: its ack measures the round trip (round_trips.hpp)
    // Holding (node_holding.cpp): the holders that said they keep it for its
    // offline target, and when we last asked one (in memory: after a restart
    // we ask again, and a holder that has it already says yes).
    std::vector<std::string> held_by;
    TimeMs hold_asked = 0;
    bool hold_was_asked = false;
};

class Outbox {
public:
    using Key = std::pair<MessageId, std::string>;  // message, target user
    using Entries = std::map<Key, OutEntry>;

    explicit Outbox(const Config& cfg) : cfg_(cfg), rtt_(cfg.retry_floor, cfg.retry_initial, cfg.retry_max) {}

    // An entry kept by the store, from before a restart.
    void restore(OutboxRecord rec, wire::ChatMessage msg);
    // Everything is due now (our start: whoever is online gets it at once).
    void all_due(TimeMs now);

    bool contains(const MessageId& id, const std::string& target) const { return entries_.count({id, target}) > 0; }
    OutEntry* find(const MessageId& id, const std::string& target);
    std::size_t waiting_for(const std::string& target) const;
    // Adds a message for target, due now. behind: older ones for that target
    // still wait for their first try (the pacer holds them back), so this one
    // must wait its turn behind them rather than be tried at once.
    OutEntry& add(OutboxRecord rec, wire::ChatMessage msg, TimeMs now, bool& behind);
    void erase(const MessageId& id, const std::string& target);
    const Entries& entries() const { return entries_; }
    std::size_t size() const { return entries_.size(); }

    // Tries e now unless the pacer holds it back (false: it stays due, and so
    // do those after it). send(e) seals and sends it; then its next try backs off.
    // on_channel: every session it goes to has a channel (paced far less: see Config).
    template <typename Send>
    bool try_send(OutEntry& e, TimeMs now, bool on_channel, Send&& send) {
        if (!paced(now, on_channel)) return false;
        if (!e.tried) {
            e.first_try = now;
            e.gap = rtt_.timeout(e.rec.target);
            --targets_[e.rec.target].untried;
        }
        e.tried = true;
        ++e.tries;
        send(static_cast<const OutEntry&>(e));
        e.next_try = now + e.gap;
        e.gap = std::min(e.gap * 2, cfg_.retry_max);
        return true;
    }
    // e's ack came: a first try's measures the round trip to its target.
    void acked(const OutEntry& e, TimeMs now) {
        if (e.tries == 1) rtt_.sample(e.rec.target, now - e.first_try);
    }
    TimeMs retry_timeout(const std::string& target) const { return rtt_.timeout(target); }

    // How many chat packets the pacers let go now (one more, to learn when the next may).
    std::size_t pace_budget(TimeMs now);
    // Before then no chat may leave (one of the pacers is spent; waking earlier
    // could find nothing to send).
    TimeMs pace_ready() const { return std::max(pace_ready_[0], pace_ready_[1]); }

    // Entries that pass pred(key, entry), oldest message first: a backlog goes
    // out in the order it was written, not in the order of its random ids. At
    // most `first` of them when only that many can go (the pacer's budget).
    template <typename Pred>
    std::vector<OutEntry*> in_order(Pred pred, std::size_t first = SIZE_MAX) {
        std::vector<OutEntry*> v;
        for (auto& [k, e] : entries_)
            if (pred(k, e)) v.push_back(&e);
        sort_oldest_first(v, first);
        return v;
    }
    // The target is back: all its entries are due now, retries start over.
    std::vector<OutEntry*> flush(const std::string& target, TimeMs now);

    // The lowest number of e's stream we still hold for e's target: all below
    // it were acknowledged (the receiver need not wait for them).
    std::uint64_t base_of(const OutEntry& e) const;

    // The entries for target of the stream (session, to) numbered 1 to upto, lowest first.
    std::vector<OutEntry*> upto(const std::string& target, const SessionId& session, const std::string& to,
                                std::uint64_t upto);

    // The receiver holds e (an earlier one of its stream is missing): it need
    // not be resent soon, only in case the receiver restarts and forgets it.
    void held(OutEntry& e, TimeMs now);
    // The receiver of e misses number `want` of e's stream: that entry, due
    // now, unless a receiver's word made us resend it just before.
    OutEntry* wanted(const OutEntry& e, std::uint64_t want, TimeMs now);

private:
    bool paced(TimeMs now, bool on_channel);
    double pace_rate(bool on_channel) const {
        return std::max(on_channel ? cfg_.chat_channel_rate : cfg_.chat_send_rate, 1.0);
    }
    double pace_burst(bool on_channel) const { return on_channel ? cfg_.chat_channel_burst : cfg_.chat_send_burst; }
    static void sort_oldest_first(std::vector<OutEntry*>& v, std::size_t first);

    static constexpr TimeMs kResendAfterHeld = 100;  // a message a receiver waits for is resent at most this often
    // What a message's target, number or stream would otherwise cost a walk over
    // every entry to learn: per target, its entries and those never tried; per
    // stream (target, author session, recipient), the numbers waiting.
    struct Target {
        std::size_t count = 0;
        std::size_t untried = 0;
    };
    using Stream = std::tuple<std::string, SessionId, std::string>;
    using Numbers = std::set<std::pair<std::uint64_t, MessageId>>;
    void index(const OutEntry& e);
    void unindex(const OutEntry& e);
    const Numbers* numbers(const std::string& target, const SessionId& session, const std::string& to) const;

    const Config& cfg_;
    Entries entries_;
    std::map<std::string, Target, std::less<>> targets_;
    std::map<Stream, Numbers> streams_;
    RoundTrips rtt_;
    TokenBucket pace_[2];        // signed packets, channel packets
    TimeMs pace_ready_[2] = {};  // when each has a token again after it was spent
};

}  // namespace dc::core
