// Internal to the core and the roles: the packet envelope. Builds and signs
// outgoing packets, opens incoming ones, keeps the per-ip budgets, and makes
// the challenges and ids that must be unpredictable (from the injected Crypto,
// never from a seeded generator). The node and the three role machines each
// hold one; what they add is only which packets they admit.
#pragma once

#include "darkchat/core.hpp"
#include "darkchat/wire.hpp"
#include "core/budgets.hpp"

#include <array>
#include <optional>

namespace dc::core {

// Why an incoming packet was dropped before its payload was looked at.
enum class Drop { none, malformed, unsolicited, rate_limited, bad_signature };

// The address to answer a packet at: the source ip and the sender's declared port.
inline Addr reply_addr(const Addr& from, const wire::Header& h) {
    Addr a = from;
    if (h.from_port) a.port = h.from_port;
    return a;
}

class Envelope {
public:
    // ip_rate, ip_burst: packets per second (and burst) accepted from one ip
    // before its signatures are checked.
    Envelope(Identity id, Crypto& crypto, std::uint16_t port, double ip_rate, double ip_burst);
    ~Envelope();
    Envelope(const Envelope&) = delete;
    Envelope& operator=(const Envelope&) = delete;

    const Identity& id() const { return id_; }
    Crypto& crypto() const { return crypto_; }

    // A signed packet of type t to `to`; none when `to` is nowhere to send to.
    std::optional<Transmit> seal(const Addr& to, wire::MsgType t, ByteView payload);

    // Opens a packet: parses it, lets `admit` charge the sender's budget (or
    // refuse it) and only then checks the signature, so that a flood costs no
    // signature checks. Counts what it drops in stats (core::Stats and
    // RoleStats alike). admit(const wire::Packet&) returns Drop::none to let
    // the packet through.
    template <typename Stats, typename Admit>
    std::optional<wire::Packet> open(ByteView data, Stats& stats, Admit&& admit) {
        ++stats.received;
        auto pkt = wire::parse_packet(data);
        if (!pkt) {
            ++stats.malformed;
            return std::nullopt;
        }
        switch (admit(static_cast<const wire::Packet&>(*pkt))) {
            case Drop::none: break;
            case Drop::unsolicited: ++stats.unsolicited; return std::nullopt;
            case Drop::rate_limited: ++stats.rate_limited; return std::nullopt;
            case Drop::malformed: ++stats.malformed; return std::nullopt;
            case Drop::bad_signature: ++stats.bad_signature; return std::nullopt;
        }
        if (!crypto_.verify(pkt->header.from_key, pkt->signed_header, pkt->sig)) {
            ++stats.bad_signature;
            return std::nullopt;
        }
        return std::move(pkt).value();
    }

    // Spends one packet of from's ip budget; false when it is spent.
    bool ip_budget(TimeMs now, const Addr& from) { return ip_buckets_.take(from.ip, now, ip_rate_, ip_burst_); }

    // A body signed with our key, and a check of one signed by pk.
    wire::SignedBlob sign(Bytes body);
    bool verify(const wire::SignedBlob& b, const PublicKey& pk) const { return crypto_.verify(pk, b.body, b.sig); }

    // A challenge: unpredictable and never zero (zero means "none" on the wire).
    std::uint64_t nonce();
    template <std::size_t N>
    std::array<std::uint8_t, N> random_id() {
        std::array<std::uint8_t, N> a{};
        crypto_.random(a);
        return a;
    }

private:
    Identity id_;
    Crypto& crypto_;
    std::uint16_t port_;
    double ip_rate_, ip_burst_;
    BucketMap<std::array<std::uint8_t, 16>> ip_buckets_{kMaxBuckets};
};

}  // namespace dc::core
