// Payloads of the directory/relay/room messages (see roles_wire.hpp). Built from the
// same blocks as wire.cpp (codec.hpp): every decode is shape-checked before msgpack-c
// sees it, runs under unpack limits, and every field is type- and range-checked.

#include "darkchat/roles_wire.hpp"

#include "codec.hpp"

namespace dc::wire {

namespace {

using namespace codec;

// A list of records, each read by item (which gets the element and a Field naming it).
template <typename T, typename F>
std::vector<T> read_list(const msgpack::object& o, const Field& f, std::size_t max, F&& item) {
    const auto& a = read_array(o, f);
    if (a.size > max) fail(cat(f.ctx, ": too many ", f.name));
    std::vector<T> v;
    v.reserve(a.size);
    for (std::uint32_t i = 0; i < a.size; ++i) v.push_back(item(a.ptr[i], f));
    return v;
}

template <typename T, typename F>
void put_list(Packer& pk, const std::vector<T>& v, F&& item) {
    pk.pack_array(static_cast<std::uint32_t>(v.size()));
    for (const auto& x : v) item(pk, x);
}

std::uint32_t read_u32(const msgpack::object& o, const Field& f) { return read_uint_as<std::uint32_t>(o, f); }
std::uint8_t read_u8(const msgpack::object& o, const Field& f) { return read_uint_as<std::uint8_t>(o, f); }

Bytes read_bytes(const msgpack::object& o, const Field& f, std::size_t max) {
    const ByteView b = read_bin(o, f);
    if (b.size() > max) fail(cat(f.ctx, ": ", f.name, " too long"));
    return Bytes(b.begin(), b.end());
}

std::vector<SignedBlob> read_blobs(const msgpack::object& o, const Field& f, std::size_t max) {
    return read_list<SignedBlob>(o, f, max, [](const msgpack::object& e, const Field& ff) { return read_blob(e, ff); });
}
void put_blobs(Packer& pk, const std::vector<SignedBlob>& v) {
    put_list(pk, v, [](Packer& p, const SignedBlob& b) { put_blob(p, b); });
}

// Decodes bytes as one payload map with schema s; field is called per known key.
template <typename T, typename F>
Result<T> decode_map(ByteView b, const Schema& s, F&& field) {
    return guarded(s.ctx, [&] {
        const auto h = parse(b, s.ctx);
        T out;
        read_map(h.get(), s, [&](std::uint64_t key, const msgpack::object& v, const Field& f) { field(out, key, v, f); });
        return out;
    });
}

constexpr std::string_view kRelayHeartbeatFields[] = {"seq", "rooms", "members", "messages_per_second", "addr"};
constexpr std::string_view kRelayAckFields[] = {"seq", "boot"};
constexpr std::string_view kClientHeartbeatFields[] = {"seen_version", "seen_boot", "has_delays", "delays", "held", "report"};
constexpr std::string_view kClientStateFields[] = {"version", "boot", "unchanged", "relays", "outgoing", "incoming", "chats", "report_seen"};
constexpr std::string_view kChatRequestFields[] = {"id", "users"};
constexpr std::string_view kChatAnswerFields[] = {"id", "accept"};
constexpr std::string_view kProbeFields[] = {"nonce", "padding"};
constexpr std::string_view kProbeReplyFields[] = {"nonce"};
constexpr std::string_view kTicketFields[] = {"room", "relay_key", "relay", "epoch", "members", "issued", "issuer"};
constexpr std::string_view kMemberKeyFields[] = {"room", "user", "kx"};
constexpr std::string_view kRoomJoinFields[] = {"ticket", "member_key"};
constexpr std::string_view kRoomRosterFields[] = {"room", "epoch", "member_keys"};
constexpr std::string_view kLineBodyFields[] = {"room", "author", "seq", "first_kept", "id", "sent", "copies", "run"};
constexpr std::string_view kRoomLineFields[] = {"room", "line"};
constexpr std::string_view kAckBodyFields[] = {"room", "from", "author", "upto", "run"};
constexpr std::string_view kRoomAckFields[] = {"room", "author", "ack"};
constexpr std::string_view kRoomLeaveFields[] = {"room"};
constexpr std::string_view kRoomRefusedFields[] = {"room", "reason"};
constexpr std::string_view kInviteFields[] = {"id", "ticket"};
constexpr std::string_view kInviteAnswerFields[] = {"id", "room", "epoch", "answer"};

constexpr Schema kRelayHeartbeatSchema{"relayHeartbeat", kRelayHeartbeatFields, 0};
constexpr Schema kRelayAckSchema{"relayAck", kRelayAckFields, 0};
constexpr Schema kClientHeartbeatSchema{"clientHeartbeat", kClientHeartbeatFields, 0};
constexpr Schema kClientStateSchema{"clientState", kClientStateFields, bits({0, 1})};
constexpr Schema kChatRequestSchema{"chatRequest", kChatRequestFields, bits({0, 1})};
constexpr Schema kChatAnswerSchema{"chatAnswer", kChatAnswerFields, bits({0, 1})};
constexpr Schema kProbeSchema{"probe", kProbeFields, bits({0})};
constexpr Schema kProbeReplySchema{"probeReply", kProbeReplyFields, bits({0})};
constexpr Schema kTicketSchema{"ticket", kTicketFields, bits({0, 2, 3, 4})};
constexpr Schema kMemberKeySchema{"memberKey", kMemberKeyFields, bits({0, 1, 2})};
constexpr Schema kRoomJoinSchema{"roomJoin", kRoomJoinFields, bits({0, 1})};
constexpr Schema kRoomRosterSchema{"roomRoster", kRoomRosterFields, bits({0, 1, 2})};
constexpr Schema kLineBodySchema{"line", kLineBodyFields, bits({0, 1, 2, 4, 7})};
constexpr Schema kRoomLineSchema{"roomLine", kRoomLineFields, bits({0, 1})};
constexpr Schema kAckBodySchema{"ack", kAckBodyFields, bits({0, 1, 2, 3, 4})};
constexpr Schema kRoomAckSchema{"roomAck", kRoomAckFields, bits({0, 1, 2})};
constexpr Schema kRoomLeaveSchema{"roomLeave", kRoomLeaveFields, bits({0})};
constexpr Schema kRoomRefusedSchema{"roomRefused", kRoomRefusedFields, bits({0})};
constexpr Schema kInviteSchema{"invite", kInviteFields, bits({0, 1})};
constexpr Schema kInviteAnswerSchema{"inviteAnswer", kInviteAnswerFields, bits({0, 1, 3})};

}  // namespace

// ---------------------------------------------------------------------------
// Encoding (maps keyed by the orders of the k...Fields tables above)

Bytes encode(const RelayHeartbeat& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(5);
        put_key(pk, 0); pk.pack_uint64(p.seq);
        put_key(pk, 1); pk.pack_uint32(p.rooms);
        put_key(pk, 2); pk.pack_uint32(p.members);
        put_key(pk, 3); pk.pack_uint32(p.messages_per_second);
        put_key(pk, 4); put_addr(pk, p.addr);
    });
}

