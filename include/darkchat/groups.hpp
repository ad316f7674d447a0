// Conversation groups (darkchat-groups(7)) as a sans-IO state machine: membership by a
// coordinator that is the first of a list ordered by entry, entries as transactions, a
// signed record and a fresh key for every epoch, lines encrypted once under the epoch
// key. Inputs are handle_*() calls with the current time and the authenticated identity
// of the peer a message came from; outputs are drained with poll_*(). It assumes a
// transport that is reliable and FIFO per pair while both ends live and may lose or
// repeat messages around crashes and restarts: everything here is idempotent, and a
// periodic sync repairs what was lost.
//
// After one or more handle_*() calls the driver drains, in this order,
//   poll_store()   -> apply (a group's state is durable before what rests on it leaves)
//   poll_event()   -> show to the user
//   poll_message() -> send to the peer
// and then arms one timer for poll_timeout().
#pragma once

#include "darkchat/groups_wire.hpp"
#include "darkchat/roles_wire.hpp"
#include "darkchat/types.hpp"

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace dc::groups {

using GroupId = wire::GroupIdBytes;
using GroupKey = wire::GroupKeyBytes;
using Member = wire::GroupMember;
using Change = wire::GroupChange;
using Answer = wire::GroupAnswerKind;

enum class Kind : std::uint8_t { open = 0, pair = 1 };  // public (two or more), private (exactly two)

struct Config {
    std::size_t max_members = 64;         // a coordinator admits nobody past this
    std::size_t max_groups = 256;         // groups held at once
    std::size_t max_requests = 64;        // requests waiting for our user's answer
    std::size_t max_queue = 64;           // entries waiting behind the one under way
    TimeMs entry_timeout = 4000;          // an entry not done by then is given up (and retried)
    TimeMs peer_wait = 1000;              // a peer without the list updating yet waits this long for it
    TimeMs sync_interval = 2000;          // members compare records and line counts this often
    TimeMs enter_retry = 1500;            // automatic entering to the coordinator is repeated after this ...
    int enter_attempts = 40;              // ... at most this many times (a queue may be long)
    std::size_t max_held_lines = 256;     // lines held per group (waiting for a key or an earlier line)
    std::size_t max_log = 512;            // our own lines kept per group to send again
    std::size_t max_epoch_keys = 8;       // past epochs whose keys are kept for late lines
    bool answering_machine = false;       // our user is away: requests are answered AnsweringMachine
};

// The identity the machine speaks for.
struct Self {
    std::string name;
    PublicKey pk{};
    SecretKey sk{};
};

// The cryptography, injected so tests and the simulator are deterministic; the same
// signatures as core::Crypto, so the node can pass its own through an adapter.
class Crypto {
public:
    virtual ~Crypto() = default;
    virtual Signature sign(const SecretKey& sk, ByteView msg) = 0;
    virtual bool verify(const PublicKey& pk, ByteView msg, const Signature& sig) = 0;
    virtual KxPublicKey kx_public(const KxSecretKey& sk) = 0;
    virtual Bytes seal(ByteView msg, const KxPublicKey& to) = 0;
    virtual std::optional<Bytes> open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk) = 0;
    virtual void random(std::span<std::uint8_t> out) = 0;
    virtual void aead_seal(std::uint8_t* out, ByteView msg, ByteView ad, std::uint64_t counter,
                           const GroupKey& key) = 0;
    virtual bool aead_open(std::uint8_t* out, ByteView sealed, ByteView ad, std::uint64_t counter,
                           const GroupKey& key) = 0;
    virtual void hash(std::span<std::uint8_t> out, ByteView key, ByteView in) = 0;
};
// libsodium; random() from libsodium too unless a subclass overrides it.
class SodiumCrypto : public Crypto {
public:
    Signature sign(const SecretKey& sk, ByteView msg) override;
    bool verify(const PublicKey& pk, ByteView msg, const Signature& sig) override;
    KxPublicKey kx_public(const KxSecretKey& sk) override;
    Bytes seal(ByteView msg, const KxPublicKey& to) override;
    std::optional<Bytes> open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk) override;
    void random(std::span<std::uint8_t> out) override;
    void aead_seal(std::uint8_t* out, ByteView msg, ByteView ad, std::uint64_t counter, const GroupKey& key) override;
    bool aead_open(std::uint8_t* out, ByteView sealed, ByteView ad, std::uint64_t counter,
                   const GroupKey& key) override;
    void hash(std::span<std::uint8_t> out, ByteView key, ByteView in) override;
};

