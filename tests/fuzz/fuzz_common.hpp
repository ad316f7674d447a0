// Shared by the fuzz targets and the corpus generator: fixed identities, a reader
// for structured fuzz input, and the round-trip checks (decode, encode, decode
// again, compare field by field). A failed check prints what differed and calls
// abort(), which is what libFuzzer and the corpus replay both report as a crash.
#pragma once

#include "darkchat/crypto.hpp"
#include "darkchat/model.hpp"
#include "darkchat/wire.hpp"
#include "crypto/wire_signing.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace dc::fuzz {

[[noreturn]] inline void die(std::string_view what, std::string_view detail = {}) {
    std::fprintf(stderr, "fuzz check failed: %.*s%s%.*s\n", static_cast<int>(what.size()), what.data(),
                 detail.empty() ? "" : ": ", static_cast<int>(detail.size()), detail.data());
    std::abort();
}

inline void expect(bool ok, std::string_view what, std::string_view detail = {}) {
    if (!ok) die(what, detail);
}

// ---------------------------------------------------------------------------
// Fixed identities: crypto::identity_from_seed() of 32 bytes all equal to `seed`.
// The keys are written out so that constants need no libsodium call; init() checks
// them against identity_from_seed (an Ed25519 secret key is seed || public key).

struct Who {
    const char* name;
    std::uint8_t seed;
    PublicKey pk;
    SessionId session;
    Addr addr;

    SecretKey sk() const {
        SecretKey k{};
        std::fill(k.begin(), k.begin() + 32, seed);
        std::copy(pk.begin(), pk.end(), k.begin() + 32);
        return k;
    }
    Identity identity() const;
};

inline Addr v6(std::uint8_t last, std::uint16_t port) {
    Addr a;
    a.family = 6;
    a.ip[0] = 0xfd;
    a.ip[15] = last;
    a.port = port;
    return a;
}

// The node under test in fuzz_node, and the peers whose packets the corpus holds.
inline const Who kSelf{"self", 0x01,
                       {0x8a, 0x88, 0xe3, 0xdd, 0x74, 0x09, 0xf1, 0x95, 0xfd, 0x52, 0xdb, 0x2d, 0x3c, 0xba, 0x5d, 0x72,
                        0xca, 0x67, 0x09, 0xbf, 0x1d, 0x94, 0x12, 0x1b, 0xf3, 0x74, 0x88, 0x01, 0xb4, 0x0f, 0x6f, 0x5c},
                       {0x5e, 0x1f, 0, 0, 0, 0, 0, 1},
                       Addr::v4(10, 0, 0, 1, 7300)};
inline const Who kAlice{"alice", 0x02,
                        {0x81, 0x39, 0x77, 0x0e, 0xa8, 0x7d, 0x17, 0x5f, 0x56, 0xa3, 0x54, 0x66, 0xc3, 0x4c, 0x7e, 0xcc,
                         0xcb, 0x8d, 0x8a, 0x91, 0xb4, 0xee, 0x37, 0xa2, 0x5d, 0xf6, 0x0f, 0x5b, 0x8f, 0xc9, 0xb3, 0x94},
                        {0xa1, 0x1c, 0xe0, 0, 0, 0, 0, 1},
                        Addr::v4(10, 0, 0, 2, 7300)};
inline const Who kBob{"bob", 0x03,
                      {0xed, 0x49, 0x28, 0xc6, 0x28, 0xd1, 0xc2, 0xc6, 0xea, 0xe9, 0x03, 0x38, 0x90, 0x59, 0x95, 0x61,
                       0x29, 0x59, 0x27, 0x3a, 0x5c, 0x63, 0xf9, 0x36, 0x36, 0xc1, 0x46, 0x14, 0xac, 0x87, 0x37, 0xd1},
                      {0xb0, 0xb0, 0, 0, 0, 0, 0, 1},
                      Addr::v4(10, 0, 0, 3, 7300)};
