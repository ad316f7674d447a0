// The room client's delivery (delivery.hpp): how members authenticate what they send
// each other without a signature (keys made once per pair of room keys, a 16-byte tag
// per receiver; darkchat-rooms(7), TAGS), and the relay's hop packets to us (HOPS).

#include "delivery.hpp"

namespace dc::roles::detail {

// The two keys are a keyed BLAKE2b, under the X25519 agreement of the two room keys,
// of the room, the sender's name and the receiver's: one per direction.
std::optional<PairKeys> make_pair_keys(core::Crypto& cr, const RoomId& room, const KxSecretKey& our_sk,
                                       const std::string& us, const KxPublicKey& their_kx, const std::string& them) {
    auto shared = cr.agree(our_sk, their_kx);
    if (!shared) return std::nullopt;
    auto derive = [&](core::SymmetricKey& out, const std::string& sender, const std::string& receiver) {
        Bytes in{'d', 'a', 'r', 'k', 'c', 'h', 'a', 't', ' ', 't', 'a', 'g'};
        in.insert(in.end(), room.begin(), room.end());
        for (auto* name : {&sender, &receiver}) {
            in.push_back(static_cast<std::uint8_t>(name->size()));
            in.insert(in.end(), name->begin(), name->end());
        }
        cr.hash(out, *shared, in);
    };
    PairKeys p;
    p.kx = their_kx;
    derive(p.to, us, them);
    derive(p.from, them, us);
    crypto::wipe(*shared);
    return p;
}

std::array<std::uint8_t, 16> member_tag(core::Crypto& cr, const core::SymmetricKey& key, ByteView body) {
    std::array<std::uint8_t, 16> t{};
    cr.hash(t, key, body);
    return t;
}

bool tag_matches(core::Crypto& cr, const core::SymmetricKey& key, ByteView body, const std::array<std::uint8_t, 16>& tag) {
    const auto want = member_tag(cr, key, body);
    std::uint8_t diff = 0;
    for (std::size_t i = 0; i < want.size(); ++i) diff |= static_cast<std::uint8_t>(want[i] ^ tag[i]);
    return diff == 0;
}

const PairKeys* Delivery::pair(Room& r, const std::string& user) {
    auto kx = r.kx.find(user);
    if (kx == r.kx.end() || user == ctx_.me()) return nullptr;
    auto it = r.pairs.find(user);
    if (it != r.pairs.end() && it->second.kx == kx->second) return &it->second;
    auto p = make_pair_keys(ctx_.env.crypto(), r.id, kx_sk_, ctx_.me(), kx->second, user);
    if (!p) return nullptr;
    return &(r.pairs[user] = *p);
}

Bytes Delivery::tags_for(Room& r, ByteView body, const std::vector<std::string>& to) {
    Bytes tags(to.size() * wire::kMemberTag);
    for (std::size_t i = 0; i < to.size(); ++i)
        if (const auto* p = pair(r, to[i])) {
            const auto t = member_tag(ctx_.env.crypto(), p->to, body);
            std::copy(t.begin(), t.end(), tags.begin() + static_cast<std::ptrdiff_t>(i * wire::kMemberTag));
        }
    return tags;
}

bool Delivery::tag_ok(Room& r, const std::string& from, ByteView body, const Bytes& tags, std::size_t at) {
    if (!ticket_member(r.ticket, from) || tags.size() < (at + 1) * wire::kMemberTag) return false;
    const auto* p = pair(r, from);
    if (!p) return false;
    std::array<std::uint8_t, wire::kMemberTag> t{};
    std::copy_n(tags.begin() + static_cast<std::ptrdiff_t>(at * wire::kMemberTag), t.size(), t.begin());
    return tag_matches(ctx_.env.crypto(), p->from, body, t);
}

bool Delivery::authentic(Room& r, const std::string& from, const wire::SignedBlob& blob) {
    const auto* m = ticket_member(r.ticket, from);
    return m && ctx_.env.verify(blob, m->key);
}

void Delivery::on_hop(ByteView datagram) {
    auto& st = ctx_.env.stats();
    ++st.received;
    auto d = wire::parse_channel_data(datagram);
    if (!d || d->type != wire::MsgType::room_hop) {
        ++st.malformed;
        return;
    }
    Room* r = by_hop(d->index);
    if (!r) {
        ++st.unsolicited;
        return;
    }
    Bytes plain;
    switch (hop_open(ctx_.env.crypto(), *r->hop, HopEnd::member, datagram, *d, plain)) {
    case HopDrop::replayed: ++st.replayed; return;
    case HopDrop::forged: ++st.bad_signature; return;
    case HopDrop::none: break;
    }
    const ByteView payload = ByteView(plain).subspan(1);
    const RoomId room = r->id;
    switch (static_cast<wire::MsgType>(plain[0])) {
    case wire::MsgType::room_line:
        if (auto p = wire::decode_room_line(payload); p && p->room == room) return on_line(*p);
        break;
    case wire::MsgType::room_ack:
        if (auto p = wire::decode_room_ack(payload); p && p->room == room) return on_ack(*p);
        break;
    default: break;
    }
    ++st.malformed;
}

}  // namespace dc::roles::detail
