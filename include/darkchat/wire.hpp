// The darkchat wire format (msgpack). Only src/wire includes msgpack.
//
// A packet is the msgpack array [version, signed_header, signature] where
// signed_header is a bin holding the msgpack array
//   [type, from_user, from_session, from_port, from_key, payload]
// and signature is the Ed25519 signature by from_key over signed_header's bytes.
// payload is a bin holding a msgpack map with small integer keys (unknown keys are
// ignored, so fields can be added without a version bump).
//
// Between two sessions that set up a channel, a datagram is instead one AEAD packet
// (ChannelData below), which starts with the version byte rather than a msgpack array.
//
// Declarations and chat messages are additionally signed by their author
// (Signed<...>) because other nodes forward them verbatim.
#pragma once

#include "darkchat/types.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace dc::wire {

inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::size_t kMaxDatagram = 1200;      // larger packets go over TCP
inline constexpr std::size_t kMaxFrame = 1 << 20;       // largest TCP frame accepted
inline constexpr std::size_t kMaxText = 4096;           // bytes of chat text
// Bytes of a group or file message riding on chat: a file offer's manifest holds 32
// bytes per chunk, up to 16384 chunks (files_wire.hpp), and must fit whole.
inline constexpr std::size_t kMaxGroupPayload = 576 * 1024;
inline constexpr std::size_t kMaxLinks = 256;           // contacts listed in one declaration
inline constexpr std::size_t kMaxListEntries = 4096;    // sessions in one deliverKnownList

enum class MsgType : std::uint8_t {
    declare_online = 1,
    declare_offline = 2,
    request_ping = 3,
    request_user_list = 4,
    deliver_known_list = 5,
    chat = 6,
    chat_ack = 7,
    ping = 8,  // liveness probe between known sessions
    pong = 9,
    // Holding for an offline user (darkchat-protocol(7), HOLDING).
    hold = 10,       // sender -> holder: keep this for a user who is offline
    hold_ack = 11,   // holder -> sender: kept, or why not
    hand_over = 12,  // holder -> recipient: what was kept for it (acknowledged by chatAck)
    // Session channels (darkchat-protocol(7), CHANNELS): the handshake is two signed
    // packets; channel_data is its own unsigned form (see ChannelData below).
    channel_hello = 16,    // initiator -> responder
    channel_welcome = 17,  // responder -> initiator
    channel_data = 18,     // one AEAD packet under the channel's keys
    // 32..63: directory, relays and rooms (roles_wire.hpp, darkchat-rooms(7)).
    relay_heartbeat = 32,   // relay -> directory: register / heartbeat with load
    relay_ack = 33,         // directory -> relay
    client_heartbeat = 34,  // client -> directory: register / heartbeat (+ delay vector)
    client_state = 35,      // directory -> client: everything about that client
    chat_request = 36,      // client -> directory: \request
    chat_answer = 37,       // client -> directory: \accept, \decline
    probe = 38,             // client -> relay: RTT probe
    probe_reply = 39,       // relay -> client: never larger than the probe
    room_join = 40,         // client -> relay: ticket + member key
    room_roster = 41,       // relay -> members: who joined (their signed member keys)
    room_line = 42,         // member -> relay -> members: a sealed, signed line
    room_ack = 43,          // member -> relay -> author: cumulative signed ack
    room_leave = 44,        // member -> relay
    room_refused = 45,      // relay -> client: the join was not admitted
    chat_leave = 46,        // client -> directory: \leave
    invite = 47,            // client -> client (no directory): a ticket for a room
    invite_answer = 48,     // client -> client (no directory)
    // relay -> member: one AEAD packet (the ChannelData layout) under the keys of that
    // member's hop, carrying a roomLine or roomAck (darkchat-rooms(7), HOPS)
    room_hop = 49,
    // member -> member, straight: a file message of a room's file (darkchat-rooms(7), FILES)
    room_file = 50,
    // 64..79: file transfers (files_wire.hpp, darkchat-protocol(7), FILES). Chunks go
    // straight between the two nodes in a fixed prefix of their own, no msgpack envelope.
    file_data = 64,  // sender -> receiver: one chunk sealed under the transfer key
};
const char* type_name(MsgType t);
// Types 1..31 belong to core::Node, 32..63 to the role machines (roles.hpp).
inline constexpr std::uint8_t kFirstRoleType = 32;
inline constexpr std::uint8_t kFirstFileType = 64;
inline constexpr std::uint8_t kLastFileType = 79;
inline constexpr std::uint8_t kLastRoleType = 63;
inline bool is_role_type(MsgType t) {
    return static_cast<std::uint8_t>(t) >= kFirstRoleType && static_cast<std::uint8_t>(t) <= kLastRoleType;
}