inline const Who kCarol{"carol", 0x04,
                        {0xca, 0x93, 0xac, 0x17, 0x05, 0x18, 0x70, 0x71, 0xd6, 0x7b, 0x83, 0xc7, 0xff, 0x0e, 0xfe, 0x81,
                         0x08, 0xe8, 0xec, 0x45, 0x30, 0x57, 0x5d, 0x77, 0x26, 0x87, 0x93, 0x33, 0xdb, 0xda, 0xbe, 0x7c},
                        {0xca, 0x40, 0x11, 0, 0, 0, 0, 1},
                        v6(4, 7300)};
// Named in signed declarations (as a link) but never signs anything itself.
inline constexpr std::string_view kDave = "dave";

inline const Who* const kPeople[] = {&kSelf, &kAlice, &kBob, &kCarol};

inline Identity Who::identity() const {
    Identity id;
    id.user = name;
    id.pk = pk;
    id.sk = sk();
    id.session = session;
    return id;
}

// Call once per process (a function-local static in LLVMFuzzerTestOneInput).
inline bool init() {
    if (!crypto::init()) die("libsodium init");
    for (const Who* w : kPeople) {
        std::array<std::uint8_t, 32> seed;
        seed.fill(w->seed);
        const auto kp = crypto::identity_from_seed(seed);
        if (kp.pk != w->pk || kp.sk != w->sk()) die("fixed identity differs from identity_from_seed", w->name);
    }
    return true;
}

// ---------------------------------------------------------------------------
// Structured input: takes bytes from the front; past the end it yields zeros.

class Reader {
public:
    explicit Reader(ByteView in) : in_(in) {}
    bool empty() const { return pos_ >= in_.size(); }
    std::size_t left() const { return in_.size() - pos_; }
    std::uint8_t u8() { return empty() ? 0 : in_[pos_++]; }
    std::uint16_t u16() {
        const std::uint16_t hi = u8();
        return static_cast<std::uint16_t>(hi << 8 | u8());
    }
    ByteView bytes(std::size_t n) {
        n = std::min(n, left());
        ByteView b = in_.subspan(pos_, n);
        pos_ += n;
        return b;
    }
    ByteView rest() { return bytes(left()); }

private:
    ByteView in_;
    std::size_t pos_ = 0;
};

// ---------------------------------------------------------------------------
// What every decoded value must satisfy (the limits wire.hpp documents).

inline void check_addr(const Addr& a, std::string_view what) {
    expect(a.family == 0 || a.family == 4 || a.family == 6, what, "bad family");
    const std::size_t used = a.family == 4 ? 4 : a.family == 6 ? 16 : 0;
    for (std::size_t i = used; i < a.ip.size(); ++i) expect(a.ip[i] == 0, what, "ip bytes beyond the family");
}

inline void check_users(const std::vector<std::string>& v, std::size_t max, std::string_view what) {
    expect(v.size() <= max, what, "too many names");
    for (const auto& s : v) expect(valid_user_name(s), what, "invalid name");
}

