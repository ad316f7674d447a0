// Directory and relays: three sans-IO role machines beside core::Node.
//
//   Directory  - the thin central service: relays and users register with it, it runs
//                the chat request flow, picks a relay for every chat (Strategy) and
//                moves chats between relays (relocation), handing out signed room tickets.
//   Relay      - a chat server: hosts rooms, admits only members named by a valid ticket,
//                forwards end-to-end sealed room lines and acks between joined members.
//   RoomClient - the user side, run inside darkchat beside core::Node with the same
//                identity and socket: registers, measures RTT to relays, asks for chats,
//                joins rooms, sends and receives room lines with no loss across relay moves.
//
// Same contract as core::Node (see core.hpp): inputs are handle_*() calls with the
// current time, outputs are drained with poll_*() after every input, then one timer is
// armed for poll_timeout(). No sockets, clocks or storage in here.
//
// Routing: role packets use the normal signed envelope (wire::Packet) with message types
// 32..63 (wire::kFirstRoleType..kLastRoleType). A driver calls wire::peek_type(bytes) and
// hands types 1..31 to core::Node, 32..63 to the role machine(s) of its process. A role
// machine silently counts and drops any packet not meant for it.
//
// The protocol (message types, fields, timers, bounds, selection, relocation, what the
// relay can and cannot see) is described in man/darkchat-rooms.7.scd.
#pragma once

#include "darkchat/core.hpp"
#include "darkchat/model.hpp"
#include "darkchat/roles_wire.hpp"
#include "darkchat/types.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace dc::roles {

// 16 random bytes chosen by whoever creates the room (the directory, or the inviting
// client without a directory). Shown as its first 8 hex digits (short_id()).
using RoomId = std::array<std::uint8_t, 16>;
std::string short_id(const RoomId& id);

// ---------------------------------------------------------------------------------
// Relay selection (src/roles/select.hpp: the pure functions that choose)

// How the directory picks a relay for a new chat (and whether it relocates).
enum class Strategy : std::uint8_t {
    min_max,             // minimise the largest participant->relay delay (default; relocates)
    round_robin,         // the next alive relay in key order
    random,              // a uniformly random alive relay
    least_loaded,        // the lowest reported load (ties at random)
    client_round_robin,  // no directory: the inviting client cycles through its --relays list
    cpu,                 // the least busy relay (its own CPU use) among those every member reaches
};
// Command-line names: "min-max", "round-robin", "random", "least-loaded", "client-round-robin",
// "cpu".
std::optional<Strategy> parse_strategy(std::string_view name);
const char* strategy_name(Strategy s);
// The names a directory accepts (client-round-robin is the client's), comma separated.
std::string directory_strategy_names();

// CPU use as the relay's driver measures it, handed to the relay (Relay::handle_cpu) and
// reported with every heartbeat. Permille over the driver's last sample (about a second).
struct CpuUse {
    std::uint32_t self = 0;     // the relay process, of one core (its event loop is one thread)
    std::uint32_t machine = 0;  // the whole machine, of all its cores
    std::uint32_t cores = 0;    // 0: not measured (a relay that reports none)
    bool operator==(const CpuUse&) const = default;
};

// What a relay reports about itself with every heartbeat.
struct Load {
    std::uint32_t rooms = 0;
    std::uint32_t members = 0;            // joined members over all rooms
    std::uint32_t messages_per_second = 0;  // lines forwarded in the last second
    CpuUse cpu;                             // what the cpu strategy compares
    // The single figure least-loaded compares: members + messages per second.
    std::uint64_t score() const { return std::uint64_t{members} + messages_per_second; }
    bool operator==(const Load&) const = default;
};

// One participant's measured round-trip times: relay key -> rtt in milliseconds.
using DelayVector = std::map<PublicKey, std::uint32_t>;

// When a chat moves to a merely better relay (min-max only): the new maximum must be
// better by at least min_ms AND by at least min_fraction of the current maximum.
// Both together keep two relays within a few ms (or a few %) from trading a chat back
// and forth as measurements jitter.
struct Hysteresis {
    std::uint32_t min_ms = 5;
    double min_fraction = 0.20;
};

