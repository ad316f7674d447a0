// Payloads of the directory/relay/room messages (MsgType 32..63), encoded like every
// other payload: msgpack maps with small integer keys (field i of the struct is key i;
// unknown keys are skipped, so fields can be added). Sub-records are fixed-shape arrays.
// Decoders take untrusted bytes and enforce the limits below. The protocol around them
// is described in man/darkchat-rooms.7.scd.
#pragma once

#include "darkchat/wire.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace dc::wire {

using RoomIdBytes = std::array<std::uint8_t, 16>;

inline constexpr std::size_t kMaxRoleRelays = 256;   // relays in a ClientState, delays in a heartbeat
inline constexpr std::size_t kMaxRoleRooms = 64;     // chats in a ClientState, tickets in a heartbeat
inline constexpr std::size_t kMaxRoleRequests = 64;  // outgoing/incoming request entries in a ClientState
inline constexpr std::size_t kMaxRoomMembers = 64;   // members in a ticket, keys in a roster, copies in a line
inline constexpr std::size_t kMaxProbePadding = 1024;
inline constexpr std::size_t kMaxSealed = kMaxText + 256;  // one sealed copy of a line
inline constexpr std::size_t kMaxRoomPayload = kMaxText + 1024;  // a line of a group's room (an encoded group line)
inline constexpr std::size_t kMaxReason = 200;             // free text (reasons, details)

// relayHeartbeat (relay -> directory), every 250 ms: registers and reports load.
struct RelayHeartbeat {
    std::uint64_t seq = 0;
    std::uint32_t rooms = 0;
    std::uint32_t members = 0;
    std::uint32_t messages_per_second = 0;
    Addr addr;  // where clients reach the relay; an unspecified ip: the directory uses the ip it saw
    // CPU use over the relay's last sample, permille: its own process (of one core), the
    // whole machine (of all cores), and the machine's cores (0: not measured).
    std::uint32_t cpu_self = 0;
    std::uint32_t cpu_machine = 0;
    std::uint32_t cores = 0;
    bool operator==(const RelayHeartbeat&) const = default;
};

// relayAck (directory -> relay).
struct RelayAck {
    std::uint64_t seq = 0;   // the heartbeat answered
    std::uint64_t boot = 0;  // random per directory run
    bool operator==(const RelayAck&) const = default;
};

// One entry of a delay vector: [relay key, rtt ms].
struct DelayEntry {
    PublicKey relay{};
    std::uint32_t rtt_ms = 0;
    bool operator==(const DelayEntry&) const = default;
};

// [ticket, members]: a chat the client holds, as it last knew it.
struct HeldChat {
    SignedBlob ticket;
    std::vector<std::string> members;
    bool operator==(const HeldChat&) const = default;
};

// [room, members]: a conversation group the client coordinates, whose lines go (or are
// to go) through a relay: the directory places it (darkchat-groups(7), RELAYS).
struct GroupWish {
    RoomIdBytes room{};
    std::vector<std::string> members;
    bool operator==(const GroupWish&) const = default;
};

// [room, relay_key, relay_addr, reason, old_ms, new_ms]: where the directory placed
// such a group (and, after a move, why: roles::MoveReason, and the max rtts).
struct GroupPlacement {
    RoomIdBytes room{};
    PublicKey relay_key{};
    Addr relay;
    std::uint8_t reason = 0;
    std::uint32_t old_ms = 0;
    std::uint32_t new_ms = 0;
    bool operator==(const GroupPlacement&) const = default;
};

// clientHeartbeat (client -> directory), every second: registers the sender's name
// (pinned to its key on first registration) and acknowledges the state it has.
struct ClientHeartbeat {
    std::uint64_t seen_version = 0;  // the ClientState version the client applied last
    std::uint64_t seen_boot = 0;     // ... and the directory run it came from
    bool has_delays = false;         // delays is meaningful (it changed)
    std::vector<DelayEntry> delays;
    // Chats the client holds that the last ClientState did not list (after a directory
    // restart): the directory takes back chats whose tickets it signed, with the members
    // the client knew (those the ticket names).
    std::vector<HeldChat> held;
    // Number of the delay report carried (with has_delays), counting up per client run; it
    // is repeated with every heartbeat until a ClientState says report_seen >= report.
    std::uint64_t report = 0;
    std::vector<GroupWish> groups;  // the groups it coordinates that go through a relay
    bool operator==(const ClientHeartbeat&) const = default;
};