inline void check_value(const wire::Declaration& d) {
    expect(valid_user_name(d.user), "declaration", "invalid user");
    check_addr(d.addr, "declaration addr");
    check_users(d.links, wire::kMaxLinks, "declaration links");
}
inline void check_value(const wire::ChatMessage& m) {
    expect(valid_user_name(m.from) && valid_user_name(m.to), "chat message", "invalid user");
    expect(m.text.size() <= wire::kMaxText, "chat message", "text too long");
}
inline void check_value(const wire::Declare& p) { check_addr(p.seen, "declare seen"); }
inline void check_value(const wire::RequestPing& p) {
    expect(p.target_user.empty() || valid_user_name(p.target_user), "requestPing", "invalid target");
    expect(valid_user_name(p.requester_user), "requestPing", "invalid requester");
    check_addr(p.requester_addr, "requestPing requester_addr");
}
inline void check_value(const wire::RequestUserList& p) { check_users(p.want, wire::kMaxLinks, "requestUserList"); }
inline void check_value(const wire::DeliverKnownList& p) {
    expect(p.sessions.size() <= wire::kMaxListEntries, "deliverKnownList", "too many sessions");
    for (const auto& s : p.sessions) check_addr(s.addr, "deliverKnownList session addr");
}
inline void check_value(const wire::Chat&) {}
inline void check_value(const wire::SignedBlob&) {}
inline void check_value(const wire::ChatAck&) {}
inline void check_value(const wire::Ping&) {}
inline void check_value(const wire::Pong&) {}
inline void check_value(const wire::ChannelHello&) {}
inline void check_value(const wire::ChannelWelcome&) {}
inline void check_value(const wire::Hold& p) {
    expect(valid_user_name(p.to), "hold", "invalid recipient");
    expect(p.sealed.size() <= wire::kMaxHeldSealed, "hold", "sealed too long");
}
inline void check_value(const wire::HoldAck& p) {
    expect(valid_user_name(p.to), "holdAck", "invalid recipient");
    expect(p.reason.size() <= wire::kMaxHoldReason, "holdAck", "reason too long");
}
inline void check_value(const wire::HandOver& p) {
    expect(p.sealed.size() <= wire::kMaxHeldSealed, "handOver", "sealed too long");
}

// ---------------------------------------------------------------------------
// Field-by-field equality of two decodes.

#define DC_FUZZ_SAME(a, b, field, ctx) ::dc::fuzz::expect((a).field == (b).field, ctx, #field " differs")