// ---------------------------------------------------------------------------------
// The chat request flow, as the requester sees it

// Stages of one invitee in a request (the seed's names, plus DECLINED and TIMED_OUT).
enum class Stage : std::uint8_t {
    ack_conn = 1,        // the directory accepted the request
    user_not_found = 2,  // no registered client by that name
    req_sent = 3,        // the invitee's client has the request
    awaiting_req = 4,    // still waiting (repeated every awaiting_interval)
    req_accepted = 5,    // the invitee accepted: the room follows
    declined = 6,        // the invitee declined
    timed_out = 7,       // no answer within request_timeout
    server_err = 8,      // no relay alive, tables full, or no answer from the directory
};
// "ACK_CONN", "USER_NOT_FOUND", "REQ_SENT", "AWAITING_REQ", "REQ_ACCEPTED", "DECLINED",
// "TIMED_OUT", "SERVER_ERR".
const char* stage_name(Stage s);
// Final stages end the request for that invitee.
bool final_stage(Stage s);

// ---------------------------------------------------------------------------------
// Directory

struct DirectoryConfig {
    std::uint16_t port = 0;  // our listening port, put in every packet header
    Strategy strategy = Strategy::min_max;  // client_round_robin is treated as round_robin
    TimeMs relay_timeout = 1000;    // a relay silent this long is out of service (relays beat every 250 ms)
    TimeMs client_timeout = 5000;   // a client silent this long is unregistered (clients beat every 1000 ms)
    TimeMs pass_interval = 500;     // background pass: dead relays, relocation, request timers
    TimeMs min_dwell = 5000;        // a chat moved this recently moves again only if its relay died
    TimeMs request_timeout = 60000; // an unanswered invitee becomes TIMED_OUT
    TimeMs awaiting_interval = 5000;  // AWAITING_REQ is repeated this often
    Hysteresis hysteresis;
    // Bounds (a flood of made-up names or relays cannot grow memory past these).
    std::size_t max_relays = 256;
    std::size_t max_clients = 10000;
    std::size_t max_chats = 10000;
    std::size_t max_requests_per_client = 16;  // open outgoing requests of one client
    std::size_t max_members = 16;               // people in one chat (requester + invitees)
    std::size_t max_chats_per_client = 64;
    // Packets per second (and bursts) per source ip, before any signature check.
    double ip_rate = 200, ip_burst = 400;
};

// Why a chat moved.
// unreachable: a member's delay vector no longer has the chat's relay (its probes
// go unanswered) while another relay is measured by every member.
enum class MoveReason : std::uint8_t { relay_died = 1, better = 2, unreachable = 3 };
const char* move_reason_name(MoveReason r);  // "relay died", "better", "unreachable for a member"
// The reason a ChatInfo carries (0 or unknown: relay_died, the conservative reading).
MoveReason move_reason_of(std::uint8_t wire_reason);

namespace dir_ev {
struct RelayUp { PublicKey key{}; Addr addr; };
struct RelayDown { PublicKey key{}; Addr addr; };  // no heartbeat for relay_timeout
struct ClientUp { std::string user; Addr addr; };
struct ClientDown { std::string user; };  // no heartbeat for client_timeout
struct RequestStage { std::string from; std::string to; Stage stage{}; };
// load: the relay's as the directory saw it when it chose (its CPU use in the log line).
struct ChatCreated { RoomId room{}; Addr relay; std::vector<std::string> members; Load load; };
struct ChatMoved { RoomId room{}; Addr from; Addr to; MoveReason reason{}; std::uint32_t old_ms = 0; std::uint32_t new_ms = 0; };
struct ChatEnded { RoomId room{}; };
struct Notice { std::string text; };
}  // namespace dir_ev
using DirectoryEvent = std::variant<dir_ev::RelayUp, dir_ev::RelayDown, dir_ev::ClientUp, dir_ev::ClientDown,
                                    dir_ev::RequestStage, dir_ev::ChatCreated, dir_ev::ChatMoved,
                                    dir_ev::ChatEnded, dir_ev::Notice>;