// What a user says about one of its sessions. Signed by the user's key.
struct Declaration {
    std::string user;
    PublicKey key{};
    SessionId session{};
    std::uint64_t seq = 0;  // newer wins; strictly increasing per session
    bool online = true;
    bool super_client = false;
    Addr addr;  // may have an unspecified ip: receivers then use the ip they saw
    TimeMs issued = 0;
    std::vector<std::string> links;  // the user's contacts (names)
    KxPublicKey kx{};  // this session's current X25519 key: chat for it is sealed to this key
    // The user's holding key (the same at every session of the user, made from its
    // identity): what others leave with a holder for it while it is offline is
    // sealed to this key. All zero: not said (the user cannot be held for).
    KxPublicKey hold_kx{};
};

// A byte string and its author's signature over it. body decodes to T.
struct SignedBlob {
    Bytes body;
    Signature sig{};
    bool operator==(const SignedBlob&) const = default;
};

struct ChatMessage {
    MessageId id{};
    std::string from;  // author (the signer)
    std::string to;    // recipient user
    TimeMs sent = 0;
    std::string text;
    // Order (darkchat-protocol(7), ORDER): the author's session and the number of
    // this message among those that session wrote to `to`, from 1. Zero: unnumbered.
    SessionId session{};
    std::uint64_t seq = 0;
    // Not text but a message of a conversation group (groups_wire.hpp), for the
    // recipient's group machine: it rides on chat to be stored, numbered,
    // retried and acknowledged like a message, and is never shown as one.
    Bytes group;
};

// Payloads, one per MsgType.
struct Declare {  // declareOnline and declareOffline
    SignedBlob decl;   // a Declaration
    std::uint8_t hops = 0;  // how many more times a receiver forwards it
    bool reply = false;     // the receiver should answer with its own declaration
    bool explode = false;   // every node reached answers the originator
    std::uint64_t nonce = 0;  // echoes the nonce of a requestPing this answers
    Addr seen;  // the originator's address as seen by the first hop (for unspecified ips)
};

struct RequestPing {
    std::string target_user;  // empty: whoever receives it (\\ping of an address)
    SessionId target_session{};  // all zero: every session of target_user
    std::string requester_user;
    SessionId requester_session{};
    Addr requester_addr;  // where the target should send its declareOnline
    std::uint64_t nonce = 0;
    std::uint8_t hops = 0;  // 1: receiver forwards it to the target; 0: receiver is the target
};

struct RequestUserList {
    std::uint64_t nonce = 0;
    std::vector<std::string> want;  // extra users the requester wants located
    // A later page: the answer starts with the first user whose name sorts after
    // this one (the `next` of the page before). Empty: the first page.
    std::string after;
};

struct KnownSession {
    SignedBlob decl;  // a Declaration
    Addr addr;        // where the answering node reaches that session
    bool online = false;  // the answering node's belief
    TimeMs last_seen = 0;
};

struct DeliverKnownList {
    std::uint64_t nonce = 0;
    bool complete = false;  // true when a super-client answers and this page ends its answer
    std::vector<KnownSession> sessions;
    // The answer goes on past the frame: ask again with `after` set to this (the
    // name of the last user in this page). Empty: this page ends the answer.
    std::string next;
};
inline constexpr std::size_t kMaxListPages = 256;  // pages a requester follows for one question

// A chat message for one session: the author-signed ChatMessage (a SignedBlob,
// encoded with encode(SignedBlob)) sealed (X25519 + XSalsa20-Poly1305, an
// ephemeral sender key per message) to the receiving session's kx key.
struct Chat {
    Bytes sealed;
    KxPublicKey kx{};  // which of the receiver's keys it is sealed to
    // The lowest number of the message's stream (author session, recipient) that
    // the sender still holds for this receiver's user: everything below it was
    // acknowledged, so a receiver waits for none of it. Zero: not said.
    std::uint64_t base = 0;
};