inline void same(const wire::Declaration& a, const wire::Declaration& b) {
    DC_FUZZ_SAME(a, b, user, "declaration");
    DC_FUZZ_SAME(a, b, key, "declaration");
    DC_FUZZ_SAME(a, b, session, "declaration");
    DC_FUZZ_SAME(a, b, seq, "declaration");
    DC_FUZZ_SAME(a, b, online, "declaration");
    DC_FUZZ_SAME(a, b, super_client, "declaration");
    DC_FUZZ_SAME(a, b, addr, "declaration");
    DC_FUZZ_SAME(a, b, issued, "declaration");
    DC_FUZZ_SAME(a, b, links, "declaration");
    DC_FUZZ_SAME(a, b, kx, "declaration");
    DC_FUZZ_SAME(a, b, hold_kx, "declaration");
}
inline void same(const wire::ChatMessage& a, const wire::ChatMessage& b) {
    DC_FUZZ_SAME(a, b, id, "chat message");
    DC_FUZZ_SAME(a, b, from, "chat message");
    DC_FUZZ_SAME(a, b, to, "chat message");
    DC_FUZZ_SAME(a, b, sent, "chat message");
    DC_FUZZ_SAME(a, b, text, "chat message");
}
inline void same(const wire::Declare& a, const wire::Declare& b) {
    DC_FUZZ_SAME(a, b, decl.body, "declare");
    DC_FUZZ_SAME(a, b, decl.sig, "declare");
    DC_FUZZ_SAME(a, b, hops, "declare");
    DC_FUZZ_SAME(a, b, reply, "declare");
    DC_FUZZ_SAME(a, b, explode, "declare");
    DC_FUZZ_SAME(a, b, nonce, "declare");
    DC_FUZZ_SAME(a, b, seen, "declare");
}
inline void same(const wire::RequestPing& a, const wire::RequestPing& b) {
    DC_FUZZ_SAME(a, b, target_user, "requestPing");
    DC_FUZZ_SAME(a, b, target_session, "requestPing");
    DC_FUZZ_SAME(a, b, requester_user, "requestPing");
    DC_FUZZ_SAME(a, b, requester_session, "requestPing");
    DC_FUZZ_SAME(a, b, requester_addr, "requestPing");
    DC_FUZZ_SAME(a, b, nonce, "requestPing");
    DC_FUZZ_SAME(a, b, hops, "requestPing");
}
inline void same(const wire::RequestUserList& a, const wire::RequestUserList& b) {
    DC_FUZZ_SAME(a, b, nonce, "requestUserList");
    DC_FUZZ_SAME(a, b, want, "requestUserList");
}
inline void same(const wire::DeliverKnownList& a, const wire::DeliverKnownList& b) {
    DC_FUZZ_SAME(a, b, nonce, "deliverKnownList");
    DC_FUZZ_SAME(a, b, complete, "deliverKnownList");
    DC_FUZZ_SAME(a, b, sessions.size(), "deliverKnownList");
    for (std::size_t i = 0; i < a.sessions.size(); ++i) {
        DC_FUZZ_SAME(a.sessions[i], b.sessions[i], decl.body, "deliverKnownList session");
        DC_FUZZ_SAME(a.sessions[i], b.sessions[i], decl.sig, "deliverKnownList session");
        DC_FUZZ_SAME(a.sessions[i], b.sessions[i], addr, "deliverKnownList session");
        DC_FUZZ_SAME(a.sessions[i], b.sessions[i], online, "deliverKnownList session");
        DC_FUZZ_SAME(a.sessions[i], b.sessions[i], last_seen, "deliverKnownList session");
    }
}
inline void same(const wire::Chat& a, const wire::Chat& b) {
    DC_FUZZ_SAME(a, b, sealed, "chat");
    DC_FUZZ_SAME(a, b, kx, "chat");
}
inline void same(const wire::SignedBlob& a, const wire::SignedBlob& b) {
    DC_FUZZ_SAME(a, b, body, "signed blob");
    DC_FUZZ_SAME(a, b, sig, "signed blob");
}
inline void same(const wire::ChatAck& a, const wire::ChatAck& b) { DC_FUZZ_SAME(a, b, id, "chatAck"); }
inline void same(const wire::Ping& a, const wire::Ping& b) { DC_FUZZ_SAME(a, b, nonce, "ping"); }
inline void same(const wire::Pong& a, const wire::Pong& b) { DC_FUZZ_SAME(a, b, nonce, "pong"); }
inline void same(const wire::ChannelHello& a, const wire::ChannelHello& b) {
    DC_FUZZ_SAME(a, b, kx, "channelHello");
    DC_FUZZ_SAME(a, b, peer_kx, "channelHello");
    DC_FUZZ_SAME(a, b, ephemeral, "channelHello");
    DC_FUZZ_SAME(a, b, index, "channelHello");
    DC_FUZZ_SAME(a, b, time, "channelHello");
}
inline void same(const wire::ChannelWelcome& a, const wire::ChannelWelcome& b) {
    DC_FUZZ_SAME(a, b, kx, "channelWelcome");
    DC_FUZZ_SAME(a, b, peer_kx, "channelWelcome");
    DC_FUZZ_SAME(a, b, ephemeral, "channelWelcome");
    DC_FUZZ_SAME(a, b, index, "channelWelcome");
    DC_FUZZ_SAME(a, b, echo, "channelWelcome");
    DC_FUZZ_SAME(a, b, stale, "channelWelcome");
}
inline void same(const wire::Hold& a, const wire::Hold& b) {
    DC_FUZZ_SAME(a, b, to, "hold");
    DC_FUZZ_SAME(a, b, id, "hold");
    DC_FUZZ_SAME(a, b, sealed, "hold");
    DC_FUZZ_SAME(a, b, base, "hold");
}
inline void same(const wire::HoldAck& a, const wire::HoldAck& b) {
    DC_FUZZ_SAME(a, b, to, "holdAck");
    DC_FUZZ_SAME(a, b, id, "holdAck");
    DC_FUZZ_SAME(a, b, kept, "holdAck");
    DC_FUZZ_SAME(a, b, reason, "holdAck");
}
inline void same(const wire::HandOver& a, const wire::HandOver& b) {
    DC_FUZZ_SAME(a, b, sealed, "handOver");
    DC_FUZZ_SAME(a, b, base, "handOver");
}

#undef DC_FUZZ_SAME