// Commands from the user.
namespace cmd {
struct Request { PublicKey to{}; Kind kind = Kind::open; };           // connection request
struct Reply {                                                        // answer a request that arrived
    std::uint64_t request = 0;                                        // RequestArrived::id
    bool yes = false;
    std::optional<GroupId> into;                                      // an existing group; none: a new one
    std::string title;                                                // a new group's display name
};
struct Invite { GroupId group{}; PublicKey user{}; std::string name; };
struct Remove { GroupId group{}; PublicKey member{}; };
struct Leave { GroupId group{}; };
struct Rename { GroupId group{}; std::string title; };
struct Say { GroupId group{}; std::string text; };
// The coordinator moves the group's lines onto a relay (relay set) or back to going
// member to member (none): a new record that says so (Change::moved).
struct Relay { Addr addr; PublicKey key{}; };
struct Move { GroupId group{}; std::optional<Relay> relay; };
}  // namespace cmd
using Command = std::variant<cmd::Request, cmd::Reply, cmd::Invite, cmd::Remove, cmd::Leave, cmd::Rename, cmd::Say,
                             cmd::Move>;

// Events for the user.
namespace ev {
struct RequestArrived {
    std::uint64_t id = 0;  // for cmd::Reply
    PublicKey from{};
    std::string name;
    Kind kind = Kind::open;
    bool invitation = false;  // into group (title) of its coordinator `from`
    GroupId group{};
    std::string title;
};
struct Answered { PublicKey from{}; Answer answer = Answer::no; };  // our request, answered
struct Joined { GroupId group{}; std::uint64_t epoch = 0; std::vector<Member> members; std::string title; };
struct MemberEntered { GroupId group{}; std::uint64_t epoch = 0; Member member; };
struct MemberLeft { GroupId group{}; std::uint64_t epoch = 0; Member member; bool lost = false; };
struct MemberRemoved { GroupId group{}; std::uint64_t epoch = 0; Member member; Member by; };
struct NewEpoch { GroupId group{}; std::uint64_t epoch = 0; PublicKey coordinator{}; std::size_t members = 0; };
struct CoordinatorChanged { GroupId group{}; Member coordinator; };
struct Renamed { GroupId group{}; std::string title; Member by; };
// The group's lines now go through that relay (none: member to member).
struct Moved { GroupId group{}; std::uint64_t epoch = 0; std::optional<Addr> relay; Member by; };
// We are out: left, removed (by), lost (and entering again), or the group ceased.
struct Gone { GroupId group{}; Change why = Change::left; Member by; bool entering_again = false; bool ceased = false; };
struct EntryFailed { GroupId group{}; std::string why; };
struct Line {
    GroupId group{};
    std::uint64_t epoch = 0;
    PublicKey author{};
    std::string author_name;
    std::uint64_t seq = 0;
    std::string text;
    bool own = false;
};
struct WaitingForKey { GroupId group{}; std::uint64_t epoch = 0; };
struct NotMember { GroupId group{}; std::uint64_t epoch = 0; };
struct Refused { GroupId group{}; std::string text; };
}  // namespace ev
using Event = std::variant<ev::RequestArrived, ev::Answered, ev::Joined, ev::MemberEntered, ev::MemberLeft,
                           ev::MemberRemoved, ev::NewEpoch, ev::CoordinatorChanged, ev::Renamed, ev::Gone,
                           ev::EntryFailed, ev::Line, ev::WaitingForKey, ev::NotMember, ev::Refused, ev::Moved>;

