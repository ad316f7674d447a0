// Internal to src/roles: what the three role machines share. Building, signing and
// opening packets is the core's envelope (core/envelope.hpp), adapted here to the
// roles' counters and queue.
#pragma once

#include "darkchat/crypto.hpp"
#include "darkchat/roles.hpp"
#include "darkchat/roles_wire.hpp"
#include "darkchat/wire.hpp"
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

    std::optional<core::Transmit> poll() { return pop_front(tx_); }

    // Parses, charges the sender's ip budget, checks the signature. Only role types.
    std::optional<Incoming> open(TimeMs now, const Addr& from, ByteView data) {
        auto pkt = env_.open(data, stats_, [&](const wire::Packet& p) {
            if (!wire::is_role_type(p.header.type)) return core::Drop::unsolicited;
            return env_.ip_budget(now, from) ? core::Drop::none : core::Drop::rate_limited;
        });
        if (!pkt) return std::nullopt;
        Incoming in{std::move(pkt).value(), from, from, data.size()};
        in.reply = core::reply_addr(from, in.pkt.header);
        return in;
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
inline bool retry_after(const std::string& reason) { return reason == kNotJoined || reason == kDirectoryUnknown; }

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