// [key, addr]
struct RelayInfo {
    PublicKey key{};
    Addr addr;
    bool operator==(const RelayInfo&) const = default;
};

// [id, user, stage, reminders, detail]: one invitee of one of the client's requests.
struct OutgoingRequest {
    std::uint64_t id = 0;     // the requester's request id
    std::string user;
    std::uint8_t stage = 0;   // roles::Stage
    std::uint32_t reminders = 0;  // AWAITING_REQ counter
    std::string detail;
    bool operator==(const OutgoingRequest&) const = default;
};

// [id, from, others]: a request to the client.
struct IncomingRequest {
    std::uint64_t id = 0;  // the directory's id for this invite (answered in chatAnswer)
    std::string from;
    std::vector<std::string> others;  // other invitees
    bool operator==(const IncomingRequest&) const = default;
};

// [room, relay_key, relay_addr, epoch, members, ticket, reason, old_ms, new_ms, pending]:
// a chat the client is in.
struct ChatInfo {
    RoomIdBytes room{};
    PublicKey relay_key{};
    Addr relay;
    std::uint32_t epoch = 0;
    std::vector<std::string> members;  // who accepted (and the requester)
    SignedBlob ticket;                 // a Ticket signed by the directory
    std::uint8_t reason = 0;           // why the last move happened (roles::MoveReason), 0: never moved
    std::uint32_t old_ms = 0;          // the chat's max rtt before and after a move for being better
    std::uint32_t new_ms = 0;
    // Invitees who have not answered yet: they may still join, so lines wait for their
    // acks too (a late accepter gets every line since the chat began).
    std::vector<std::string> pending;
    bool operator==(const ChatInfo&) const = default;
};

// clientState (directory -> client): everything the directory holds about the client,
// sent in answer to every heartbeat and at once on any change. unchanged: the client
// already has this version (then the lists are empty).
struct ClientState {
    std::uint64_t version = 0;
    std::uint64_t boot = 0;
    bool unchanged = false;
    std::vector<RelayInfo> relays;  // relays in service, to measure
    std::vector<OutgoingRequest> outgoing;
    std::vector<IncomingRequest> incoming;
    std::vector<ChatInfo> chats;
    std::uint64_t report_seen = 0;  // the newest delay report applied (also when unchanged)
    std::vector<GroupPlacement> placements;  // of the groups the client's heartbeat names
    bool operator==(const ClientState&) const = default;
};

// chatRequest (client -> directory).
struct ChatRequest {
    std::uint64_t id = 0;  // chosen by the requester
    std::vector<std::string> users;
    bool operator==(const ChatRequest&) const = default;
};

// chatAnswer (client -> directory).
struct ChatAnswer {
    std::uint64_t id = 0;  // IncomingRequest::id
    bool accept = false;
    bool operator==(const ChatAnswer&) const = default;
};

// probe (client -> relay) and probeReply (relay -> client). The reply carries no
// padding, so it is never larger than the probe.
struct Probe {
    std::uint64_t nonce = 0;
    Bytes padding;
    bool operator==(const Probe&) const = default;
};
struct ProbeReply {
    std::uint64_t nonce = 0;
    bool operator==(const ProbeReply&) const = default;
};

// [name, key]
struct TicketMember {
    std::string user;
    PublicKey key{};
    bool operator==(const TicketMember&) const = default;
};

// A room ticket: the body of a SignedBlob signed by the directory (or, without one,
// by the inviting member, who is then issuer and a member).
struct Ticket {
    RoomIdBytes room{};
    PublicKey relay_key{};  // all zero: any relay (not used by this version)
    Addr relay;
    std::uint32_t epoch = 0;
    std::vector<TicketMember> members;  // everyone who may join
    TimeMs issued = 0;
    std::string issuer;  // empty: the directory
    // A conversation group's room (darkchat-groups(7), RELAYS): room is the group's id,
    // issuer its coordinator, members its list; a later epoch may list other members.
    bool group = false;
    bool operator==(const Ticket&) const = default;
};

// A member's sealing key for a room: the body of a SignedBlob signed by the member.
struct MemberKey {
    RoomIdBytes room{};
    std::string user;
    KxPublicKey kx{};
    bool operator==(const MemberKey&) const = default;
};