Bytes encode(const RelayAck& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(2);
        put_key(pk, 0); pk.pack_uint64(p.seq);
        put_key(pk, 1); pk.pack_uint64(p.boot);
    });
}

Bytes encode(const ClientHeartbeat& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(6);
        put_key(pk, 0); pk.pack_uint64(p.seen_version);
        put_key(pk, 1); pk.pack_uint64(p.seen_boot);
        put_key(pk, 2); pk.pack(p.has_delays);
        put_key(pk, 3);
        put_list(pk, p.delays, [](Packer& q, const DelayEntry& d) {
            q.pack_array(2);
            put_bin(q, d.relay);
            q.pack_uint32(d.rtt_ms);
        });
        put_key(pk, 4);
        put_list(pk, p.held, [](Packer& q, const HeldChat& h) {
            q.pack_array(2);
            put_blob(q, h.ticket);
            put_strs(q, h.members);
        });
        put_key(pk, 5); pk.pack_uint64(p.report);
    });
}

Bytes encode(const ClientState& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(8);
        put_key(pk, 0); pk.pack_uint64(p.version);
        put_key(pk, 1); pk.pack_uint64(p.boot);
        put_key(pk, 2); pk.pack(p.unchanged);
        put_key(pk, 3);
        put_list(pk, p.relays, [](Packer& q, const RelayInfo& r) {
            q.pack_array(2);
            put_bin(q, r.key);
            put_addr(q, r.addr);
        });
        put_key(pk, 4);
        put_list(pk, p.outgoing, [](Packer& q, const OutgoingRequest& r) {
            q.pack_array(5);
            q.pack_uint64(r.id);
            put_str(q, r.user);
            q.pack_uint8(r.stage);
            q.pack_uint32(r.reminders);
            put_str(q, r.detail);
        });
        put_key(pk, 5);
        put_list(pk, p.incoming, [](Packer& q, const IncomingRequest& r) {
            q.pack_array(3);
            q.pack_uint64(r.id);
            put_str(q, r.from);
            put_strs(q, r.others);
        });
        put_key(pk, 6);
        put_list(pk, p.chats, [](Packer& q, const ChatInfo& c) {
            q.pack_array(10);
            put_bin(q, c.room);
            put_bin(q, c.relay_key);
            put_addr(q, c.relay);
            q.pack_uint32(c.epoch);
            put_strs(q, c.members);
            put_blob(q, c.ticket);
            q.pack_uint8(c.reason);
            q.pack_uint32(c.old_ms);
            q.pack_uint32(c.new_ms);
            put_strs(q, c.pending);
        });
        put_key(pk, 7); pk.pack_uint64(p.report_seen);
    });
}