// One log line for an event ("relay 127.0.0.1:7401 up", "chat 3fa2c1d0 moved ...").
std::string describe(const DirectoryEvent& e);

// Read-only views (tests, logs).
struct DirRelayView {
    PublicKey key{};
    Addr addr;
    bool alive = false;
    TimeMs last_heartbeat = 0;
    Load load;
};
struct DirClientView {
    std::string user;
    PublicKey key{};  // pinned on first registration
    Addr addr;
    TimeMs last_seen = 0;
    DelayVector delays;
};
struct DirChatView {
    RoomId room{};
    std::vector<std::string> members;  // those who accepted (and the requester)
    std::vector<std::string> invited;  // everyone the ticket names
    PublicKey relay_key{};
    Addr relay;
    std::uint32_t epoch = 0;  // +1 on every move
    TimeMs moved = 0;         // creation or last move
};

// Counters of what a role machine dropped and why (never fatal).
struct RoleStats {
    std::uint64_t received = 0;
    std::uint64_t sent = 0;
    std::uint64_t malformed = 0;
    std::uint64_t bad_signature = 0;
    std::uint64_t wrong_key = 0;     // a name registered (pinned) with another key
    std::uint64_t unsolicited = 0;   // not for this role, or from an unknown party
    std::uint64_t rate_limited = 0;
    std::uint64_t refused = 0;       // over a bound, or a ticket that does not admit
    std::uint64_t replayed = 0;      // room hop packets seen before (or too old for the window)
};

class Directory {
public:
    Directory(DirectoryConfig config, Identity identity, core::Crypto& crypto, std::uint64_t rng_seed);
    ~Directory();
    Directory(const Directory&) = delete;
    Directory& operator=(const Directory&) = delete;

    void handle_datagram(TimeMs now, const Addr& from, ByteView data);
    void handle_timeout(TimeMs now);

    std::optional<DirectoryEvent> poll_event();
    std::optional<core::Transmit> poll_transmit();
    std::optional<TimeMs> poll_timeout() const;

    std::vector<DirRelayView> relays() const;
    std::vector<DirClientView> clients() const;
    std::vector<DirChatView> chats() const;
    std::size_t pending_requests() const;  // open (non-final) invitee entries over all requests
    const Identity& identity() const;
    const RoleStats& stats() const;

private:
    struct State;
    std::unique_ptr<State> s_;
};

// ---------------------------------------------------------------------------------
// Relay

struct RelayConfig {
    std::uint16_t port = 0;
    std::optional<Addr> directory;  // none: serve rooms whose tickets are signed by a member
    TimeMs heartbeat_interval = 250;
    TimeMs directory_timeout = 3000;  // no answer this long: the directory is reported lost
    TimeMs member_timeout = 10000;    // a joined member silent this long is dropped from the room
    TimeMs room_idle_timeout = 60000; // a room with no joined member is forgotten
    std::size_t max_rooms = 1024;
    std::size_t max_members = 16;     // per room
    std::size_t max_group_members = 64;  // per room of a conversation group (groups::Config::max_members)
    // Packets per second (and bursts) per source ip, before any signature check.
    double ip_rate = 400, ip_burst = 800;
    // Instead, per joined member at the address it joined from (so that members behind
    // one ip, or a busy room, do not share one ip's budget).
    double member_rate = 20000, member_burst = 40000;
};

namespace relay_ev {
struct DirectoryUp { Addr addr; PublicKey key{}; };  // first answer (and again after a loss)
struct DirectoryLost { Addr addr; };
struct RoomOpened { RoomId room{}; std::vector<std::string> members; };
struct MemberJoined { RoomId room{}; std::string user; Addr addr; };
struct MemberLeft { RoomId room{}; std::string user; };
struct RoomClosed { RoomId room{}; };
struct Notice { std::string text; };
}  // namespace relay_ev
using RelayEvent = std::variant<relay_ev::DirectoryUp, relay_ev::DirectoryLost, relay_ev::RoomOpened,
                                relay_ev::MemberJoined, relay_ev::MemberLeft, relay_ev::RoomClosed,
                                relay_ev::Notice>;