struct Outgoing {
    PublicKey to{};
    std::string name;  // to's user name, where the machine knows it (a member, a requester, an invitee)
    Bytes bytes;       // wire::encode_group
    // A line of a group whose lines go through a relay: to every member at once, as a
    // line of the group's room (to and name unset).
    bool via_relay = false;
    GroupId group{};
};

// The room a group's lines go through, after every record that names one (its ticket
// changes with the list), and when that ends (ticket with an empty body: the group
// went back to member to member, or we are out of it). After restore(), one for each
// group on a relay.
struct Transport {
    GroupId group{};
    wire::SignedBlob ticket;
};

// The ticket of a record's room on its relay (darkchat-groups(7), RELAYS): the
// group's id as room, the relay, the record's epoch, its members by name and key,
// its coordinator as issuer, group set. Signed with relay_sig, it admits members.
wire::Ticket relay_ticket(const wire::GroupRecordBody& r);
wire::SignedBlob relay_ticket_blob(const wire::GroupRecordBody& r);

// The id under which the requests the machine waits on are stored
// (wire::GroupRequests); no group has it (a record naming it is refused).
inline constexpr GroupId kRequestsRecord = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

// A group's state to keep (wire::encode(GroupState)); empty: forget the group.
// Under kRequestsRecord: the requests (wire::encode(GroupRequests)).
struct StoreRecord {
    GroupId group{};
    Bytes state;
};

struct Stats {
    std::uint64_t malformed = 0;     // did not decode
    std::uint64_t bad_signature = 0; // a record or line whose signature does not hold
    std::uint64_t stale = 0;         // a record at or below the one held
    std::uint64_t refused = 0;       // from someone not entitled to it (not a member, not invited)
    std::uint64_t duplicate = 0;     // lines seen before
    std::uint64_t undecryptable = 0; // lines whose key we have but which do not open
};

struct GroupView {
    GroupId id{};
    Kind kind = Kind::open;
    std::string title;
    std::uint64_t epoch = 0;
    std::vector<Member> members;  // the first is the coordinator
    bool has_key = false;
    std::optional<cmd::Relay> relay;  // its lines go through it; none: member to member
    bool coordinating = false;        // we act as its coordinator
};

class Machine {
public:
    Machine(Config config, Self self, Crypto& crypto);
    ~Machine();
    Machine(const Machine&) = delete;
    Machine& operator=(const Machine&) = delete;

    // Before any input: one call per stored group state.
    Result<void> restore(ByteView state);
    // Before any input: one call per stored record, the requests' (kRequestsRecord)
    // or a group's. Restored requests we were asked come out as RequestArrived again.
    Result<void> restore(const GroupId& id, ByteView state);

    // via_room: a line of the group's room on its relay, whose tag (darkchat-rooms(7),
    // TAGS) already proved `from` to us; its signature is not checked (such lines carry
    // none). Everything else (chat) is checked as ever.
    void handle_message(TimeMs now, const PublicKey& from, ByteView bytes, bool via_room = false);
    void handle_lost(TimeMs now, const PublicKey& peer);
    void handle_back(TimeMs now, const PublicKey& peer);
    void handle_timeout(TimeMs now);
    void handle_command(TimeMs now, const Command& command);

    std::optional<StoreRecord> poll_store();
    std::optional<Event> poll_event();
    std::optional<Outgoing> poll_message();
    std::optional<Transport> poll_transport();
    std::optional<TimeMs> poll_timeout() const;

    std::vector<GroupView> groups() const;
    std::optional<GroupView> group(const GroupId& id) const;
    const Stats& stats() const;
    const KxPublicKey& kx() const;  // what we are sealed to

    struct State;

private:
    std::unique_ptr<State> s_;
};

}  // namespace dc::groups