// ---------------------------------------------------------------------------
// Round trips. decode(b) succeeded with v: v must satisfy the limits, encode(v) must
// decode to a value equal to v field by field, and encoding that again must give the
// same bytes (the encoding is canonical).

template <typename T, typename Decode>
void round_trip(const T& v, Decode decode, std::string_view name) {
    check_value(v);
    const Bytes once = wire::encode(v);
    auto again = decode(ByteView(once));
    if (!again) die(name, "re-encoded value does not decode: " + again.error());
    same(v, *again);
    expect(wire::encode(*again) == once, name, "encoding is not stable");
}

// The same for values compared with == (group and file messages), encoded by encode.
template <typename T, typename Encode, typename Decode>
void round_trip_eq(const T& v, Encode encode, Decode decode, std::string_view name) {
    const Bytes once = encode(v);
    auto again = decode(ByteView(once));
    if (!again) die(name, "re-encoded value does not decode: " + again.error());
    expect(*again == v, name, "value differs after a round trip");
    expect(encode(*again) == once, name, "encoding is not stable");
}

// Signed bodies that other nodes forward verbatim are decoded by the core too.
inline void check_declaration_body(ByteView b) {
    if (auto d = wire::decode_declaration(b)) round_trip(*d, wire::decode_declaration, "declaration");
}
inline void check_chat_message_body(ByteView b) {
    if (auto m = wire::decode_chat_message(b)) round_trip(*m, wire::decode_chat_message, "chat message");
}
// What a sealed chat opens to: a SignedBlob holding a ChatMessage.
inline void check_signed_blob(ByteView b) {
    if (auto blob = wire::decode_signed_blob(b)) {
        round_trip(*blob, wire::decode_signed_blob, "signed blob");
        check_chat_message_body(blob->body);
    }
}

// Decodes b as the payload of a packet of type t; returns whether it decoded.
inline bool check_payload(wire::MsgType t, ByteView b) {
    using wire::MsgType;
    switch (t) {
    case MsgType::declare_online:
    case MsgType::declare_offline:
        if (auto p = wire::decode_declare(b)) {
            round_trip(*p, wire::decode_declare, "declare");
            check_declaration_body(p->decl.body);
            return true;
        }
        return false;
    case MsgType::request_ping:
        if (auto p = wire::decode_request_ping(b)) {
            round_trip(*p, wire::decode_request_ping, "requestPing");
            return true;
        }
        return false;
    case MsgType::request_user_list:
        if (auto p = wire::decode_request_user_list(b)) {
            round_trip(*p, wire::decode_request_user_list, "requestUserList");
            return true;
        }
        return false;
    case MsgType::deliver_known_list:
        if (auto p = wire::decode_deliver_known_list(b)) {
            round_trip(*p, wire::decode_deliver_known_list, "deliverKnownList");
            for (const auto& s : p->sessions) check_declaration_body(s.decl.body);
            return true;
        }
        return false;
    case MsgType::chat:
        if (auto p = wire::decode_chat(b)) {
            round_trip(*p, wire::decode_chat, "chat");  // sealed: opaque without the receiver's key
            return true;
        }
        return false;
    case MsgType::chat_ack:
        if (auto p = wire::decode_chat_ack(b)) {
            round_trip(*p, wire::decode_chat_ack, "chatAck");
            return true;
        }
        return false;
    case MsgType::ping:
        if (auto p = wire::decode_ping(b)) {
            round_trip(*p, wire::decode_ping, "ping");
            return true;
        }
        return false;
    case MsgType::pong:
        if (auto p = wire::decode_pong(b)) {
            round_trip(*p, wire::decode_pong, "pong");
            return true;
        }
        return false;
    case MsgType::hold:
        if (auto p = wire::decode_hold(b)) {
            round_trip(*p, wire::decode_hold, "hold");  // sealed: opaque without the recipient's holding key
            return true;
        }
        return false;
    case MsgType::hold_ack:
        if (auto p = wire::decode_hold_ack(b)) {
            round_trip(*p, wire::decode_hold_ack, "holdAck");
            return true;
        }
        return false;
    case MsgType::hand_over:
        if (auto p = wire::decode_hand_over(b)) {
            round_trip(*p, wire::decode_hand_over, "handOver");
            return true;
        }
        return false;
    case MsgType::channel_hello:
        if (auto p = wire::decode_channel_hello(b)) {
            round_trip(*p, wire::decode_channel_hello, "channelHello");
            return true;
        }
        return false;
    case MsgType::channel_welcome:
        if (auto p = wire::decode_channel_welcome(b)) {
            round_trip(*p, wire::decode_channel_welcome, "channelWelcome");
            return true;
        }
        return false;
    default:  // role types (32..63): their payloads are checked by fuzz_roles; channel
              // data is no payload (check_channel_data)
        return false;
    }
}