struct ChatAck {
    MessageId id{};
    // held: not delivered yet, the receiver holds the message until number
    // `want` of its stream comes (darkchat-protocol(7), ORDER). want, also on a
    // plain ack: the next number of the stream the receiver misses while it
    // holds later ones; the sender resends that one now. 0: none.
    bool held = false;
    std::uint64_t want = 0;
    // More messages acknowledged plainly (neither held nor wanting) by the same
    // datagram: a receiver answers what one turn brought it with one ack per sender.
    std::vector<MessageId> more{};
    // Cumulative: every message numbered 1 to upto of the stream the ack's
    // receiver writes to the acking user from the session it is addressed to
    // is stored there (shown, or known to be acknowledged before). 0: none.
    std::uint64_t upto = 0;
};
inline constexpr std::size_t kMaxAckIds = 48;  // ids in `more`: an ack stays one datagram

// Holding (darkchat-protocol(7), HOLDING). A chat message for a user with no
// online session, left with a holder (a common contact, or a super-client)
// that hands it over when the user is back. sealed is the author-signed
// ChatMessage (encode(SignedBlob)) sealed with crypto_box_seal to the
// recipient's holding key (Declaration::hold_kx): the holder cannot read it.
inline constexpr std::size_t kMaxHeldSealed = kMaxGroupPayload + kMaxText + 1024;
inline constexpr std::size_t kMaxHoldReason = 128;
struct Hold {
    std::string to;    // the recipient user
    MessageId id{};    // the message's id: the holder keeps one copy per (to, id)
    Bytes sealed;
    std::uint64_t base = 0;  // as in Chat: the lowest number of the stream the sender still holds
};

struct HoldAck {
    std::string to;  // as in the Hold it answers
    MessageId id{};
    bool kept = false;
    std::string reason;  // when not kept: why, in words (at most kMaxHoldReason bytes)
};

// What a holder kept for the receiving user; the receiver acknowledges it with
// a chatAck naming the message's id, after which the holder forgets it.
struct HandOver {
    Bytes sealed;
    std::uint64_t base = 0;
};

struct Ping {
    std::uint64_t nonce = 0;
};

struct Pong {
    std::uint64_t nonce = 0;
};

// The handshake of a session channel. Both messages travel as ordinary signed packets
// (so budgets, pinning and the signature check apply as to any packet); the channel's
// keys come from the X25519 agreements of the fields below and of both identities.
struct ChannelHello {
    KxPublicKey kx{};         // the sender's current session key (as in its declaration)
    KxPublicKey peer_kx{};    // the receiver's session key the sender used
    KxPublicKey ephemeral{};  // fresh for this handshake, wiped once the keys are made
    std::uint32_t index = 0;  // what the receiver puts on channel_data to the sender; never 0
    TimeMs time = 0;          // the sender's clock: a hello not newer than the last one taken is a replay
};

struct ChannelWelcome {
    KxPublicKey kx{};         // the responder's current session key
    KxPublicKey peer_kx{};    // the initiator's session key the responder used
    KxPublicKey ephemeral{};  // all zero when stale
    std::uint32_t index = 0;  // the responder's index (0 when stale)
    std::uint32_t echo = 0;   // the index of the hello this answers
    // The hello named a session key of the responder's that it no longer (or never)
    // held: no channel was made; kx is the one to use.
    bool stale = false;
};

// A channel data packet: not msgpack and not signed, so that its fixed prefix is all a
// packet carries besides the AEAD output:
//   version (1) | type channel_data (1) | receiver's index (4, big endian) |
//   counter (8, big endian) | ciphertext of [inner type (1) | inner payload] | tag (16)
// The prefix is the AEAD's additional data; the nonce is made from the counter.
inline constexpr std::size_t kChannelPrefix = 14;
inline constexpr std::size_t kChannelTag = 16;
// The smallest channel packet: the prefix, the inner type and the tag.
inline constexpr std::size_t kChannelMinPacket = kChannelPrefix + 1 + kChannelTag;

// The same layout, with type room_hop, carries a room's packets from a relay to a member.
struct ChannelData {
    std::uint32_t index = 0;
    std::uint64_t counter = 0;
    Bytes sealed;  // ciphertext and tag
    MsgType type = MsgType::channel_data;  // channel_data or room_hop
    bool operator==(const ChannelData&) const = default;
};

