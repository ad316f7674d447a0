// Internal to src/roles: a room's hop between its relay and one member. The relay makes
// an X25519 key each run and announces it in its (signed) rosters; the member's is in its
// (signed) MemberKey. Both ends make the hop's key and index from the two, once, and the
// relay sends the room's lines and acks to that member as AEAD packets (the layout of
// wire::ChannelData, type room_hop) instead of signing them: a counter nonce, a 16-byte
// tag, a replay window at the member, no public-key operation per packet. When the relay
// says so in its roster (hop_up), the member sends its lines and acks to the relay the same
// way under the hop's second key (the up key), and the relay keeps the replay window.
#pragma once

#include "darkchat/crypto.hpp"
#include "darkchat/roles.hpp"
#include "core/channel.hpp"

#include <optional>
#include <string>

namespace dc::roles::detail {

struct Hop {
    KxPublicKey peer_kx{};    // the other end's key the hop was made from
    core::SymmetricKey key{};  // relay -> member
    core::SymmetricKey up{};   // member -> relay
    std::uint32_t index = 0;   // written on every packet, both ways: which hop (never 0)
    std::uint64_t next = 0;    // this end's next counter for what it sends
    core::ReplayWindow window; // this end's window for what it receives
    Hop() = default;
    Hop(const Hop&) = default;
    Hop& operator=(const Hop&) = default;
    ~Hop() {
        crypto::wipe(key);
        crypto::wipe(up);
    }
};

// Which end of the hop we are: the relay sends under the hop's key and opens under its up
// key, the member the other way round.
enum class HopEnd { relay, member };

// The hop of member in room, from our X25519 secret and the other end's public key (the
// relay: the member's MemberKey; the member: the roster's relay_kx). None for a low-order
// key. Key and index are a keyed BLAKE2b under the agreement of "darkchat hop" or
// "darkchat hop index", the room and the member's name after its length in one byte.
inline std::optional<Hop> make_hop(core::Crypto& cr, const KxSecretKey& sk, const KxPublicKey& peer, const RoomId& room,
                                   const std::string& member) {
    auto shared = cr.agree(sk, peer);
    if (!shared) return std::nullopt;
    auto derive = [&](std::span<std::uint8_t> out, std::string_view label) {
        Bytes in(label.begin(), label.end());
        in.insert(in.end(), room.begin(), room.end());
        in.push_back(static_cast<std::uint8_t>(member.size()));
        in.insert(in.end(), member.begin(), member.end());
        cr.hash(out, *shared, in);
    };
    Hop h;
    h.peer_kx = peer;
    derive(h.key, "darkchat hop");
    derive(h.up, "darkchat hop up");
    std::array<std::uint8_t, 16> idx{};
    derive(idx, "darkchat hop index");
    for (int i = 0; i < 4; ++i) h.index = h.index << 8 | idx[static_cast<std::size_t>(i)];
    if (h.index == 0) h.index = 1;
    crypto::wipe(*shared);
    return h;
}

// Our packet of type t to the other end of hop h (the relay's to its member by default).
inline Bytes hop_seal(core::Crypto& cr, Hop& h, wire::MsgType t, ByteView payload, HopEnd we = HopEnd::relay) {
    return core::seal_aead_packet(cr, wire::MsgType::room_hop, h.index, h.next++, we == HopEnd::relay ? h.key : h.up,
                                  static_cast<std::uint8_t>(t), payload);
}

// A hop made again from the same two keys (a member dropped by the relay, or leaving,
// and joining again while both ends run) has the same key as the one before it: its
// counters start past every counter a hop of this end used before in this run, so no
// nonce is used twice under one key, and the other end's window, if it kept the old
// hop, takes the new counters as newer.
struct HopFloor {
    std::uint64_t floor = 0;
    void retire(const std::optional<Hop>& h) {
        if (h) floor = std::max(floor, h->next);
    }
    void start(std::optional<Hop>& h) const {
        if (h) h->next = std::max(h->next, floor);
    }
};

// Why a hop packet was not taken.
enum class HopDrop { none, replayed, forged };

// Opens d (parsed from datagram, of hop h's index) from the other end: its inner type and
// payload, once per counter. The window is checked before the packet is opened and
// marked only once it opened.
inline HopDrop hop_open(core::Crypto& cr, Hop& h, HopEnd we, ByteView datagram, const wire::ChannelData& d,
                        Bytes& plain) {
    if (!h.window.fresh(d.counter)) return HopDrop::replayed;
    auto opened = core::open_aead_packet(cr, datagram, d, we == HopEnd::relay ? h.up : h.key);
    if (!opened || opened->empty()) return HopDrop::forged;
    h.window.mark(d.counter);
    plain = std::move(*opened);
    return HopDrop::none;
}

}  // namespace dc::roles::detail