std::string describe(const RelayEvent& e);

struct RelayRoomView {
    RoomId room{};
    std::uint32_t epoch = 0;
    std::vector<std::string> members;  // named by the ticket
    std::vector<std::string> joined;   // currently joined
    std::uint64_t forwarded = 0;       // lines forwarded
};

class Relay {
public:
    Relay(RelayConfig config, Identity identity, core::Crypto& crypto, std::uint64_t rng_seed);
    ~Relay();
    Relay(const Relay&) = delete;
    Relay& operator=(const Relay&) = delete;

    // Registers with the directory (if any) at once.
    void handle_start(TimeMs now);
    void handle_datagram(TimeMs now, const Addr& from, ByteView data);
    void handle_timeout(TimeMs now);
    // The CPU use the driver measured (about once a second); the next heartbeats carry it.
    void handle_cpu(const CpuUse& use);

    std::optional<RelayEvent> poll_event();
    std::optional<core::Transmit> poll_transmit();
    std::optional<TimeMs> poll_timeout() const;

    std::vector<RelayRoomView> rooms() const;
    Load load() const;
    std::optional<PublicKey> directory_key() const;  // pinned at the first directory answer
    bool directory_alive() const;
    const Identity& identity() const;
    const RoleStats& stats() const;

private:
    struct State;
    std::unique_ptr<State> s_;
};

// ---------------------------------------------------------------------------------
// RoomClient

struct RoomClientConfig {
    std::uint16_t port = 0;  // our listening port (the same socket as core::Node)
    std::optional<Addr> directory;  // --dir
    std::vector<Addr> relays;       // --relays: client-side round robin when there is no directory
    TimeMs heartbeat_interval = 1000;  // to the directory; carries the delay vector when it changed
    TimeMs directory_timeout = 3500;   // no ClientState this long: the directory is reported lost
    // One probe per relay per measure_interval.
    TimeMs measure_interval = 1000;
    TimeMs report_interval = 1000;     // delay vector changes are reported at most this often
    std::uint32_t report_threshold_ms = 2;  // a change smaller than this and than 10 % is not reported
    std::size_t probe_misses = 3;      // unanswered probes in a row: the relay counts as dead (rtt unknown)
    TimeMs resend_interval = 1000;     // unacked lines are resent this often (and at once after a move)
    TimeMs rejoin_interval = 1000;     // a join without an answer is repeated this often
    TimeMs invite_interval = 1000;     // no directory: an unanswered invite is repeated this often
    TimeMs request_timeout = 60000;    // no directory: an unanswered invite becomes TIMED_OUT
    TimeMs awaiting_interval = 5000;   // no directory: AWAITING_REQ is repeated this often
    std::size_t max_rooms = 64;
    std::size_t max_members = 16;                  // no directory: people in a room we invite to (as relays admit)
    std::size_t max_outbox_per_room = 1000;        // own lines not yet acked by every other member
    std::size_t max_buffered_per_author = 256;     // out-of-order lines held per author
    std::size_t max_relays = 64;                   // relays measured
    double ip_rate = 200, ip_burst = 400;          // per source ip, before signature checks
    double relay_rate = 40000, relay_burst = 80000; // instead, per relay of our rooms (it forwards everyone's lines)
    // The key our core::Node pinned for a user, if any (core::Node::keys). A ticket
    // member under that name with another key is not trusted (darkchat-security(7)).
    std::function<std::optional<PublicKey>(const std::string& user)> pinned;
    // Where core::Node knows a user's sessions (online first), if it does. Without a
    // directory, a room's move goes there too, besides the address the member last
    // answered from (after a restart of either side that one may be gone or stale).
    std::function<std::vector<Addr>(const std::string& user)> addresses;
};

