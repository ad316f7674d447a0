// The darkchat wire format: packets, payloads and TCP framing (see wire.hpp).
//
// Every byte decoded here is untrusted. A decode runs in three steps:
//  1. check_shape() walks the bytes without allocating and accepts only exactly one
//     complete msgpack value with no ext values and at most kMaxDepth nested
//     containers. msgpack-c allocates a container's element array as soon as it reads
//     the header; because it only ever sees complete values, every element it makes
//     room for is backed by at least one input byte. A hostile 5-byte "array of
//     2^32-1" (or of 4000) costs nothing, and a decode allocates at most a few dozen
//     times its input size (a 24-byte msgpack::object per input byte, and the zone
//     rounds a chunk up to at most twice that).
//  2. msgpack::unpack under kLimit (defence in depth) builds an object tree that
//     points into the input instead of copying strings and bins.
//  3. The typed readers check every field: msgpack type, fixed sizes, ranges, limits
//     and user names.
// Readers report a problem by throwing DecodeError; guarded() turns it, and anything
// msgpack-c or the standard library throws, into a Result error at the public boundary.

#include "darkchat/wire.hpp"

#include "darkchat/crypto.hpp"

#include "codec.hpp"

#include <msgpack.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <limits>
#include <new>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

namespace dc::wire {

const char* type_name(MsgType t) {
    switch (t) {
    case MsgType::declare_online: return "declareOnline";
    case MsgType::declare_offline: return "declareOffline";
    case MsgType::request_ping: return "requestPing";
    case MsgType::request_user_list: return "requestUserList";
    case MsgType::deliver_known_list: return "deliverKnownList";
    case MsgType::chat: return "chat";
    case MsgType::chat_ack: return "chatAck";
    case MsgType::ping: return "ping";
    case MsgType::pong: return "pong";
    case MsgType::relay_heartbeat: return "relayHeartbeat";
    case MsgType::relay_ack: return "relayAck";
    case MsgType::client_heartbeat: return "clientHeartbeat";
    case MsgType::client_state: return "clientState";
    case MsgType::chat_request: return "chatRequest";
    case MsgType::chat_answer: return "chatAnswer";
    case MsgType::probe: return "probe";
    case MsgType::probe_reply: return "probeReply";
    case MsgType::room_join: return "roomJoin";
    case MsgType::room_roster: return "roomRoster";
    case MsgType::room_line: return "roomLine";
    case MsgType::room_ack: return "roomAck";
    case MsgType::room_leave: return "roomLeave";
    case MsgType::room_refused: return "roomRefused";
    case MsgType::chat_leave: return "chatLeave";
    case MsgType::invite: return "invite";
    case MsgType::invite_answer: return "inviteAnswer";
    }
    return "unknown";
}

namespace {

using namespace codec;

// [decl, addr, online, last_seen], as darkchat-protocol(7) lists it.
void put_known_session(Packer& pk, const KnownSession& s) {
    pk.pack_array(4);
    put_blob(pk, s.decl);
    put_addr(pk, s.addr);
    pk.pack(s.online);
    pk.pack_int64(s.last_seen);
}

bool known_type(std::uint64_t t) {
    return (t >= static_cast<std::uint8_t>(MsgType::declare_online) && t <= static_cast<std::uint8_t>(MsgType::pong)) ||
           (t >= static_cast<std::uint8_t>(MsgType::relay_heartbeat) &&
            t <= static_cast<std::uint8_t>(MsgType::invite_answer));
}

// Field names by map key, in struct declaration order. These orders are the wire format.
constexpr std::string_view kDeclarationFields[] = {"user", "key", "session", "seq", "online",
                                                   "super_client", "addr", "issued", "links", "kx"};
constexpr std::string_view kChatMessageFields[] = {"id", "from", "to", "sent", "text", "session", "seq"};
constexpr std::string_view kDeclareFields[] = {"decl", "hops", "reply", "explode", "nonce", "seen"};
constexpr std::string_view kRequestPingFields[] = {"target_user",       "target_session", "requester_user",
                                                   "requester_session", "requester_addr", "nonce",
                                                   "hops"};
constexpr std::string_view kRequestUserListFields[] = {"nonce", "wanted users"};
constexpr std::string_view kDeliverKnownListFields[] = {"nonce", "complete", "sessions"};
constexpr std::string_view kChatFields[] = {"sealed", "kx", "base"};
constexpr std::string_view kChatAckFields[] = {"id", "held", "want"};
constexpr std::string_view kNonceFields[] = {"nonce"};

// Identity fields are required; every other field has a meaningful default (an absent
// or empty requestPing target means "whoever receives this").
constexpr Schema kDeclarationSchema{"declaration", kDeclarationFields, bits({0, 1, 2})};
constexpr Schema kChatMessageSchema{"chat message", kChatMessageFields, bits({0, 1, 2})};
constexpr Schema kDeclareSchema{"declare", kDeclareFields, bits({0})};
constexpr Schema kRequestPingSchema{"requestPing", kRequestPingFields, bits({2, 3})};
constexpr Schema kRequestUserListSchema{"requestUserList", kRequestUserListFields, 0};
constexpr Schema kDeliverKnownListSchema{"deliverKnownList", kDeliverKnownListFields, 0};
constexpr Schema kChatSchema{"chat", kChatFields, bits({0, 1})};
constexpr Schema kChatAckSchema{"chatAck", kChatAckFields, bits({0})};
constexpr Schema kPingSchema{"ping", kNonceFields, 0};
constexpr Schema kPongSchema{"pong", kNonceFields, 0};

Declaration read_declaration(const msgpack::object& o) {
    Declaration d;
    read_map(o, kDeclarationSchema, [&](std::uint64_t key, const msgpack::object& v, const Field& f) {
        switch (key) {
        case 0: d.user = read_user(v, f); break;
        case 1: d.key = read_fixed<32>(v, f); break;
        case 2: d.session = read_fixed<8>(v, f); break;
        case 3: d.seq = read_uint(v, f); break;
        case 4: d.online = read_bool(v, f); break;
        case 5: d.super_client = read_bool(v, f); break;
        case 6: d.addr = read_addr(v, f); break;
        case 7: d.issued = read_time(v, f); break;
        case 8: d.links = read_users(v, f, "link", kMaxLinks); break;
        case 9: d.kx = read_fixed<32>(v, f); break;
        }
    });
    return d;
}

ChatMessage read_chat_message(const msgpack::object& o) {
    ChatMessage m;
    read_map(o, kChatMessageSchema, [&](std::uint64_t key, const msgpack::object& v, const Field& f) {
        switch (key) {
        case 0: m.id = read_fixed<16>(v, f); break;
        case 1: m.from = read_user(v, f); break;
        case 2: m.to = read_user(v, f); break;
        case 3: m.sent = read_time(v, f); break;
        case 4: m.text = read_str(v, f, kMaxText); break;
        case 5: m.session = read_fixed<8>(v, f); break;
        case 6: m.seq = read_uint(v, f); break;
        }
    });
    return m;
}

Declare read_declare(const msgpack::object& o) {
    Declare p;
    read_map(o, kDeclareSchema, [&](std::uint64_t key, const msgpack::object& v, const Field& f) {
        switch (key) {
        case 0: p.decl = read_blob(v, f); break;
        case 1: p.hops = read_uint_as<std::uint8_t>(v, f); break;
        case 2: p.reply = read_bool(v, f); break;
        case 3: p.explode = read_bool(v, f); break;
        case 4: p.nonce = read_uint(v, f); break;
        case 5: p.seen = read_addr(v, f); break;
        }
    });
    return p;
}

RequestPing read_request_ping(const msgpack::object& o) {
    RequestPing p;
    read_map(o, kRequestPingSchema, [&](std::uint64_t key, const msgpack::object& v, const Field& f) {
        switch (key) {
        // An empty target means "whoever receives this" (\ping of an address).
        case 0: p.target_user = read_user(v, f, /*empty_ok=*/true); break;
        case 1: p.target_session = read_fixed<8>(v, f); break;
        case 2: p.requester_user = read_user(v, f); break;
        case 3: p.requester_session = read_fixed<8>(v, f); break;
        case 4: p.requester_addr = read_addr(v, f); break;
        case 5: p.nonce = read_uint(v, f); break;
        case 6: p.hops = read_uint_as<std::uint8_t>(v, f); break;
        }
    });
    return p;
}

RequestUserList read_request_user_list(const msgpack::object& o) {
    RequestUserList p;
    read_map(o, kRequestUserListSchema, [&](std::uint64_t key, const msgpack::object& v, const Field& f) {
        switch (key) {
        case 0: p.nonce = read_uint(v, f); break;
        case 1: p.want = read_users(v, f, "wanted user", kMaxLinks); break;
        }
    });
    return p;
}

KnownSession read_known_session(const msgpack::object& o, std::string_view ctx) {
    const auto* e = read_tuple(o, {ctx, "session"}, 4);
    KnownSession s;
    s.decl = read_blob(e[0], {ctx, "session decl"});
    s.addr = read_addr(e[1], {ctx, "session addr"});
    s.online = read_bool(e[2], {ctx, "session online"});
    s.last_seen = read_time(e[3], {ctx, "session last_seen"});
    return s;
}

DeliverKnownList read_deliver_known_list(const msgpack::object& o) {
    DeliverKnownList p;
    read_map(o, kDeliverKnownListSchema, [&](std::uint64_t key, const msgpack::object& v, const Field& f) {
        switch (key) {
        case 0: p.nonce = read_uint(v, f); break;
        case 1: p.complete = read_bool(v, f); break;
        case 2: {
            const auto& a = read_array(v, f);
            if (a.size > kMaxListEntries) fail(cat(f.ctx, ": too many sessions"));
            p.sessions.clear();
            // No reserve(): the vector grows only with entries that decoded.
            for (std::uint32_t i = 0; i < a.size; ++i) p.sessions.push_back(read_known_session(a.ptr[i], f.ctx));
            break;
        }
        }
    });
    return p;
}

Chat read_chat(const msgpack::object& o) {
    Chat p;
    read_map(o, kChatSchema, [&](std::uint64_t key, const msgpack::object& v, const Field& f) {
        if (key == 0) {
            const ByteView b = read_bin(v, f);
            p.sealed.assign(b.begin(), b.end());
        } else if (key == 1) {
            p.kx = read_fixed<32>(v, f);
        } else if (key == 2) {
            p.base = read_uint(v, f);
        }
    });
    return p;
}

ChatAck read_chat_ack(const msgpack::object& o) {
    ChatAck p;
    read_map(o, kChatAckSchema, [&](std::uint64_t key, const msgpack::object& v, const Field& f) {
        if (key == 0) p.id = read_fixed<16>(v, f);
        else if (key == 1) p.held = read_bool(v, f);
        else if (key == 2) p.want = read_uint(v, f);
    });
    return p;
}

std::uint64_t read_nonce_map(const msgpack::object& o, const Schema& s) {
    std::uint64_t nonce = 0;
    read_map(o, s, [&](std::uint64_t key, const msgpack::object& v, const Field& f) {
        if (key == 0) nonce = read_uint(v, f);
    });
    return nonce;
}

// Parses b as one payload value and applies reader to it.
template <typename Reader>
auto decode_with(ByteView b, const Schema& s, Reader reader) {
    return guarded(s.ctx, [&] {
        const auto oh = parse(b, s.ctx);
        return reader(oh.get());
    });
}

}  // namespace

// ---------------------------------------------------------------------------
// Packets

Bytes packet_header(const Header& h, ByteView payload) {
    return pack([&](Packer& pk) {
        pk.pack_array(6);
        pk.pack_uint8(static_cast<std::uint8_t>(h.type));
        put_str(pk, h.from_user);
        put_bin(pk, h.from_session);
        pk.pack_uint16(h.from_port);
        put_bin(pk, h.from_key);
        put_bin(pk, payload);
    });
}

Bytes assemble_packet(ByteView signed_header, const Signature& sig) {
    return pack([&](Packer& pk) {
        pk.pack_array(3);
        pk.pack_uint8(kVersion);
        put_bin(pk, signed_header);
        put_bin(pk, sig);
    });
}

Bytes encode_packet(const Header& h, ByteView payload, const SecretKey& sk) {
    const Bytes signed_header = packet_header(h, payload);
    return assemble_packet(signed_header, crypto::sign(sk, signed_header));
}

Result<Packet> parse_packet(ByteView data) {
    return guarded("packet", [&] {
        if (data.size() > kMaxFrame) fail("packet too large");
        const auto outer_handle = parse(data, "packet");
        const msgpack::object& outer = outer_handle.get();
        if (outer.type != msgpack::type::ARRAY || outer.via.array.size == 0) fail("packet: bad layout");
        const msgpack::object* e = outer.via.array.ptr;
        // The version is read before anything else is assumed about the layout, so a
        // future version may change all that follows it.
        const std::uint64_t version = read_uint(e[0], {"packet", "version"});
        if (version != kVersion) fail(cat("unsupported protocol version ", std::to_string(version)));
        if (outer.via.array.size != 3) fail("packet: bad layout");
        const ByteView signed_header = read_bin(e[1], {"packet", "header"});
        const Signature sig = read_fixed<64>(e[2], {"packet", "signature"});

        const auto header_handle = parse(signed_header, "header");
        const msgpack::object& header = header_handle.get();
        if (header.type != msgpack::type::ARRAY || header.via.array.size != 6) fail("header: bad layout");
        const msgpack::object* h = header.via.array.ptr;
        Packet p;
        const std::uint64_t type = read_uint(h[0], {"header", "type"});
        if (!known_type(type)) fail(cat("header: unknown message type ", std::to_string(type)));
        p.header.type = static_cast<MsgType>(type);
        p.header.from_user = read_user(h[1], {"header", "from_user"});
        p.header.from_session = read_fixed<8>(h[2], {"header", "from_session"});
        p.header.from_port = read_uint_as<std::uint16_t>(h[3], {"header", "from_port"});
        p.header.from_key = read_fixed<32>(h[4], {"header", "from_key"});
        const ByteView payload = read_bin(h[5], {"header", "payload"});
        p.payload.assign(payload.begin(), payload.end());
        p.signed_header.assign(signed_header.begin(), signed_header.end());
        p.sig = sig;
        return p;
    });
}

std::optional<MsgType> peek_type(ByteView d) {
    // [version, bin signed_header, sig] with signed_header = [type, ...]: the type is the
    // first value inside the bin. Encoders write small uints as fixints; uint8 is accepted too.
    if (d.size() < 6 || d[0] != 0x93 || d[1] != kVersion) return std::nullopt;
    std::size_t pos = 2;
    std::size_t len_bytes = d[pos] == 0xc4 ? 1 : d[pos] == 0xc5 ? 2 : d[pos] == 0xc6 ? 4 : 0;
    if (len_bytes == 0) return std::nullopt;
    pos += 1 + len_bytes;
    if (d.size() < pos + 3 || d[pos] != 0x96) return std::nullopt;
    std::uint64_t type = d[pos + 1];
    if (type == 0xcc) type = d[pos + 2];
    else if (type > 0x7f) return std::nullopt;
    if (!known_type(type)) return std::nullopt;
    return static_cast<MsgType>(type);
}

Result<Packet> decode_packet(ByteView data) {
    auto p = parse_packet(data);
    if (!p) return p;
    // Checked last: it is the expensive step, and everything above is cheap.
    if (!crypto::verify(p->header.from_key, p->signed_header, p->sig)) return err("bad signature");
    return p;
}

// ---------------------------------------------------------------------------
// Payloads: maps keyed by field number (the orders of the k...Fields tables above).

Bytes encode(const Declaration& d) {
    return pack([&](Packer& pk) {
        pk.pack_map(10);
        put_key(pk, 0); put_str(pk, d.user);
        put_key(pk, 1); put_bin(pk, d.key);
        put_key(pk, 2); put_bin(pk, d.session);
        put_key(pk, 3); pk.pack_uint64(d.seq);
        put_key(pk, 4); pk.pack(d.online);
        put_key(pk, 5); pk.pack(d.super_client);
        put_key(pk, 6); put_addr(pk, d.addr);
        put_key(pk, 7); pk.pack_int64(d.issued);
        put_key(pk, 8); put_strs(pk, d.links);
        put_key(pk, 9); put_bin(pk, d.kx);
    });
}

Bytes encode(const ChatMessage& m) {
    return pack([&](Packer& pk) {
        bool ordered = m.seq != 0;
        pk.pack_map(ordered ? 7 : 5);
        put_key(pk, 0); put_bin(pk, m.id);
        put_key(pk, 1); put_str(pk, m.from);
        put_key(pk, 2); put_str(pk, m.to);
        put_key(pk, 3); pk.pack_int64(m.sent);
        put_key(pk, 4); put_str(pk, m.text);
        if (ordered) {
            put_key(pk, 5); put_bin(pk, m.session);
            put_key(pk, 6); pk.pack_uint64(m.seq);
        }
    });
}

Bytes encode(const Declare& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(6);
        put_key(pk, 0); put_blob(pk, p.decl);
        put_key(pk, 1); pk.pack_uint8(p.hops);
        put_key(pk, 2); pk.pack(p.reply);
        put_key(pk, 3); pk.pack(p.explode);
        put_key(pk, 4); pk.pack_uint64(p.nonce);
        put_key(pk, 5); put_addr(pk, p.seen);
    });
}