inline constexpr wire::MsgType kAllTypes[] = {
    wire::MsgType::declare_online, wire::MsgType::request_ping, wire::MsgType::request_user_list,
    wire::MsgType::deliver_known_list, wire::MsgType::chat, wire::MsgType::chat_ack,
    wire::MsgType::ping, wire::MsgType::pong, wire::MsgType::channel_hello,
    wire::MsgType::channel_welcome};  // declare_offline shares declare_online's decoder

// The types a signed packet carries. 1..12 and 16..17: the core's; 32..48 and 50:
// directory, relays and rooms (roles_wire.hpp, fuzz_roles). 18 (channel data) is its own form.
inline bool known_type(std::uint64_t t) {
    return (t >= 1 && t <= 12) || t == 16 || t == 17 || (t >= 32 && t <= 48) || t == 50;
}

// A channel data packet: what parses is exactly what peek_type calls channel data (up to
// the datagram limit), and it encodes back to the same bytes.
inline void check_channel_data(ByteView b) {
    const auto peeked = wire::peek_type(b);
    auto d = wire::parse_channel_data(b);
    if (d) {
        expect(peeked == wire::MsgType::channel_data, "channel data", "parsed but peek_type differs");
        expect(d->index != 0, "channel data", "index 0 accepted");
        expect(d->sealed.size() >= wire::kChannelTag + 1, "channel data", "shorter than a tag");
        const Bytes again = wire::encode(*d);
        expect(again.size() == b.size() && std::equal(again.begin(), again.end(), b.begin()), "channel data",
               "encoding is not the packet");
        expect(!wire::parse_packet(b).ok(), "channel data", "also parses as a signed packet");
    } else if (peeked == wire::MsgType::channel_data && b.size() <= wire::kMaxDatagram) {
        // Only index 0 is refused past what peek_type looks at.
        expect(b[2] == 0 && b[3] == 0 && b[4] == 0 && b[5] == 0, "channel data", "peek_type says so, parse refuses");
    }
}

inline void same_packet(const wire::Packet& a, const wire::Packet& b, bool signed_part) {
    expect(a.header.type == b.header.type, "packet", "type differs");
    expect(a.header.from_user == b.header.from_user, "packet", "from_user differs");
    expect(a.header.from_session == b.header.from_session, "packet", "from_session differs");
    expect(a.header.from_port == b.header.from_port, "packet", "from_port differs");
    expect(a.header.from_key == b.header.from_key, "packet", "from_key differs");
    expect(a.payload == b.payload, "packet", "payload differs");
    if (signed_part) {
        expect(a.signed_header == b.signed_header, "packet", "signed_header differs");
        expect(a.sig == b.sig, "packet", "sig differs");
    }
}

