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
// Each payload is declared once, in a table (schema.hpp): those of core::Node below,
// those of the roles in roles_wire.cpp. Encoders, decoders, field names and the
// required-fields check all come from the tables.
// Readers report a problem by throwing DecodeError; guarded() turns it, and anything
// msgpack-c or the standard library throws, into a Result error at the public boundary.

#include "darkchat/wire.hpp"

#include "schema.hpp"

#include <msgpack.hpp>

#include <cstdint>
#include <string_view>
#include <tuple>

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
    case MsgType::hold: return "hold";
    case MsgType::hold_ack: return "holdAck";
    case MsgType::hand_over: return "handOver";
    case MsgType::channel_hello: return "channelHello";
    case MsgType::channel_welcome: return "channelWelcome";
    case MsgType::channel_data: return "channelData";
    case MsgType::room_hop: return "roomHop";
    case MsgType::room_file: return "roomFile";
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
    case MsgType::file_data: return "fileData";
    }
    return "unknown";
}

namespace schema {

// The payloads of core::Node (MsgType 1..31). Identity fields are required; every other
// field has a meaningful default (an absent or empty requestPing target means "whoever
// receives this").

template <>
struct Message<Declaration> {
    static constexpr std::string_view name = "declaration";
    static constexpr auto fields = std::tuple{
        field(0, "user", &Declaration::user, user, required),
        field(1, "key", &Declaration::key, required),
        field(2, "session", &Declaration::session, required),
        field(3, "seq", &Declaration::seq),
        field(4, "online", &Declaration::online),
        field(5, "super_client", &Declaration::super_client),
        field(6, "addr", &Declaration::addr),
        field(7, "issued", &Declaration::issued),
        field(8, "links", &Declaration::links, user_list("link", kMaxLinks)),
        field(9, "kx", &Declaration::kx),
        field(10, "hold_kx", &Declaration::hold_kx, if_set(&Declaration::hold_kx)),
    };
};

// An unnumbered message (seq 0) is written without its order fields.
template <>
struct Message<ChatMessage> {
    static constexpr std::string_view name = "chat message";
    static constexpr auto fields = std::tuple{
        field(0, "id", &ChatMessage::id, required),
        field(1, "from", &ChatMessage::from, user, required),
        field(2, "to", &ChatMessage::to, user, required),
        field(3, "sent", &ChatMessage::sent),
        field(4, "text", &ChatMessage::text, max_bytes(kMaxText)),
        field(5, "session", &ChatMessage::session, if_set(&ChatMessage::seq)),
        field(6, "seq", &ChatMessage::seq, if_set(&ChatMessage::seq)),
        field(7, "group", &ChatMessage::group, max_bytes(kMaxGroupPayload), if_set(&ChatMessage::group)),
    };
};

template <>
struct Message<Declare> {
    static constexpr std::string_view name = "declare";
    static constexpr auto fields = std::tuple{
        field(0, "decl", &Declare::decl, required),
        field(1, "hops", &Declare::hops),
        field(2, "reply", &Declare::reply),
        field(3, "explode", &Declare::explode),
        field(4, "nonce", &Declare::nonce),
        field(5, "seen", &Declare::seen),
    };
};

template <>
struct Message<RequestPing> {
    static constexpr std::string_view name = "requestPing";
    static constexpr auto fields = std::tuple{
        field(0, "target_user", &RequestPing::target_user, user_or_empty),
        field(1, "target_session", &RequestPing::target_session),
        field(2, "requester_user", &RequestPing::requester_user, user, required),
        field(3, "requester_session", &RequestPing::requester_session, required),
        field(4, "requester_addr", &RequestPing::requester_addr),
        field(5, "nonce", &RequestPing::nonce),
        field(6, "hops", &RequestPing::hops),
    };
};

template <>
struct Message<RequestUserList> {
    static constexpr std::string_view name = "requestUserList";
    static constexpr auto fields = std::tuple{
        field(0, "nonce", &RequestUserList::nonce),
        field(1, "wanted users", &RequestUserList::want, user_list("wanted user", kMaxLinks)),
        field(2, "after", &RequestUserList::after, user_or_empty, if_set(&RequestUserList::after)),
    };
};

// [decl, addr, online, last_seen], as darkchat-protocol(7) lists it.
template <>
struct Record<KnownSession> {
    static constexpr std::string_view name = "session";
    static constexpr auto fields = std::tuple{
        elem("session decl", &KnownSession::decl),
        elem("session addr", &KnownSession::addr),
        elem("session online", &KnownSession::online),
        elem("session last_seen", &KnownSession::last_seen),
    };
};

template <>
struct Message<DeliverKnownList> {
    static constexpr std::string_view name = "deliverKnownList";
    static constexpr auto fields = std::tuple{
        field(0, "nonce", &DeliverKnownList::nonce),
        field(1, "complete", &DeliverKnownList::complete),
        field(2, "sessions", &DeliverKnownList::sessions, max_items(kMaxListEntries)),
        field(3, "next", &DeliverKnownList::next, user_or_empty, if_set(&DeliverKnownList::next)),
    };
};

template <>
struct Message<Chat> {
    static constexpr std::string_view name = "chat";
    static constexpr auto fields = std::tuple{
        field(0, "sealed", &Chat::sealed, required),
        field(1, "kx", &Chat::kx, required),
        field(2, "base", &Chat::base, if_set(&Chat::base)),
    };
};

template <>
struct Message<ChatAck> {
    static constexpr std::string_view name = "chatAck";
    static constexpr auto fields = std::tuple{
        field(0, "id", &ChatAck::id, required),
        field(1, "held", &ChatAck::held, if_set(&ChatAck::held)),
        field(2, "want", &ChatAck::want, if_set(&ChatAck::want)),
        field(3, "more", &ChatAck::more, max_items(kMaxAckIds), if_set(&ChatAck::more)),
        field(4, "upto", &ChatAck::upto, if_set(&ChatAck::upto)),
    };
};

template <>
struct Message<Ping> {
    static constexpr std::string_view name = "ping";
    static constexpr auto fields = std::tuple{field(0, "nonce", &Ping::nonce)};
};

template <>
struct Message<Pong> {
    static constexpr std::string_view name = "pong";
    static constexpr auto fields = std::tuple{field(0, "nonce", &Pong::nonce)};
};

template <>
struct Message<ChannelHello> {
    static constexpr std::string_view name = "channelHello";
    static constexpr auto fields = std::tuple{
        field(0, "kx", &ChannelHello::kx, required),
        field(1, "peer_kx", &ChannelHello::peer_kx, required),
        field(2, "ephemeral", &ChannelHello::ephemeral, required),
        field(3, "index", &ChannelHello::index, required),
        field(4, "time", &ChannelHello::time),
    };
};

template <>
struct Message<ChannelWelcome> {
    static constexpr std::string_view name = "channelWelcome";
    static constexpr auto fields = std::tuple{
        field(0, "kx", &ChannelWelcome::kx, required),
        field(1, "peer_kx", &ChannelWelcome::peer_kx, required),
        field(2, "ephemeral", &ChannelWelcome::ephemeral, if_set(&ChannelWelcome::ephemeral)),
        field(3, "index", &ChannelWelcome::index, if_set(&ChannelWelcome::index)),
        field(4, "echo", &ChannelWelcome::echo, required),
        field(5, "stale", &ChannelWelcome::stale, if_set(&ChannelWelcome::stale)),
    };
};

template <>
struct Message<Hold> {
    static constexpr std::string_view name = "hold";
    static constexpr auto fields = std::tuple{
        field(0, "to", &Hold::to, user, required),
        field(1, "id", &Hold::id, required),
        field(2, "sealed", &Hold::sealed, max_bytes(kMaxHeldSealed), required),
        field(3, "base", &Hold::base, if_set(&Hold::base)),
    };
};

template <>
struct Message<HoldAck> {
    static constexpr std::string_view name = "holdAck";
    static constexpr auto fields = std::tuple{
        field(0, "to", &HoldAck::to, user, required),
        field(1, "id", &HoldAck::id, required),
        field(2, "kept", &HoldAck::kept),
        field(3, "reason", &HoldAck::reason, max_bytes(kMaxHoldReason), if_set(&HoldAck::reason)),
    };
};

template <>
struct Message<HandOver> {
    static constexpr std::string_view name = "handOver";
    static constexpr auto fields = std::tuple{
        field(0, "sealed", &HandOver::sealed, max_bytes(kMaxHeldSealed), required),
        field(1, "base", &HandOver::base, if_set(&HandOver::base)),
    };
};

}  // namespace schema

