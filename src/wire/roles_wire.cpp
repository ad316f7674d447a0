// Payloads of the directory/relay/room messages (see roles_wire.hpp), declared once each
// in the tables below (schema.hpp says how). Like every payload: shape-checked before
// msgpack-c sees it, decoded under unpack limits, every field type- and range-checked.

#include "darkchat/roles_wire.hpp"

#include "schema.hpp"

#include <string_view>
#include <tuple>

namespace dc::wire {

namespace schema {

// Records: fixed-shape arrays inside lists. Their elements are reported under the name of
// the list that holds them.

template <>
struct Record<DelayEntry> {  // [relay key, rtt ms]
    static constexpr std::string_view name = {};
    static constexpr auto fields = std::tuple{elem(&DelayEntry::relay), elem(&DelayEntry::rtt_ms)};
};

template <>
struct Record<HeldChat> {  // [ticket, members]
    static constexpr std::string_view name = {};
    static constexpr auto fields =
        std::tuple{elem(&HeldChat::ticket), elem(&HeldChat::members, user_list("member", kMaxRoomMembers))};
};

template <>
struct Record<RelayInfo> {  // [key, addr]
    static constexpr std::string_view name = {};
    static constexpr auto fields = std::tuple{elem(&RelayInfo::key), elem(&RelayInfo::addr)};
};

template <>
struct Record<OutgoingRequest> {  // [id, user, stage, reminders, detail]
    static constexpr std::string_view name = {};
    static constexpr auto fields = std::tuple{
        elem(&OutgoingRequest::id),
        elem(&OutgoingRequest::user, user),
        elem(&OutgoingRequest::stage),
        elem(&OutgoingRequest::reminders),
        elem(&OutgoingRequest::detail, max_bytes(kMaxReason)),
    };
};

template <>
struct Record<IncomingRequest> {  // [id, from, others]
    static constexpr std::string_view name = {};
    static constexpr auto fields = std::tuple{
        elem(&IncomingRequest::id),
        elem(&IncomingRequest::from, user),
        elem(&IncomingRequest::others, user_list("other", kMaxRoomMembers)),
    };
};

template <>
struct Record<GroupWish> {  // [room, members]
    static constexpr std::string_view name = {};
    static constexpr auto fields =
        std::tuple{elem(&GroupWish::room), elem(&GroupWish::members, user_list("member", kMaxRoomMembers))};
};

template <>
struct Record<GroupPlacement> {  // [room, relay_key, relay_addr, reason, old_ms, new_ms]
    static constexpr std::string_view name = {};
    static constexpr auto fields =
        std::tuple{elem(&GroupPlacement::room),   elem(&GroupPlacement::relay_key), elem(&GroupPlacement::relay),
                   elem(&GroupPlacement::reason), elem(&GroupPlacement::old_ms),    elem(&GroupPlacement::new_ms)};
};

template <>
struct Record<ChatInfo> {  // [room, relay_key, relay_addr, epoch, members, ticket, reason, old_ms, new_ms, pending]
    static constexpr std::string_view name = {};
    static constexpr auto fields = std::tuple{
        elem(&ChatInfo::room),
        elem(&ChatInfo::relay_key),
        elem(&ChatInfo::relay),
        elem(&ChatInfo::epoch),
        elem(&ChatInfo::members, user_list("member", kMaxRoomMembers)),
        elem(&ChatInfo::ticket),
        elem(&ChatInfo::reason),
        elem(&ChatInfo::old_ms),
        elem(&ChatInfo::new_ms),
        elem(&ChatInfo::pending, user_list("pending", kMaxRoomMembers)),
    };
};

template <>
struct Record<TicketMember> {  // [name, key]
    static constexpr std::string_view name = {};
    static constexpr auto fields = std::tuple{elem(&TicketMember::user, user), elem(&TicketMember::key)};
};

template <>
struct Record<SealedCopy> {  // [to, sealed]
    static constexpr std::string_view name = {};
    static constexpr auto fields =
        std::tuple{elem(&SealedCopy::to, user), elem(&SealedCopy::sealed, max_bytes(kMaxSealed))};
};

template <>
struct Record<TaggedAck> {  // [tagged, tags]
    static constexpr std::string_view name = {};
    static constexpr auto fields =
        std::tuple{elem(&TaggedAck::tagged, max_bytes(kMaxFrame)), elem(&TaggedAck::tags, max_bytes(kMemberTag))};
};

template <>
struct Record<NextLine> {  // [id, sent, text]
    static constexpr std::string_view name = {};
    static constexpr auto fields = std::tuple{elem(&NextLine::id), elem(&NextLine::sent),
                                              elem(&NextLine::text, max_bytes(kMaxRoomPayload + 16))};
};

// Payloads and signed bodies.

template <>
struct Message<RelayHeartbeat> {
    static constexpr std::string_view name = "relayHeartbeat";
    static constexpr auto fields = std::tuple{
        field(0, "seq", &RelayHeartbeat::seq),
        field(1, "rooms", &RelayHeartbeat::rooms),
        field(2, "members", &RelayHeartbeat::members),
        field(3, "messages_per_second", &RelayHeartbeat::messages_per_second),
        field(4, "addr", &RelayHeartbeat::addr),
        field(5, "cpu_self", &RelayHeartbeat::cpu_self),
        field(6, "cpu_machine", &RelayHeartbeat::cpu_machine),
        field(7, "cores", &RelayHeartbeat::cores),
    };
};

template <>
struct Message<RelayAck> {
    static constexpr std::string_view name = "relayAck";
    static constexpr auto fields = std::tuple{field(0, "seq", &RelayAck::seq), field(1, "boot", &RelayAck::boot)};
};

template <>
struct Message<ClientHeartbeat> {
    static constexpr std::string_view name = "clientHeartbeat";
    static constexpr auto fields = std::tuple{
        field(0, "seen_version", &ClientHeartbeat::seen_version),
        field(1, "seen_boot", &ClientHeartbeat::seen_boot),
        field(2, "has_delays", &ClientHeartbeat::has_delays),
        field(3, "delays", &ClientHeartbeat::delays, max_items(kMaxRoleRelays)),
        field(4, "held", &ClientHeartbeat::held, max_items(kMaxRoleRooms)),
        field(5, "report", &ClientHeartbeat::report),
        field(6, "groups", &ClientHeartbeat::groups, max_items(kMaxRoleRooms), if_set(&ClientHeartbeat::groups)),
    };
};

template <>
struct Message<ClientState> {
    static constexpr std::string_view name = "clientState";
    static constexpr auto fields = std::tuple{
        field(0, "version", &ClientState::version, required),
        field(1, "boot", &ClientState::boot, required),
        field(2, "unchanged", &ClientState::unchanged),
        field(3, "relays", &ClientState::relays, max_items(kMaxRoleRelays)),
        field(4, "outgoing", &ClientState::outgoing, max_items(kMaxRoleRequests)),
        field(5, "incoming", &ClientState::incoming, max_items(kMaxRoleRequests)),
        field(6, "chats", &ClientState::chats, max_items(kMaxRoleRooms)),
        field(7, "report_seen", &ClientState::report_seen),
        field(8, "placements", &ClientState::placements, max_items(kMaxRoleRooms), if_set(&ClientState::placements)),
    };
};

template <>
struct Message<ChatRequest> {
    static constexpr std::string_view name = "chatRequest";
    static constexpr auto fields = std::tuple{
        field(0, "id", &ChatRequest::id, required),
        field(1, "users", &ChatRequest::users, user_list("user", kMaxRoomMembers), required),
    };
};

template <>
struct Message<ChatAnswer> {
    static constexpr std::string_view name = "chatAnswer";
    static constexpr auto fields = std::tuple{
        field(0, "id", &ChatAnswer::id, required),
        field(1, "accept", &ChatAnswer::accept, required),
    };
};

template <>
struct Message<Probe> {
    static constexpr std::string_view name = "probe";
    static constexpr auto fields = std::tuple{
        field(0, "nonce", &Probe::nonce, required),
        field(1, "padding", &Probe::padding, max_bytes(kMaxProbePadding)),
    };
};

template <>
struct Message<ProbeReply> {
    static constexpr std::string_view name = "probeReply";
    static constexpr auto fields = std::tuple{field(0, "nonce", &ProbeReply::nonce, required)};
};

template <>
struct Message<Ticket> {
    static constexpr std::string_view name = "ticket";
    static constexpr auto fields = std::tuple{
        field(0, "room", &Ticket::room, required),
        field(1, "relay_key", &Ticket::relay_key),
        field(2, "relay", &Ticket::relay, required),
        field(3, "epoch", &Ticket::epoch, required),
        field(4, "members", &Ticket::members, max_items(kMaxRoomMembers), required),
        field(5, "issued", &Ticket::issued),
        field(6, "issuer", &Ticket::issuer, user_or_empty),  // empty: the directory
        field(7, "group", &Ticket::group, if_set(&Ticket::group)),
    };
};

template <>
struct Message<MemberKey> {
    static constexpr std::string_view name = "memberKey";
    static constexpr auto fields = std::tuple{
        field(0, "room", &MemberKey::room, required),
        field(1, "user", &MemberKey::user, user, required),
        field(2, "kx", &MemberKey::kx, required),
    };
};

template <>
struct Message<RoomJoin> {
    static constexpr std::string_view name = "roomJoin";
    static constexpr auto fields = std::tuple{
        field(0, "ticket", &RoomJoin::ticket, required),
        field(1, "member_key", &RoomJoin::member_key, required),
    };
};

template <>
struct Message<RoomRoster> {
    static constexpr std::string_view name = "roomRoster";
    static constexpr auto fields = std::tuple{
        field(0, "room", &RoomRoster::room, required),
        field(1, "epoch", &RoomRoster::epoch, required),
        field(2, "member_keys", &RoomRoster::member_keys, max_items(kMaxRoomMembers), required),
        field(3, "relay_kx", &RoomRoster::relay_kx, if_set(&RoomRoster::relay_kx)),
        field(4, "hop_up", &RoomRoster::hop_up, if_set(&RoomRoster::hop_up)),
        field(5, "addrs", &RoomRoster::addrs, max_items(kMaxRoomMembers), if_set(&RoomRoster::addrs)),
    };
};

template <>
struct Message<LineBody> {
    static constexpr std::string_view name = "line";
    static constexpr auto fields = std::tuple{
        field(0, "room", &LineBody::room, required),
        field(1, "author", &LineBody::author, user, required),
        field(2, "seq", &LineBody::seq, required),
        field(3, "first_kept", &LineBody::first_kept),
        field(4, "id", &LineBody::id, required),
        field(5, "sent", &LineBody::sent),
        field(6, "copies", &LineBody::copies, max_items(kMaxRoomMembers)),
        field(7, "run", &LineBody::run, required),
        field(8, "text", &LineBody::text, max_bytes(kMaxRoomPayload + 16)),
        field(9, "next", &LineBody::next, max_items(kMaxNextLines), if_set(&LineBody::next)),
    };
};

template <>
struct Message<RoomLine> {
    static constexpr std::string_view name = "roomLine";
    static constexpr auto fields = std::tuple{
        field(0, "room", &RoomLine::room, required),
        field(1, "line", &RoomLine::line, if_set(&RoomLine::line)),
        field(2, "tagged", &RoomLine::tagged, max_bytes(kMaxFrame), if_set(&RoomLine::tagged)),
        field(3, "tags", &RoomLine::tags, max_bytes(kMemberTag * kMaxRoomMembers), if_set(&RoomLine::tags)),
    };
};

template <>
struct Message<AckBody> {
    static constexpr std::string_view name = "ack";
    static constexpr auto fields = std::tuple{
        field(0, "room", &AckBody::room, required),
        field(1, "from", &AckBody::from, user, required),
        field(2, "author", &AckBody::author, user, required),
        field(3, "upto", &AckBody::upto, required),
        field(4, "run", &AckBody::run, required),
        field(5, "key", &AckBody::key, max_bytes(kKeyMark), if_set(&AckBody::key)),
    };
};

template <>
struct Message<RoomAck> {
    static constexpr std::string_view name = "roomAck";
    static constexpr auto fields = std::tuple{
        field(0, "room", &RoomAck::room, required),
        field(1, "author", &RoomAck::author, user, required),
        field(2, "ack", &RoomAck::ack, if_set(&RoomAck::ack)),
        field(3, "tagged", &RoomAck::tagged, max_bytes(kMaxFrame), if_set(&RoomAck::tagged)),
        field(4, "tags", &RoomAck::tags, max_bytes(kMemberTag), if_set(&RoomAck::tags)),
        field(5, "more", &RoomAck::more, max_items(kMaxRoomMembers), if_set(&RoomAck::more)),
    };
};

template <>
struct Message<RoomLeave> {
    static constexpr std::string_view name = "roomLeave";
    static constexpr auto fields = std::tuple{field(0, "room", &RoomLeave::room, required)};
};

template <>
struct Message<RoomRefused> {
    static constexpr std::string_view name = "roomRefused";
    static constexpr auto fields = std::tuple{
        field(0, "room", &RoomRefused::room, required),
        field(1, "reason", &RoomRefused::reason, max_bytes(kMaxReason)),
        field(2, "hop", &RoomRefused::hop, if_set(&RoomRefused::hop)),
    };
};

template <>
struct Message<Invite> {
    static constexpr std::string_view name = "invite";
    static constexpr auto fields = std::tuple{
        field(0, "id", &Invite::id, required),
        field(1, "ticket", &Invite::ticket, required),
    };
};

template <>
struct Message<InviteAnswer> {
    static constexpr std::string_view name = "inviteAnswer";
    static constexpr auto fields = std::tuple{
        field(0, "id", &InviteAnswer::id, required),
        field(1, "room", &InviteAnswer::room, required),
        field(2, "epoch", &InviteAnswer::epoch),
        field(3, "answer", &InviteAnswer::answer, required),
    };
};

template <>
struct Message<RoomFile> {
    static constexpr std::string_view name = "roomFile";
    static constexpr auto fields = std::tuple{
        field(0, "room", &RoomFile::room, required),
        field(1, "message", &RoomFile::message, max_bytes(kMaxRoomFile), required),
    };
};

}  // namespace schema

using schema::decode_message;
using schema::encode_message;

Bytes encode(const RelayHeartbeat& p) { return encode_message(p); }
Bytes encode(const RelayAck& p) { return encode_message(p); }
Bytes encode(const ClientHeartbeat& p) { return encode_message(p); }
Bytes encode(const ClientState& p) { return encode_message(p); }
Bytes encode(const ChatRequest& p) { return encode_message(p); }
Bytes encode(const ChatAnswer& p) { return encode_message(p); }
Bytes encode(const Probe& p) { return encode_message(p); }
Bytes encode(const ProbeReply& p) { return encode_message(p); }
Bytes encode(const Ticket& p) { return encode_message(p); }
Bytes encode(const MemberKey& p) { return encode_message(p); }
Bytes encode(const RoomJoin& p) { return encode_message(p); }
Bytes encode(const RoomRoster& p) { return encode_message(p); }
Bytes encode(const LineBody& p) { return encode_message(p); }
Bytes encode(const RoomLine& p) { return encode_message(p); }
Bytes encode(const AckBody& p) { return encode_message(p); }
Bytes encode(const RoomAck& p) { return encode_message(p); }
Bytes encode(const RoomLeave& p) { return encode_message(p); }
Bytes encode(const RoomRefused& p) { return encode_message(p); }
Bytes encode(const Invite& p) { return encode_message(p); }
Bytes encode(const InviteAnswer& p) { return encode_message(p); }
Bytes encode(const RoomFile& p) { return encode_message(p); }

Result<RelayHeartbeat> decode_relay_heartbeat(ByteView b) { return decode_message<RelayHeartbeat>(b); }
Result<RelayAck> decode_relay_ack(ByteView b) { return decode_message<RelayAck>(b); }
Result<ClientHeartbeat> decode_client_heartbeat(ByteView b) { return decode_message<ClientHeartbeat>(b); }
Result<ClientState> decode_client_state(ByteView b) { return decode_message<ClientState>(b); }
Result<ChatRequest> decode_chat_request(ByteView b) { return decode_message<ChatRequest>(b); }
Result<ChatAnswer> decode_chat_answer(ByteView b) { return decode_message<ChatAnswer>(b); }
Result<Probe> decode_probe(ByteView b) { return decode_message<Probe>(b); }
Result<ProbeReply> decode_probe_reply(ByteView b) { return decode_message<ProbeReply>(b); }
Result<Ticket> decode_ticket(ByteView b) { return decode_message<Ticket>(b); }
Result<MemberKey> decode_member_key(ByteView b) { return decode_message<MemberKey>(b); }
Result<RoomJoin> decode_room_join(ByteView b) { return decode_message<RoomJoin>(b); }
Result<RoomRoster> decode_room_roster(ByteView b) { return decode_message<RoomRoster>(b); }
Result<LineBody> decode_line_body(ByteView b) { return decode_message<LineBody>(b); }
Result<RoomLine> decode_room_line(ByteView b) { return decode_message<RoomLine>(b); }
Result<AckBody> decode_ack_body(ByteView b) { return decode_message<AckBody>(b); }
Result<RoomAck> decode_room_ack(ByteView b) { return decode_message<RoomAck>(b); }
Result<RoomLeave> decode_room_leave(ByteView b) { return decode_message<RoomLeave>(b); }
Result<RoomRefused> decode_room_refused(ByteView b) { return decode_message<RoomRefused>(b); }
Result<Invite> decode_invite(ByteView b) { return decode_message<Invite>(b); }
Result<InviteAnswer> decode_invite_answer(ByteView b) { return decode_message<InviteAnswer>(b); }
Result<RoomFile> decode_room_file(ByteView b) { return decode_message<RoomFile>(b); }

}  // namespace dc::wire