Bytes encode(const ChatRequest& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(2);
        put_key(pk, 0); pk.pack_uint64(p.id);
        put_key(pk, 1); put_strs(pk, p.users);
    });
}

Bytes encode(const ChatAnswer& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(2);
        put_key(pk, 0); pk.pack_uint64(p.id);
        put_key(pk, 1); pk.pack(p.accept);
    });
}

Bytes encode(const Probe& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(2);
        put_key(pk, 0); pk.pack_uint64(p.nonce);
        put_key(pk, 1); put_bin(pk, p.padding);
    });
}

Bytes encode(const ProbeReply& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(1);
        put_key(pk, 0); pk.pack_uint64(p.nonce);
    });
}

Bytes encode(const Ticket& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(7);
        put_key(pk, 0); put_bin(pk, p.room);
        put_key(pk, 1); put_bin(pk, p.relay_key);
        put_key(pk, 2); put_addr(pk, p.relay);
        put_key(pk, 3); pk.pack_uint32(p.epoch);
        put_key(pk, 4);
        put_list(pk, p.members, [](Packer& q, const TicketMember& m) {
            q.pack_array(2);
            put_str(q, m.user);
            put_bin(q, m.key);
        });
        put_key(pk, 5); pk.pack_int64(p.issued);
        put_key(pk, 6); put_str(pk, p.issuer);
    });
}

Bytes encode(const MemberKey& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(3);
        put_key(pk, 0); put_bin(pk, p.room);
        put_key(pk, 1); put_str(pk, p.user);
        put_key(pk, 2); put_bin(pk, p.kx);
    });
}

Bytes encode(const RoomJoin& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(2);
        put_key(pk, 0); put_blob(pk, p.ticket);
        put_key(pk, 1); put_blob(pk, p.member_key);
    });
}

Bytes encode(const RoomRoster& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(3);
        put_key(pk, 0); put_bin(pk, p.room);
        put_key(pk, 1); pk.pack_uint32(p.epoch);
        put_key(pk, 2); put_blobs(pk, p.member_keys);
    });
}

Bytes encode(const LineBody& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(8);
        put_key(pk, 0); put_bin(pk, p.room);
        put_key(pk, 1); put_str(pk, p.author);
        put_key(pk, 2); pk.pack_uint64(p.seq);
        put_key(pk, 3); pk.pack_uint64(p.first_kept);
        put_key(pk, 4); put_bin(pk, p.id);
        put_key(pk, 5); pk.pack_int64(p.sent);
        put_key(pk, 6);
        put_list(pk, p.copies, [](Packer& q, const SealedCopy& c) {
            q.pack_array(2);
            put_str(q, c.to);
            put_bin(q, c.sealed);
        });
        put_key(pk, 7); pk.pack_uint64(p.run);
    });
}

Bytes encode(const RoomLine& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(2);
        put_key(pk, 0); put_bin(pk, p.room);
        put_key(pk, 1); put_blob(pk, p.line);
    });
}

Bytes encode(const AckBody& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(5);
        put_key(pk, 0); put_bin(pk, p.room);
        put_key(pk, 1); put_str(pk, p.from);
        put_key(pk, 2); put_str(pk, p.author);
        put_key(pk, 3); pk.pack_uint64(p.upto);
        put_key(pk, 4); pk.pack_uint64(p.run);
    });
}

