// Internal to src/roles: what the three role machines share. Building, signing and
// opening packets is the core's envelope (core/envelope.hpp), adapted here to the
// roles' counters and queue.
#pragma once

#include "darkchat/crypto.hpp"
#include "darkchat/roles.hpp"
#include "darkchat/roles_wire.hpp"
#include "darkchat/wire.hpp"
#include "core/budgets.hpp"
#include "core/envelope.hpp"
#include "core/queue.hpp"

#include <algorithm>
#include <deque>
#include <map>

namespace dc::roles::detail {

// The packet being handled, while it is handled.
struct Incoming {
    wire::Packet pkt;
    Addr from;   // where it came from
    Addr reply;  // where to answer: from's ip, the sender's declared port
    std::size_t size = 0;
};

// The core's envelope as the role machines use it: it queues what it signs,
// admits only role types, and counts in RoleStats.
class Envelope {
public:
    Envelope(Identity id, core::Crypto& crypto, std::uint16_t port, double ip_rate, double ip_burst)
        : env_(std::move(id), crypto, port, ip_rate, ip_burst) {}

    const Identity& id() const { return env_.id(); }
    core::Crypto& crypto() { return env_.crypto(); }
    RoleStats& stats() { return stats_; }
    const RoleStats& stats() const { return stats_; }

    // Queues a signed packet of type t to `to`. stream: must go over TCP.
    void send(const Addr& to, wire::MsgType t, const Bytes& payload, bool stream = false) {
        auto tx = env_.seal(to, t, payload);
        if (!tx) return;
        tx->stream = stream;
        tx_.push_back(std::move(*tx));
        ++stats_.sent;
    }

    // The same packet to each of `to`: signed once (the signed header names no receiver).
    void send_all(const std::vector<Addr>& to, wire::MsgType t, const Bytes& payload) {
        std::optional<core::Transmit> first;
        for (auto& a : to) {
            if (!a.valid() || a.port == 0) continue;
            if (!first) first = env_.seal(a, t, payload);
            if (!first) return;
            tx_.push_back(core::Transmit{a, first->data, false});
            ++stats_.sent;
        }
    }

    // Queues a datagram made elsewhere (a room hop packet), as it is.
    void push(const Addr& to, Bytes data) {
        if (!to.valid() || to.port == 0) return;
        tx_.push_back(core::Transmit{to, std::move(data), false});
        ++stats_.sent;
    }

    std::optional<core::Transmit> poll() { return pop_front(tx_); }

    // Parses, charges the sender's budget, checks the signature. Only role types.
    // A sender that known() says we serve at this very address (a joined member, the
    // relay of one of our rooms) spends a budget of its own, at the rate given with
    // known_budget(); everyone else the per-ip budget. A spoofer who claims a known
    // sender's key and address only spends that sender's budget, as with the per-ip one.
    template <typename Known>
    std::optional<Incoming> open(TimeMs now, const Addr& from, ByteView data, Known&& known) {
        auto pkt = env_.open(data, stats_, [&](const wire::Packet& p) {
            if (!wire::is_role_type(p.header.type)) return core::Drop::unsolicited;
            const bool ok = known(p.header, from) ? known_.take({p.header.from_key, from}, now, known_rate_, known_burst_)
                                                  : env_.ip_budget(now, from);
            return ok ? core::Drop::none : core::Drop::rate_limited;
        });
        if (!pkt) return std::nullopt;
        Incoming in{std::move(pkt).value(), from, from, data.size()};
        in.reply = core::reply_addr(from, in.pkt.header);
        return in;
    }
    std::optional<Incoming> open(TimeMs now, const Addr& from, ByteView data) {
        return open(now, from, data, [](const wire::Header&, const Addr&) { return false; });
    }

    // Charges the budget of a known sender at `from` for a packet that open() does not
    // see (a room hop packet): false when it is spent.
    bool take_known(TimeMs now, const PublicKey& key, const Addr& from) {
        return known_.take({key, from}, now, known_rate_, known_burst_);
    }
    // Charges from's ip: false when its budget is spent.
    bool take_ip(TimeMs now, const Addr& from) { return env_.ip_budget(now, from); }
    // A signed packet of type t in answer to a datagram of `limit` bytes that proved
    // nothing: sent only when it is no larger (no amplification).
    void answer_within(const Addr& to, wire::MsgType t, const Bytes& payload, std::size_t limit) {
        auto tx = env_.seal(to, t, payload);
        if (!tx || tx->data.size() > limit) return;
        tx_.push_back(std::move(*tx));
        ++stats_.sent;
    }

    // Packets per second (and burst) of each known sender (see open).
    void known_budget(double rate, double burst) {
        known_rate_ = rate;
        known_burst_ = burst;
    }

    wire::SignedBlob sign(Bytes body) { return env_.sign(std::move(body)); }
    bool verify(const wire::SignedBlob& b, const PublicKey& pk) { return env_.verify(b, pk); }
    std::uint64_t nonce() { return env_.nonce(); }
    template <std::size_t N>
    std::array<std::uint8_t, N> random_id() {
        return env_.template random_id<N>();
    }

private:
    core::Envelope env_;
    core::BucketMap<std::pair<PublicKey, Addr>> known_{core::kMaxBuckets};
    double known_rate_ = 0, known_burst_ = 0;
    std::deque<core::Transmit> tx_;
    RoleStats stats_;
};

// Decodes a payload of the packet being handled; counts a failure as malformed.
template <typename T, typename Decode>
std::optional<T> payload(Envelope& env, const Incoming& in, Decode decode) {
    auto r = decode(ByteView(in.pkt.payload));
    if (!r) {
        ++env.stats().malformed;
        return std::nullopt;
    }
    return std::move(r).value();
}

// roomRefused reasons after which a client joins again (any other reason ends the room
// for that client): the relay forgot it (restart, member_timeout), or has not yet heard
// from its directory.
inline constexpr const char* kNotJoined = "not joined";
inline constexpr const char* kDirectoryUnknown = "directory unknown";
// A group's room whose relay holds a newer list than the joiner's ticket: the joiner's
// group record catches up, and the join with the newer ticket is taken.
inline constexpr const char* kTicketOutdated = "ticket outdated";
inline bool retry_after(const std::string& reason) {
    return reason == kNotJoined || reason == kDirectoryUnknown || reason == kTicketOutdated;
}

// The earliest of a and b, where none means "no deadline".
inline void earliest(std::optional<TimeMs>& acc, TimeMs t) {
    if (!acc || t < *acc) acc = t;
}

inline bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

// A ticket's member entry for user, if listed.
inline const wire::TicketMember* ticket_member(const wire::Ticket& t, const std::string& user) {
    for (auto& m : t.members)
        if (m.user == user) return &m;
    return nullptr;
}

}  // namespace dc::roles::detail
