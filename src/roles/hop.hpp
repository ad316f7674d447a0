// Internal to src/roles: a room's hop between its relay and one member. The relay makes
// an X25519 key each run and announces it in its (signed) rosters; the member's is in its
// (signed) MemberKey. Both ends make the hop's key and index from the two, once, and the
// relay sends the room's lines and acks to that member as AEAD packets (the layout of
// wire::ChannelData, type room_hop) instead of signing them: a counter nonce, a 16-byte
// tag, a replay window at the member, no public-key operation per packet.
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
    std::uint32_t index = 0;   // written on every packet: which hop (never 0)
    std::uint64_t next = 0;    // the relay's next counter
    core::ReplayWindow window; // the member's
    Hop() = default;
    Hop(const Hop&) = default;
    Hop& operator=(const Hop&) = default;
    ~Hop() { crypto::wipe(key); }
};

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
    std::array<std::uint8_t, 16> idx{};
    derive(idx, "darkchat hop index");
    for (int i = 0; i < 4; ++i) h.index = h.index << 8 | idx[static_cast<std::size_t>(i)];
    if (h.index == 0) h.index = 1;
    crypto::wipe(*shared);
    return h;
}

// The relay's packet of type t to the member of hop h.
inline Bytes hop_seal(core::Crypto& cr, Hop& h, wire::MsgType t, ByteView payload) {
    return core::seal_aead_packet(cr, wire::MsgType::room_hop, h.index, h.next++, h.key, static_cast<std::uint8_t>(t),
                                  payload);
}

}  // namespace dc::roles::detail