Bytes encode(const RoomAck& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(3);
        put_key(pk, 0); put_bin(pk, p.room);
        put_key(pk, 1); put_str(pk, p.author);
        put_key(pk, 2); put_blob(pk, p.ack);
    });
}

Bytes encode(const RoomLeave& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(1);
        put_key(pk, 0); put_bin(pk, p.room);
    });
}

Bytes encode(const RoomRefused& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(2);
        put_key(pk, 0); put_bin(pk, p.room);
        put_key(pk, 1); put_str(pk, p.reason);
    });
}

Bytes encode(const Invite& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(2);
        put_key(pk, 0); pk.pack_uint64(p.id);
        put_key(pk, 1); put_blob(pk, p.ticket);
    });
}

Bytes encode(const InviteAnswer& p) {
    return pack([&](Packer& pk) {
        pk.pack_map(4);
        put_key(pk, 0); pk.pack_uint64(p.id);
        put_key(pk, 1); put_bin(pk, p.room);
        put_key(pk, 2); pk.pack_uint32(p.epoch);
        put_key(pk, 3); pk.pack_uint8(p.answer);
    });
}

// ---------------------------------------------------------------------------
// Decoding

Result<RelayHeartbeat> decode_relay_heartbeat(ByteView b) {
    return decode_map<RelayHeartbeat>(b, kRelayHeartbeatSchema, [](auto& p, std::uint64_t k, const msgpack::object& v, const Field& f) {
        switch (k) {
        case 0: p.seq = read_uint(v, f); break;
        case 1: p.rooms = read_u32(v, f); break;
        case 2: p.members = read_u32(v, f); break;
        case 3: p.messages_per_second = read_u32(v, f); break;
        case 4: p.addr = read_addr(v, f); break;
        }
    });
}

Result<RelayAck> decode_relay_ack(ByteView b) {
    return decode_map<RelayAck>(b, kRelayAckSchema, [](auto& p, std::uint64_t k, const msgpack::object& v, const Field& f) {
        switch (k) {
        case 0: p.seq = read_uint(v, f); break;
        case 1: p.boot = read_uint(v, f); break;
        }
    });
}

Result<ClientHeartbeat> decode_client_heartbeat(ByteView b) {
    return decode_map<ClientHeartbeat>(b, kClientHeartbeatSchema, [](auto& p, std::uint64_t k, const msgpack::object& v, const Field& f) {
        switch (k) {
        case 0: p.seen_version = read_uint(v, f); break;
        case 1: p.seen_boot = read_uint(v, f); break;
        case 2: p.has_delays = read_bool(v, f); break;
        case 3:
            p.delays = read_list<DelayEntry>(v, f, kMaxRoleRelays, [](const msgpack::object& e, const Field& ff) {
                const auto* t = read_tuple(e, ff, 2);
                return DelayEntry{read_fixed<32>(t[0], ff), read_u32(t[1], ff)};
            });
            break;
        case 4:
            p.held = read_list<HeldChat>(v, f, kMaxRoleRooms, [](const msgpack::object& e, const Field& ff) {
                const auto* t = read_tuple(e, ff, 2);
                return HeldChat{read_blob(t[0], ff), read_users(t[1], ff, "member", kMaxRoomMembers)};
            });
            break;
        case 5: p.report = read_uint(v, f); break;
        }
    });
}