struct Header {
    MsgType type{};
    std::string from_user;
    SessionId from_session{};
    std::uint16_t from_port = 0;  // the sender's listening port (UDP and TCP)
    PublicKey from_key{};
};

// A decoded packet. (Whether from_key belongs to from_user is for the core to decide.)
struct Packet {
    Header header;
    Bytes payload;
    Bytes signed_header;  // the bytes the signature covers
    Signature sig{};
};

// Encoding never fails for values that respect the limits above. A packet is made in
// two steps, so that the caller signs with its own Crypto: sign
// packet_header(h, payload), then assemble_packet(header, signature). (Tests and tools
// that hold a secret key use crypto/wire_signing.hpp.)
Bytes packet_header(const Header& h, ByteView payload);
Bytes assemble_packet(ByteView signed_header, const Signature& sig);

// Decodes and checks the layout but not the signature: the caller verifies
// sig over signed_header with header.from_key.
Result<Packet> parse_packet(ByteView data);
// The message type of a packet, read without a full decode (no allocation, no
// signature check), so a driver can route it: none when the bytes do not start like
// a packet of this version or the type is not one this build knows. A channel data
// packet gives MsgType::channel_data. A packet it
// routes may still fail parse_packet later.
std::optional<MsgType> peek_type(ByteView data);

Bytes encode(const Declaration& d);
Bytes encode(const ChatMessage& m);
Bytes encode(const Declare& p);
Bytes encode(const RequestPing& p);
Bytes encode(const RequestUserList& p);
Bytes encode(const DeliverKnownList& p);
Bytes encode(const Chat& p);
Bytes encode(const ChatAck& p);
Bytes encode(const Ping& p);
Bytes encode(const Pong& p);
Bytes encode(const ChannelHello& p);
Bytes encode(const ChannelWelcome& p);
Bytes encode(const Hold& p);
Bytes encode(const HoldAck& p);
Bytes encode(const HandOver& p);

Result<Declaration> decode_declaration(ByteView b);
Result<ChatMessage> decode_chat_message(ByteView b);
Result<Declare> decode_declare(ByteView b);
Result<RequestPing> decode_request_ping(ByteView b);
Result<RequestUserList> decode_request_user_list(ByteView b);
Result<DeliverKnownList> decode_deliver_known_list(ByteView b);
Result<Chat> decode_chat(ByteView b);
Result<ChatAck> decode_chat_ack(ByteView b);
Result<Ping> decode_ping(ByteView b);
Result<Pong> decode_pong(ByteView b);
Result<ChannelHello> decode_channel_hello(ByteView b);
Result<ChannelWelcome> decode_channel_welcome(ByteView b);
Result<Hold> decode_hold(ByteView b);
Result<HoldAck> decode_hold_ack(ByteView b);
Result<HandOver> decode_hand_over(ByteView b);

// Channel data packets. The prefix alone (what the AEAD authenticates as additional
// data) is written into out, which holds kChannelPrefix bytes.
void put_channel_prefix(std::uint8_t* out, std::uint32_t index, std::uint64_t counter,
                        MsgType type = MsgType::channel_data);
Bytes encode(const ChannelData& p);
// Checks the layout only (version, type, length): whether the AEAD opens is for the
// channel's keys to say.
Result<ChannelData> parse_channel_data(ByteView data);

// A SignedBlob on its own, as the array [body, signature].
Bytes encode(const SignedBlob& b);
Result<SignedBlob> decode_signed_blob(ByteView b);

// TCP framing: a 4-byte big-endian length, then that many bytes of packet.
Bytes frame(ByteView packet);

// Splits a TCP byte stream into packets. Feed it what arrives; take packets out
// with next(). A length of zero or above kMaxFrame poisons the stream: the
// connection should be closed (bad() is then true and nothing more comes out).
class FrameReader {
public:
    void feed(ByteView data);
    std::optional<Bytes> next();
    bool bad() const { return bad_; }
    std::size_t buffered() const { return buf_.size() - start_; }

private:
    Bytes buf_;
    std::size_t start_ = 0;
    bool bad_ = false;
};

}  // namespace dc::wire