// A user the client invites, with what core::Node knows of them (needed only without a
// directory: the invite goes straight to the peer, and its key goes in the ticket).
struct PeerInfo {
    std::string user;
    std::optional<PublicKey> key;  // core::Node::keys(user) -> pinned
    std::vector<Addr> addrs;       // core::Node::user(user) -> sessions' addrs (online first)
};

namespace room_cmd {
// \request u1 [u2 ...]: ask for a chat with these users. peers: what core::Node knows
// about them (may be empty when a directory is used).
struct Request { std::vector<std::string> users; std::vector<PeerInfo> peers; };
// \accept [user], \decline [user]: answer the invite from that user (empty: the only
// open one; if there are several, a Problem lists them).
struct Accept { std::string from; };
struct Decline { std::string from; };
// A line for a room (its full id: the driver resolves prefixes through rooms()).
struct Send { RoomId room{}; std::string text; };
// \leave: leave the room (tell the relay and the directory, forget its state).
struct Leave { RoomId room{}; };
// A conversation group's room (darkchat-groups(7), RELAYS): join it with the ticket the
// group's record carries (groups::relay_ticket_blob), or follow it to a newer one (a
// later epoch: another relay or another list). Nobody is asked: the group consented.
struct Carry { wire::SignedBlob ticket; };
// The groups we coordinate whose lines go (or are to go) through a relay: with a
// directory, every heartbeat names them, and the directory places and moves them
// (placement()). Replaces the list before.
struct PlaceGroups { std::vector<wire::GroupWish> groups; };
}  // namespace room_cmd
using RoomCommand = std::variant<room_cmd::Request, room_cmd::Accept, room_cmd::Decline, room_cmd::Send,
                                 room_cmd::Leave, room_cmd::Carry, room_cmd::PlaceGroups>;

// A line of a group's room, for the group machine (not shown as a room line): its
// author's key as the room's ticket names it, and what the author sent.
struct GroupRoomLine {
    RoomId room{};
    PublicKey author{};
    Bytes payload;
};

// A file message (files_wire.hpp) a member of one of our rooms sent us straight
// (roomFile), for the file part: the sender's key as the room's ticket names it.
struct RoomFileMessage {
    RoomId room{};
    PublicKey from{};
    Bytes message;
};

namespace room_ev {
struct DirectoryUp { Addr addr; };     // first ClientState (and again after a loss)
struct DirectoryLost { Addr addr; };   // no ClientState for directory_timeout (chats go on)
// "* request bob: ACK_CONN". detail: extra words for SERVER_ERR ("no relay alive").
struct RequestStage { std::string user; Stage stage{}; std::string detail; };
// "* alice asks for a chat: \accept alice or \decline alice". others: other invitees.
struct Invited { std::string from; std::vector<std::string> others; };
// An invite that can no longer be answered (withdrawn or timed out).
struct InviteGone { std::string from; };
// "* room 3fa2c1d0 on relay 127.0.0.1:7401 with alice, bob" (members without ourselves).
struct RoomJoined { RoomId room{}; Addr relay; std::vector<std::string> members; };
// "* room 3fa2c1d0 moved to relay ... (relay died)" / "(better: 12 ms instead of 31 ms)".
// The ms (reason better only) are the chat's largest member rtt at the old and the new relay.
struct RoomMoved { RoomId room{}; Addr from; Addr to; MoveReason reason{}; std::uint32_t old_ms = 0; std::uint32_t new_ms = 0; };
struct MemberChange { RoomId room{}; std::string user; bool joined = false; };
struct RoomLeft { RoomId room{}; };  // after \leave, or the room was refused by its relay
// "[3fa2c1d0] <alice> hello". Delivered once, in each author's order. outgoing: our own
// line, echoed when every other member acked it.
struct Line { RoomId room{}; std::string author; std::string text; TimeMs sent = 0; MessageId id{}; bool outgoing = false; };
struct Notice { std::string text; };
struct Problem { std::string text; };
}  // namespace room_ev
using RoomEvent = std::variant<room_ev::DirectoryUp, room_ev::DirectoryLost, room_ev::RequestStage,
                               room_ev::Invited, room_ev::InviteGone, room_ev::RoomJoined, room_ev::RoomMoved,
                               room_ev::MemberChange, room_ev::RoomLeft, room_ev::Line, room_ev::Notice,
                               room_ev::Problem>;