Result<ClientState> decode_client_state(ByteView b) {
    return decode_map<ClientState>(b, kClientStateSchema, [](auto& p, std::uint64_t k, const msgpack::object& v, const Field& f) {
        switch (k) {
        case 0: p.version = read_uint(v, f); break;
        case 1: p.boot = read_uint(v, f); break;
        case 2: p.unchanged = read_bool(v, f); break;
        case 3:
            p.relays = read_list<RelayInfo>(v, f, kMaxRoleRelays, [](const msgpack::object& e, const Field& ff) {
                const auto* t = read_tuple(e, ff, 2);
                return RelayInfo{read_fixed<32>(t[0], ff), read_addr(t[1], ff)};
            });
            break;
        case 4:
            p.outgoing = read_list<OutgoingRequest>(v, f, kMaxRoleRequests, [](const msgpack::object& e, const Field& ff) {
                const auto* t = read_tuple(e, ff, 5);
                return OutgoingRequest{read_uint(t[0], ff), read_user(t[1], ff), read_u8(t[2], ff), read_u32(t[3], ff),
                                       read_str(t[4], ff, kMaxReason)};
            });
            break;
        case 5:
            p.incoming = read_list<IncomingRequest>(v, f, kMaxRoleRequests, [](const msgpack::object& e, const Field& ff) {
                const auto* t = read_tuple(e, ff, 3);
                return IncomingRequest{read_uint(t[0], ff), read_user(t[1], ff),
                                       read_users(t[2], ff, "other", kMaxRoomMembers)};
            });
            break;
        case 6:
            p.chats = read_list<ChatInfo>(v, f, kMaxRoleRooms, [](const msgpack::object& e, const Field& ff) {
                const auto* t = read_tuple(e, ff, 10);
                ChatInfo c;
                c.room = read_fixed<16>(t[0], ff);
                c.relay_key = read_fixed<32>(t[1], ff);
                c.relay = read_addr(t[2], ff);
                c.epoch = read_u32(t[3], ff);
                c.members = read_users(t[4], ff, "member", kMaxRoomMembers);
                c.ticket = read_blob(t[5], ff);
                c.reason = read_u8(t[6], ff);
                c.old_ms = read_u32(t[7], ff);
                c.new_ms = read_u32(t[8], ff);
                c.pending = read_users(t[9], ff, "pending", kMaxRoomMembers);
                return c;
            });
            break;
        case 7: p.report_seen = read_uint(v, f); break;
        }
    });
}

Result<ChatRequest> decode_chat_request(ByteView b) {
    return decode_map<ChatRequest>(b, kChatRequestSchema, [](auto& p, std::uint64_t k, const msgpack::object& v, const Field& f) {
        switch (k) {
        case 0: p.id = read_uint(v, f); break;
        case 1: p.users = read_users(v, f, "user", kMaxRoomMembers); break;
        }
    });
}

Result<ChatAnswer> decode_chat_answer(ByteView b) {
    return decode_map<ChatAnswer>(b, kChatAnswerSchema, [](auto& p, std::uint64_t k, const msgpack::object& v, const Field& f) {
        switch (k) {
        case 0: p.id = read_uint(v, f); break;
        case 1: p.accept = read_bool(v, f); break;
        }
    });
}

Result<Probe> decode_probe(ByteView b) {
    return decode_map<Probe>(b, kProbeSchema, [](auto& p, std::uint64_t k, const msgpack::object& v, const Field& f) {
        switch (k) {
        case 0: p.nonce = read_uint(v, f); break;
        case 1: p.padding = read_bytes(v, f, kMaxProbePadding); break;
        }
    });
}

Result<ProbeReply> decode_probe_reply(ByteView b) {
    return decode_map<ProbeReply>(b, kProbeReplySchema, [](auto& p, std::uint64_t k, const msgpack::object& v, const Field& f) {
        if (k == 0) p.nonce = read_uint(v, f);
    });
}

Result<Ticket> decode_ticket(ByteView b) {
    return decode_map<Ticket>(b, kTicketSchema, [](auto& p, std::uint64_t k, const msgpack::object& v, const Field& f) {
        switch (k) {
        case 0: p.room = read_fixed<16>(v, f); break;
        case 1: p.relay_key = read_fixed<32>(v, f); break;
        case 2: p.relay = read_addr(v, f); break;
        case 3: p.epoch = read_u32(v, f); break;
        case 4:
            p.members = read_list<TicketMember>(v, f, kMaxRoomMembers, [](const msgpack::object& e, const Field& ff) {
                const auto* t = read_tuple(e, ff, 2);
                return TicketMember{read_user(t[0], ff), read_fixed<32>(t[1], ff)};
            });
            break;
        case 5: p.issued = read_time(v, f); break;
        case 6: p.issuer = read_user(v, f, /*empty_ok=*/true); break;
        }
    });
}

Result<MemberKey> decode_member_key(ByteView b) {
    return decode_map<MemberKey>(b, kMemberKeySchema, [](auto& p, std::uint64_t k, const msgpack::object& v, const Field& f) {
        switch (k) {
        case 0: p.room = read_fixed<16>(v, f); break;
        case 1: p.user = read_user(v, f); break;
        case 2: p.kx = read_fixed<32>(v, f); break;
        }
    });
}

Result<RoomJoin> decode_room_join(ByteView b) {
    return decode_map<RoomJoin>(b, kRoomJoinSchema, [](auto& p, std::uint64_t k, const msgpack::object& v, const Field& f) {
        switch (k) {
        case 0: p.ticket = read_blob(v, f); break;
        case 1: p.member_key = read_blob(v, f); break;
        }
    });
}