// Checks a packet that parse_packet accepted: its header and payload, that it survives
// being assembled again (as it is, and from its decoded header), and that signed by
// `signer` (whose key replaces from_key) it decodes with its signature checked.
inline void check_packet(const wire::Packet& p, const Who& signer) {
    expect(known_type(static_cast<std::uint8_t>(p.header.type)), "packet", "unknown type accepted");
    expect(valid_user_name(p.header.from_user), "packet", "invalid from_user accepted");
    check_payload(p.header.type, p.payload);

    // The same signed header and signature.
    auto same_bytes = wire::parse_packet(wire::assemble_packet(p.signed_header, p.sig));
    if (!same_bytes) die("packet", "re-assembled packet does not parse: " + same_bytes.error());
    same_packet(p, *same_bytes, true);

    // The header encoded again from its values.
    const Bytes header = wire::packet_header(p.header, p.payload);
    auto again = wire::parse_packet(wire::assemble_packet(header, p.sig));
    if (!again) die("packet", "re-encoded header does not parse: " + again.error());
    same_packet(p, *again, false);
    expect(again->signed_header == header, "packet", "signed_header is not what was assembled");
    expect(wire::packet_header(again->header, again->payload) == header, "packet", "header encoding is not stable");

    // Signed for real.
    wire::Header h = p.header;
    h.from_key = signer.pk;
    const Bytes packet = wire::encode_packet(h, p.payload, signer.sk());
    auto verified = wire::decode_packet(packet);
    if (!verified) die("packet", "re-signed packet does not decode: " + verified.error());
    expect(verified->header.from_key == signer.pk, "packet", "from_key differs");
    h = verified->header;
    h.from_key = p.header.from_key;
    expect(wire::packet_header(h, verified->payload) == header, "packet", "re-signed packet differs");
    // Ed25519 signatures are deterministic, so the encoding is stable too.
    expect(wire::encode_packet(verified->header, verified->payload, signer.sk()) == packet, "packet",
           "encoding is not stable");
}

// ---------------------------------------------------------------------------
// fuzz_packet's input: the first byte chooses a mode (its value modulo 3).

enum class PacketMode : std::uint8_t {
    raw = 0,            // the rest is a packet as it arrives from the network
    signed_header = 1,  // the rest is a signed header; the harness signs it as alice
    structured = 2,     // the rest describes a header and payload; the harness encodes it
};

// [version 1, bin header, bin signature] with signer's signature over header.
inline Bytes wrap_header(ByteView header, const Who& signer) {
    const Signature sig = crypto::sign(signer.sk(), header);
    Bytes out{0x93, wire::kVersion, 0xc6};
    const auto n = static_cast<std::uint32_t>(header.size());
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(n >> shift));
    out.insert(out.end(), header.begin(), header.end());
    out.push_back(0xc4);
    out.push_back(static_cast<std::uint8_t>(sig.size()));
    out.insert(out.end(), sig.begin(), sig.end());
    return out;
}

// The structured mode: [type][user length][user][session: 8][port: 2][keys][payload...].
// keys: bits 0-1 choose the signer among kPeople, bits 2-3 whose key the header names.
struct PacketSpec {
    std::uint8_t type = 0;
    std::string user;
    SessionId session{};
    std::uint16_t port = 0;
    std::uint8_t keys = 0;
    Bytes payload;

    static PacketSpec read(Reader& r) {
        PacketSpec s;
        s.type = r.u8();
        const ByteView user = r.bytes(r.u8());
        s.user.assign(user.begin(), user.end());
        const ByteView session = r.bytes(s.session.size());
        std::copy(session.begin(), session.end(), s.session.begin());
        s.port = r.u16();
        s.keys = r.u8();
        const ByteView payload = r.rest();
        s.payload.assign(payload.begin(), payload.end());
        return s;
    }

    Bytes write() const {
        Bytes out;
        out.reserve(13 + user.size() + payload.size());
        out.push_back(type);
        out.push_back(static_cast<std::uint8_t>(user.size()));
        for (char c : user) out.push_back(static_cast<std::uint8_t>(c));
        out.insert(out.end(), session.begin(), session.end());
        out.push_back(static_cast<std::uint8_t>(port >> 8));
        out.push_back(static_cast<std::uint8_t>(port));
        out.push_back(keys);
        out.insert(out.end(), payload.begin(), payload.end());
        return out;
    }
};

}  // namespace dc::fuzz