Bytes encode(const RequestPing& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(7);
        put_key(pk, 0); put_str(pk, p.target_user);
        put_key(pk, 1); put_bin(pk, p.target_session);
        put_key(pk, 2); put_str(pk, p.requester_user);
        put_key(pk, 3); put_bin(pk, p.requester_session);
        put_key(pk, 4); put_addr(pk, p.requester_addr);
        put_key(pk, 5); pk.pack_uint64(p.nonce);
        put_key(pk, 6); pk.pack_uint8(p.hops);
    });
}

Bytes encode(const RequestUserList& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(2);
        put_key(pk, 0); pk.pack_uint64(p.nonce);
        put_key(pk, 1); put_strs(pk, p.want);
    });
}

Bytes encode(const DeliverKnownList& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(3);
        put_key(pk, 0); pk.pack_uint64(p.nonce);
        put_key(pk, 1); pk.pack(p.complete);
        put_key(pk, 2); pk.pack_array(static_cast<std::uint32_t>(p.sessions.size()));
        for (const auto& s : p.sessions) put_known_session(pk, s);
    });
}

Bytes encode(const Chat& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(p.base ? 3 : 2);
        put_key(pk, 0); put_bin(pk, p.sealed);
        put_key(pk, 1); put_bin(pk, p.kx);
        if (p.base) {
            put_key(pk, 2); pk.pack_uint64(p.base);
        }
    });
}