namespace {

using namespace schema;

// The types a signed packet may carry (channel_data never is one).
bool known_type(std::uint64_t t) {
    return (t >= static_cast<std::uint8_t>(MsgType::declare_online) &&
            t <= static_cast<std::uint8_t>(MsgType::hand_over)) ||
           t == static_cast<std::uint8_t>(MsgType::channel_hello) ||
           t == static_cast<std::uint8_t>(MsgType::channel_welcome) ||
           (t >= static_cast<std::uint8_t>(MsgType::relay_heartbeat) &&
            t <= static_cast<std::uint8_t>(MsgType::invite_answer)) ||
           t == static_cast<std::uint8_t>(MsgType::room_file);
}

// A channel data packet starts with the version byte, not a msgpack array (0x93), and
// is never shorter than its prefix, an inner type and a tag.
bool is_channel_data(ByteView d) {
    return d.size() >= kChannelMinPacket && d[0] == kVersion &&
           (d[1] == static_cast<std::uint8_t>(MsgType::channel_data) ||
            d[1] == static_cast<std::uint8_t>(MsgType::room_hop));
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
    if (is_channel_data(d)) return static_cast<MsgType>(d[1]);
    if (d.size() >= 2 && d[0] == kVersion && d[1] == static_cast<std::uint8_t>(MsgType::file_data))
        return MsgType::file_data;
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

// ---------------------------------------------------------------------------
// Channel data packets: a fixed prefix and the AEAD output, no msgpack

void put_channel_prefix(std::uint8_t* out, std::uint32_t index, std::uint64_t counter, MsgType type) {
    out[0] = kVersion;
    out[1] = static_cast<std::uint8_t>(type);
    for (int i = 0; i < 4; ++i) out[2 + i] = static_cast<std::uint8_t>(index >> (24 - 8 * i));
    for (int i = 0; i < 8; ++i) out[6 + i] = static_cast<std::uint8_t>(counter >> (56 - 8 * i));
}

Bytes encode(const ChannelData& p) {
    Bytes out(kChannelPrefix + p.sealed.size());
    put_channel_prefix(out.data(), p.index, p.counter, p.type);
    std::copy(p.sealed.begin(), p.sealed.end(), out.begin() + kChannelPrefix);
    return out;
}

Result<ChannelData> parse_channel_data(ByteView d) {
    if (d.size() > kMaxFrame) return err("channel data: too large");  // big ones come as TCP frames
    if (!is_channel_data(d)) return err("channel data: bad layout");
    ChannelData p;
    p.type = static_cast<MsgType>(d[1]);
    for (int i = 0; i < 4; ++i) p.index = p.index << 8 | d[2 + i];
    for (int i = 0; i < 8; ++i) p.counter = p.counter << 8 | d[6 + i];
    if (p.index == 0) return err("channel data: index 0");
    p.sealed.assign(d.begin() + kChannelPrefix, d.end());
    return p;
}

// ---------------------------------------------------------------------------
// Payloads: maps keyed by field number (the tables above)

Bytes encode(const Declaration& d) { return encode_message(d); }
Bytes encode(const ChatMessage& m) { return encode_message(m); }
Bytes encode(const Declare& p) { return encode_message(p); }
Bytes encode(const RequestPing& p) { return encode_message(p); }
Bytes encode(const RequestUserList& p) { return encode_message(p); }
Bytes encode(const DeliverKnownList& p) { return encode_message(p); }
Bytes encode(const Chat& p) { return encode_message(p); }
Bytes encode(const ChatAck& p) { return encode_message(p); }
Bytes encode(const Ping& p) { return encode_message(p); }
Bytes encode(const Pong& p) { return encode_message(p); }
Bytes encode(const ChannelHello& p) { return encode_message(p); }
Bytes encode(const ChannelWelcome& p) { return encode_message(p); }
Bytes encode(const Hold& p) { return encode_message(p); }
Bytes encode(const HoldAck& p) { return encode_message(p); }
Bytes encode(const HandOver& p) { return encode_message(p); }

Result<Declaration> decode_declaration(ByteView b) { return decode_message<Declaration>(b); }
Result<ChatMessage> decode_chat_message(ByteView b) { return decode_message<ChatMessage>(b); }
Result<Declare> decode_declare(ByteView b) { return decode_message<Declare>(b); }
Result<RequestPing> decode_request_ping(ByteView b) { return decode_message<RequestPing>(b); }
Result<RequestUserList> decode_request_user_list(ByteView b) { return decode_message<RequestUserList>(b); }
Result<DeliverKnownList> decode_deliver_known_list(ByteView b) { return decode_message<DeliverKnownList>(b); }
Result<Chat> decode_chat(ByteView b) { return decode_message<Chat>(b); }
Result<ChatAck> decode_chat_ack(ByteView b) { return decode_message<ChatAck>(b); }
Result<Ping> decode_ping(ByteView b) { return decode_message<Ping>(b); }
Result<Pong> decode_pong(ByteView b) { return decode_message<Pong>(b); }
Result<ChannelHello> decode_channel_hello(ByteView b) { return decode_message<ChannelHello>(b); }
Result<ChannelWelcome> decode_channel_welcome(ByteView b) { return decode_message<ChannelWelcome>(b); }
Result<Hold> decode_hold(ByteView b) { return decode_message<Hold>(b); }
Result<HoldAck> decode_hold_ack(ByteView b) { return decode_message<HoldAck>(b); }
Result<HandOver> decode_hand_over(ByteView b) { return decode_message<HandOver>(b); }

// A SignedBlob on its own: [body, sig].
Bytes encode(const SignedBlob& b) {
    return pack([&](Packer& pk) { put_blob(pk, b); });
}

Result<SignedBlob> decode_signed_blob(ByteView b) {
    return guarded("signed blob", [&] {
        const auto oh = parse(b, "signed blob");
        return read_blob(oh.get(), Field{"signed blob", "blob"});
    });
}

// ---------------------------------------------------------------------------
// TCP framing

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