// For \rooms.
struct RoomView {
    RoomId room{};
    PublicKey relay_key{};
    Addr relay;
    std::uint32_t epoch = 0;
    std::vector<std::string> members;  // everyone in the chat, ourselves included
    bool joined = false;               // the relay confirmed our join at this epoch
    std::size_t unacked = 0;           // own lines waiting for acks
    bool group = false;                // a conversation group's room
};
// A member of a room, as its ticket names it (one whose key our node distrusts is left
// out), and where the relay's last roster says it is served (none: not joined there).
struct RoomMemberView {
    std::string user;
    PublicKey key{};
    std::optional<Addr> addr;
};
// For \relays.
struct RelayView {
    PublicKey key{};  // all zero until the relay answered a probe
    Addr addr;
    std::optional<std::uint32_t> rtt_ms;  // none: not measured or not answering
};
// Open invites to us (for \accept without a name).
struct InviteView {
    std::string from;
    std::vector<std::string> others;
};

class RoomClient {
public:
    // identity: the user's identity, the same core::Node uses. snapshot: the rooms, own
    // unacked lines and delivery cursors it stored before (Store::load_snapshot().rooms).
    RoomClient(RoomClientConfig config, Identity identity, core::Crypto& crypto, std::uint64_t rng_seed,
               RoomSnapshot snapshot = {});
    ~RoomClient();
    RoomClient(const RoomClient&) = delete;
    RoomClient& operator=(const RoomClient&) = delete;

    // Registers with the directory (if any) and starts measuring relays.
    void handle_start(TimeMs now);
    void handle_datagram(TimeMs now, const Addr& from, ByteView data);
    void handle_timeout(TimeMs now);
    void handle_command(TimeMs now, const RoomCommand& c);
    // Leaving darkchat: rooms with nothing left to deliver are left; a room with own
    // lines not yet acked by everyone is kept (in the store) and resumed next start.
    void handle_quit(TimeMs now);

    // Drain in the core's order after every input: store ops (apply them before sending
    // anything), events, transmits.
    std::optional<StoreOp> poll_store();
    std::optional<RoomEvent> poll_event();
    std::optional<core::Transmit> poll_transmit();
    std::optional<TimeMs> poll_timeout() const;
    // Lines of groups' rooms, in the order they are delivered (drain after every input).
    std::optional<GroupRoomLine> poll_group_line();
    // File messages members sent us straight (drain after every input).
    std::optional<RoomFileMessage> poll_file_message();
    // A file message to a member of one of our rooms, straight to where the relay serves
    // it (over TCP, signed); false when no room of ours has it joined on its relay.
    bool send_file_message(TimeMs now, const PublicKey& to, ByteView message);
    // The members of a room (ourselves included); empty when we are not in it.
    std::vector<RoomMemberView> members(const RoomId& room) const;
    // Where a member of one of our rooms is served, the first room that has it joined.
    std::optional<Addr> member_addr(const PublicKey& key) const;

    std::vector<RoomView> rooms() const;
    // The relay missed probe_misses probes in a row (a relay never probed is not dead).
    bool relay_dead(const Addr& relay) const;
    // Where the directory's last state places a group named by PlaceGroups; none: not
    // (yet) placed, or no directory.
    std::optional<wire::GroupPlacement> placement(const RoomId& group) const;
    // Own lines of room not yet acked by everyone (a Send is refused at
    // max_outbox_per_room); none when we are not in that room.
    std::optional<std::size_t> unacked(const RoomId& room) const;
    const RoomClientConfig& config() const;
    std::vector<RelayView> relays() const;
    std::vector<InviteView> invites() const;
    bool directory_alive() const;
    const Identity& identity() const;
    const RoleStats& stats() const;

private:
    struct State;
    std::unique_ptr<State> s_;
};

}  // namespace dc::roles