Bytes encode(const ChatAck& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(1 + (p.held ? 1 : 0) + (p.want ? 1 : 0));
        put_key(pk, 0); put_bin(pk, p.id);
        if (p.held) {
            put_key(pk, 1); pk.pack(true);
        }
        if (p.want) {
            put_key(pk, 2); pk.pack_uint64(p.want);
        }
    });
}

Bytes encode(const Ping& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(1);
        put_key(pk, 0); pk.pack_uint64(p.nonce);
    });
}

Bytes encode(const Pong& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(1);
        put_key(pk, 0); pk.pack_uint64(p.nonce);
    });
}

Result<Declaration> decode_declaration(ByteView b) { return decode_with(b, kDeclarationSchema, read_declaration); }
Result<ChatMessage> decode_chat_message(ByteView b) { return decode_with(b, kChatMessageSchema, read_chat_message); }
Result<Declare> decode_declare(ByteView b) { return decode_with(b, kDeclareSchema, read_declare); }
Result<RequestPing> decode_request_ping(ByteView b) { return decode_with(b, kRequestPingSchema, read_request_ping); }
Result<RequestUserList> decode_request_user_list(ByteView b) {
    return decode_with(b, kRequestUserListSchema, read_request_user_list);
}
Result<DeliverKnownList> decode_deliver_known_list(ByteView b) {
    return decode_with(b, kDeliverKnownListSchema, read_deliver_known_list);
}
Result<Chat> decode_chat(ByteView b) { return decode_with(b, kChatSchema, read_chat); }