Result<RoomRoster> decode_room_roster(ByteView b) {
    return decode_map<RoomRoster>(b, kRoomRosterSchema, [](auto& p, std::uint64_t k, const msgpack::object& v, const Field& f) {
        switch (k) {
        case 0: p.room = read_fixed<16>(v, f); break;
        case 1: p.epoch = read_u32(v, f); break;
        case 2: p.member_keys = read_blobs(v, f, kMaxRoomMembers); break;
        }
    });
}

Result<LineBody> decode_line_body(ByteView b) {
    return decode_map<LineBody>(b, kLineBodySchema, [](auto& p, std::uint64_t k, const msgpack::object& v, const Field& f) {
        switch (k) {
        case 0: p.room = read_fixed<16>(v, f); break;
        case 1: p.author = read_user(v, f); break;
        case 2: p.seq = read_uint(v, f); break;
        case 3: p.first_kept = read_uint(v, f); break;
        case 4: p.id = read_fixed<16>(v, f); break;
        case 5: p.sent = read_time(v, f); break;
        case 6:
            p.copies = read_list<SealedCopy>(v, f, kMaxRoomMembers, [](const msgpack::object& e, const Field& ff) {
                const auto* t = read_tuple(e, ff, 2);
                return SealedCopy{read_user(t[0], ff), read_bytes(t[1], ff, kMaxSealed)};
            });
            break;
        case 7: p.run = read_uint(v, f); break;
        }
    });
}

Result<RoomLine> decode_room_line(ByteView b) {
    return decode_map<RoomLine>(b, kRoomLineSchema, [](auto& p, std::uint64_t k, const msgpack::object& v, const Field& f) {
        switch (k) {
        case 0: p.room = read_fixed<16>(v, f); break;
        case 1: p.line = read_blob(v, f); break;
        }
    });
}

Result<AckBody> decode_ack_body(ByteView b) {
    return decode_map<AckBody>(b, kAckBodySchema, [](auto& p, std::uint64_t k, const msgpack::object& v, const Field& f) {
        switch (k) {
        case 0: p.room = read_fixed<16>(v, f); break;
        case 1: p.from = read_user(v, f); break;
        case 2: p.author = read_user(v, f); break;
        case 3: p.upto = read_uint(v, f); break;
        case 4: p.run = read_uint(v, f); break;
        }
    });
}

Result<RoomAck> decode_room_ack(ByteView b) {
    return decode_map<RoomAck>(b, kRoomAckSchema, [](auto& p, std::uint64_t k, const msgpack::object& v, const Field& f) {
        switch (k) {
        case 0: p.room = read_fixed<16>(v, f); break;
        case 1: p.author = read_user(v, f); break;
        case 2: p.ack = read_blob(v, f); break;
        }
    });
}

Result<RoomLeave> decode_room_leave(ByteView b) {
    return decode_map<RoomLeave>(b, kRoomLeaveSchema, [](auto& p, std::uint64_t k, const msgpack::object& v, const Field& f) {
        if (k == 0) p.room = read_fixed<16>(v, f);
    });
}

Result<RoomRefused> decode_room_refused(ByteView b) {
    return decode_map<RoomRefused>(b, kRoomRefusedSchema, [](auto& p, std::uint64_t k, const msgpack::object& v, const Field& f) {
        switch (k) {
        case 0: p.room = read_fixed<16>(v, f); break;
        case 1: p.reason = read_str(v, f, kMaxReason); break;
        }
    });
}

Result<Invite> decode_invite(ByteView b) {
    return decode_map<Invite>(b, kInviteSchema, [](auto& p, std::uint64_t k, const msgpack::object& v, const Field& f) {
        switch (k) {
        case 0: p.id = read_uint(v, f); break;
        case 1: p.ticket = read_blob(v, f); break;
        }
    });
}

Result<InviteAnswer> decode_invite_answer(ByteView b) {
    return decode_map<InviteAnswer>(b, kInviteAnswerSchema, [](auto& p, std::uint64_t k, const msgpack::object& v, const Field& f) {
        switch (k) {
        case 0: p.id = read_uint(v, f); break;
        case 1: p.room = read_fixed<16>(v, f); break;
        case 2: p.epoch = read_u32(v, f); break;
        case 3: p.answer = read_u8(v, f); break;
        }
    });
}

}  // namespace dc::wire