// roomJoin (client -> relay).
struct RoomJoin {
    SignedBlob ticket;      // a Ticket
    SignedBlob member_key;  // a MemberKey of the sender
    bool operator==(const RoomJoin&) const = default;
};

// roomRoster (relay -> members): the joined members' keys, after every join or leave.
struct RoomRoster {
    RoomIdBytes room{};
    std::uint32_t epoch = 0;
    std::vector<SignedBlob> member_keys;
    // The relay's X25519 key for this run: each member's hop keys are made from it and
    // the member's MemberKey (darkchat-rooms(7), HOPS). All zero: no hops.
    KxPublicKey relay_kx{};
    // The relay takes the members' lines and acks on their hops too (member -> relay
    // under the hop's up key), instead of signed (darkchat-rooms(7), HOPS).
    bool hop_up = false;
    // Where the relay serves each joined member (the source ip and the port its packets
    // name), in the order of member_keys: a room's files go straight between members
    // (darkchat-rooms(7), FILES). Empty from an older relay.
    std::vector<Addr> addrs;
    bool operator==(const RoomRoster&) const = default;
};

// [to, sealed]: the line's text sealed to one other member's MemberKey.
struct SealedCopy {
    std::string to;
    Bytes sealed;
    bool operator==(const SealedCopy&) const = default;
};

// [id, sent, text]: a further line of the same author in the same packet; its seq is
// the one after the line before it, its text encrypted under the line key like the first's.
struct NextLine {
    MessageId id{};
    TimeMs sent = 0;
    Bytes text;
    bool operator==(const NextLine&) const = default;
};
inline constexpr std::size_t kMaxNextLines = 63;  // further lines in one Line

// A room line: the body of a SignedBlob signed by its author.
struct LineBody {
    RoomIdBytes room{};
    std::string author;
    std::uint64_t seq = 0;         // per author per room, from 1
    std::uint64_t first_kept = 0;  // the author's oldest line not yet acked by everyone (late joiners start here)
    MessageId id{};
    TimeMs sent = 0;
    // With text: the author's line key for this room sealed to each other member (empty
    // for a member the author knows holds the key); without (an older author): the text
    // itself sealed to each.
    std::vector<SealedCopy> copies;
    std::uint64_t run = 0;  // the author's process run (random, per start): a restart numbers from 1 again
    Bytes text;             // the text encrypted once under the line key (ChaCha20-Poly1305, counter seq)
    std::vector<NextLine> next;  // the lines seq + 1, seq + 2, ... (with text only)
    bool operator==(const LineBody&) const = default;
};

// A line or ack is authenticated one of two ways. Signed: `line` / `ack` is a SignedBlob
// of the body under the sender's identity key. Tagged: the body is in `tagged` and
// `tags` holds a 16-byte keyed BLAKE2b of it for each receiver, under the key the sender
// and that receiver make from their two room keys (MemberKey::kx), so that only they
// can make it; the signed field is then absent.
inline constexpr std::size_t kMemberTag = 16;

// roomLine (member -> relay -> members). room is outside the signed line so the relay
// routes without decoding it.
struct RoomLine {
    RoomIdBytes room{};
    SignedBlob line;  // a LineBody, signed by its author (absent when tagged)
    Bytes tagged;     // a LineBody, authenticated by tags
    Bytes tags;       // kMemberTag bytes per entry of the body's copies, in their order
    bool operator==(const RoomLine&) const = default;
};

// A cumulative ack: the body of a SignedBlob signed by the acker. "I have delivered
// every line of author up to seq upto."
struct AckBody {
    RoomIdBytes room{};
    std::string from;
    std::string author;
    std::uint64_t upto = 0;
    std::uint64_t run = 0;  // the author's run these seqs belong to
    // The last kKeyMark bytes of the author's line key copy the acker opened and holds
    // (empty: none): the author's later lines carry an empty copy for it.
    Bytes key;
    bool operator==(const AckBody&) const = default;
};
inline constexpr std::size_t kKeyMark = 16;

// roomAck (member -> relay -> author).
// [tagged, tags]: a further tagged ack to the same author in the same room, as its
// acker sent it to the relay.
struct TaggedAck {
    Bytes tagged;  // an AckBody
    Bytes tags;    // kMemberTag bytes: the acker's tag for the author
    bool operator==(const TaggedAck&) const = default;
};