Bytes encode(const SignedBlob& b) {
    return pack([&](Packer& pk) { put_blob(pk, b); });
}

Result<SignedBlob> decode_signed_blob(ByteView b) {
    return guarded("signed blob", [&] {
        const auto oh = parse(b, "signed blob");
        return read_blob(oh.get(), Field{"signed blob", "blob"});
    });
}
Result<ChatAck> decode_chat_ack(ByteView b) { return decode_with(b, kChatAckSchema, read_chat_ack); }
Result<Ping> decode_ping(ByteView b) {
    return decode_with(b, kPingSchema, [](const msgpack::object& o) { return Ping{read_nonce_map(o, kPingSchema)}; });
}
Result<Pong> decode_pong(ByteView b) {
    return decode_with(b, kPongSchema, [](const msgpack::object& o) { return Pong{read_nonce_map(o, kPongSchema)}; });
}

// ---------------------------------------------------------------------------
// Signed blobs and framing

SignedBlob sign_blob(Bytes body, const SecretKey& sk) {
    const Signature sig = crypto::sign(sk, body);
    return SignedBlob{std::move(body), sig};
}

bool verify_blob(const SignedBlob& blob, const PublicKey& pk) { return crypto::verify(pk, blob.body, blob.sig); }

Bytes frame(ByteView packet) {
    const auto n = static_cast<std::uint32_t>(packet.size());
    Bytes out;
    out.reserve(4 + packet.size());
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(n >> shift));
    out.insert(out.end(), packet.begin(), packet.end());
    return out;
}

void FrameReader::feed(ByteView data) {
    if (bad_) return;
    // Drop what was consumed before growing the buffer.
    if (start_ > 0 && start_ == buf_.size()) {
        buf_.clear();
        start_ = 0;
    } else if (start_ > 4096 && start_ * 2 > buf_.size()) {
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(start_));
        start_ = 0;
    }
    buf_.insert(buf_.end(), data.begin(), data.end());
}

std::optional<Bytes> FrameReader::next() {
    if (bad_ || buffered() < 4) return std::nullopt;
    const std::uint8_t* p = buf_.data() + start_;
    std::uint32_t len = (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
                        std::uint32_t(p[3]);
    if (len == 0 || len > kMaxFrame) {
        bad_ = true;
        buf_.clear();
        start_ = 0;
        return std::nullopt;
    }
    if (buffered() < 4 + static_cast<std::size_t>(len)) return std::nullopt;
    Bytes packet(p + 4, p + 4 + len);
    start_ += 4 + len;
    return packet;
}

}  // namespace dc::wire
