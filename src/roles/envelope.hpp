// Internal to src/roles: what the three role machines share. Building and signing
// packets (the core's envelope, wire::packet_header + assemble_packet), opening them
// (parse, per-ip budget, signature: in that order, so a flood costs no signature
// checks), signed blobs through the injected Crypto, and random ids.
#pragma once

#include "darkchat/crypto.hpp"
#include "darkchat/roles.hpp"
#include "darkchat/roles_wire.hpp"
#include "darkchat/wire.hpp"

#include <algorithm>
#include <deque>
#include <map>

namespace dc::roles::detail {

// Token bucket: rate per second, up to burst.
struct Bucket {
    double tokens = 0;
    TimeMs last = 0;
    bool fresh = true;
    bool take(TimeMs t, double rate, double burst) {
        if (fresh) {
            tokens = burst;
            last = t;
            fresh = false;
        }
        tokens = std::min(burst, tokens + static_cast<double>(std::max<TimeMs>(0, t - last)) * rate / 1000.0);
        last = t;
        if (tokens < 1) return false;
        tokens -= 1;
        return true;
    }
};

// The packet being handled, while it is handled.
struct Incoming {
    wire::Packet pkt;
    Addr from;   // where it came from
    Addr reply;  // where to answer: from's ip, the sender's declared port
    std::size_t size = 0;
};

class Envelope {
public:
    Envelope(Identity id, core::Crypto& crypto, std::uint16_t port, double ip_rate, double ip_burst)
        : id_(std::move(id)), crypto_(crypto), port_(port), ip_rate_(ip_rate), ip_burst_(ip_burst) {}
    ~Envelope() { crypto::wipe(id_.sk); }

    const Identity& id() const { return id_; }
    core::Crypto& crypto() { return crypto_; }
    RoleStats& stats() { return stats_; }
    const RoleStats& stats() const { return stats_; }

    // Queues a signed packet of type t to `to`. stream: must go over TCP.
    void send(const Addr& to, wire::MsgType t, const Bytes& payload, bool stream = false) {
        if (!to.valid() || to.port == 0) return;
        wire::Header h;
        h.type = t;
        h.from_user = id_.user;
        h.from_session = id_.session;
        h.from_port = port_;
        h.from_key = id_.pk;
        const Bytes header = wire::packet_header(h, payload);
        tx_.push_back(core::Transmit{to, wire::assemble_packet(header, crypto_.sign(id_.sk, header)), stream});
        ++stats_.sent;
    }

    std::optional<core::Transmit> poll() {
        if (tx_.empty()) return std::nullopt;
        auto t = std::move(tx_.front());
        tx_.pop_front();
        return t;
    }

    // Parses, charges the sender's ip budget, checks the signature. Only role types.
    std::optional<Incoming> open(TimeMs now, const Addr& from, ByteView data) {
        ++stats_.received;
        auto pkt = wire::parse_packet(data);
        if (!pkt) {
            ++stats_.malformed;
            return std::nullopt;
        }
        if (!wire::is_role_type(pkt->header.type)) {
            ++stats_.unsolicited;
            return std::nullopt;
        }
        if (buckets_.size() >= kMaxBuckets && !buckets_.count(from.ip)) buckets_.clear();
        if (!buckets_[from.ip].take(now, ip_rate_, ip_burst_)) {
            ++stats_.rate_limited;
            return std::nullopt;
        }
        if (!crypto_.verify(pkt->header.from_key, pkt->signed_header, pkt->sig)) {
            ++stats_.bad_signature;
            return std::nullopt;
        }
        Incoming in{std::move(pkt).value(), from, from, data.size()};
        if (in.pkt.header.from_port) in.reply.port = in.pkt.header.from_port;
        return in;
    }

    wire::SignedBlob sign(Bytes body) {
        wire::SignedBlob b;
        b.sig = crypto_.sign(id_.sk, body);
        b.body = std::move(body);
        return b;
    }
    bool verify(const wire::SignedBlob& b, const PublicKey& pk) { return crypto_.verify(pk, b.body, b.sig); }

    std::uint64_t nonce() {
        std::uint64_t n = 0;
        while (n == 0) crypto_.random(std::span(reinterpret_cast<std::uint8_t*>(&n), sizeof n));
        return n;
    }
    template <std::size_t N>
    std::array<std::uint8_t, N> random_id() {
        std::array<std::uint8_t, N> a{};
        crypto_.random(a);
        return a;
    }

private:
    static constexpr std::size_t kMaxBuckets = 4096;  // per-ip budgets remembered (cleared when full, like the core)
    Identity id_;
    core::Crypto& crypto_;
    std::uint16_t port_;
    double ip_rate_, ip_burst_;
    std::map<std::array<std::uint8_t, 16>, Bucket> buckets_;
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

// Takes the oldest element of a queue (poll_event of every machine).
template <typename T>
std::optional<T> pop_front(std::deque<T>& q) {
    if (q.empty()) return std::nullopt;
    T e = std::move(q.front());
    q.pop_front();
    return e;
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