struct RoomAck {
    RoomIdBytes room{};
    std::string author;  // whom the relay forwards it to
    SignedBlob ack;      // an AckBody, signed by the acker (absent when tagged)
    Bytes tagged;        // an AckBody, authenticated by tags
    Bytes tags;          // kMemberTag bytes: the tag for the author
    // Other members' tagged acks to the same author that the relay gathered and forwards
    // in this one packet (relay to author only; a relay ignores it from a member).
    std::vector<TaggedAck> more;
    bool operator==(const RoomAck&) const = default;
};

// roomLeave (member -> relay), chatLeave (client -> directory).
struct RoomLeave {
    RoomIdBytes room{};
    bool operator==(const RoomLeave&) const = default;
};

// roomRefused (relay -> client): the join (or a line) was not admitted.
struct RoomRefused {
    RoomIdBytes room{};
    std::string reason;
    // A hop packet of an index the relay does not know (it restarted, or forgot the
    // member): the index, and room all zero. The member joins that room again.
    std::uint32_t hop = 0;
    bool operator==(const RoomRefused&) const = default;
};

// invite (client -> client, no directory): a ticket signed by the inviter. A ticket
// with a higher epoch for a room already joined is a move (the inviter relocated).
struct Invite {
    std::uint64_t id = 0;
    SignedBlob ticket;
    bool operator==(const Invite&) const = default;
};

// inviteAnswer (client -> client).
struct InviteAnswer {
    std::uint64_t id = 0;
    RoomIdBytes room{};
    std::uint32_t epoch = 0;
    std::uint8_t answer = 0;  // 1 received (REQ_SENT), 2 accepted, 3 declined
    bool operator==(const InviteAnswer&) const = default;
};

// roomFile (member to member, straight, signed by the sender): a file message
// (files_wire.hpp, encode_file) for a member of a room both are in, who need not be
// known to each other's nodes. Larger than a datagram, it goes over TCP.
inline constexpr std::size_t kMaxRoomFile = kMaxGroupPayload;  // a file message, as on chat (an offer holds the manifest)
struct RoomFile {
    RoomIdBytes room{};
    Bytes message;
    bool operator==(const RoomFile&) const = default;
};

Bytes encode(const RelayHeartbeat& p);
Bytes encode(const RelayAck& p);
Bytes encode(const ClientHeartbeat& p);
Bytes encode(const ClientState& p);
Bytes encode(const ChatRequest& p);
Bytes encode(const ChatAnswer& p);
Bytes encode(const Probe& p);
Bytes encode(const ProbeReply& p);
Bytes encode(const Ticket& p);
Bytes encode(const MemberKey& p);
Bytes encode(const RoomJoin& p);
Bytes encode(const RoomRoster& p);
Bytes encode(const LineBody& p);
Bytes encode(const RoomLine& p);
Bytes encode(const AckBody& p);
Bytes encode(const RoomAck& p);
Bytes encode(const RoomLeave& p);
Bytes encode(const RoomRefused& p);
Bytes encode(const Invite& p);
Bytes encode(const InviteAnswer& p);
Bytes encode(const RoomFile& p);

Result<RelayHeartbeat> decode_relay_heartbeat(ByteView b);
Result<RelayAck> decode_relay_ack(ByteView b);
Result<ClientHeartbeat> decode_client_heartbeat(ByteView b);
Result<ClientState> decode_client_state(ByteView b);
Result<ChatRequest> decode_chat_request(ByteView b);
Result<ChatAnswer> decode_chat_answer(ByteView b);
Result<Probe> decode_probe(ByteView b);
Result<ProbeReply> decode_probe_reply(ByteView b);
Result<Ticket> decode_ticket(ByteView b);
Result<MemberKey> decode_member_key(ByteView b);
Result<RoomJoin> decode_room_join(ByteView b);
Result<RoomRoster> decode_room_roster(ByteView b);
Result<LineBody> decode_line_body(ByteView b);
Result<RoomLine> decode_room_line(ByteView b);
Result<AckBody> decode_ack_body(ByteView b);
Result<RoomAck> decode_room_ack(ByteView b);
Result<RoomLeave> decode_room_leave(ByteView b);
Result<RoomRefused> decode_room_refused(ByteView b);
Result<Invite> decode_invite(ByteView b);
Result<InviteAnswer> decode_invite_answer(ByteView b);
Result<RoomFile> decode_room_file(ByteView b);

}  // namespace dc::wire
