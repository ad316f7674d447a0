// What a node remembers between runs: the records the core asks the store to
// keep (StoreOp) and the snapshot the store hands back at start-up.
#pragma once

#include "darkchat/types.hpp"
#include "darkchat/wire.hpp"

namespace dc {

// This device's identity. The key pair belongs to the user and may be shared by
// several devices; the session id is this device's own.
struct Identity {
    std::string user;
    PublicKey pk{};
    SecretKey sk{};
    SessionId session{};
    // Set when the secret key is stored sealed with a passphrase
    // (crypto::seal_secret); sk is then all zeros until the key is opened.
    std::optional<Bytes> sk_sealed{};
};

struct UserRecord {
    std::string name;
    PublicKey key{};     // pinned on first sight
    bool contact = false;  // this node made a link to the user with \add
    TimeMs first_seen = 0;
};

// What is kept of a session but its user's name (core::Node keeps sessions in
// their user's entry, under that name).
struct SessionState {
    SessionId session{};
    wire::SignedBlob decl;  // the newest verified declaration of this session
    std::uint64_t seq = 0;
    Addr addr;
    bool online = false;
    TimeMs last_seen = 0;
};

struct SessionRecord : SessionState {
    std::string user;
};

// A chat message waiting for an ack. target is the recipient user, or the own
// user name for a copy mirrored to this user's other sessions.
struct OutboxRecord {
    MessageId id{};
    std::string target;
    wire::SignedBlob msg;  // a wire::ChatMessage signed by its author
    TimeMs queued = 0;
};

struct HistoryRecord {
    MessageId id{};
    std::string from;
    std::string to;
    TimeMs sent = 0;
    TimeMs stored = 0;  // when this node accepted it
    std::string text;
};

// Rooms on relays (roles::RoomClient, darkchat-rooms(7)): what a member keeps so
// that a kill -9 loses none of its lines and shows none twice. A room is its
// newest ticket; own lines stay until every other member acked them; a cursor is
// the next line expected of each author.
using RoomKey = std::array<std::uint8_t, 16>;

struct RoomRecord {
    RoomKey room{};
    wire::SignedBlob ticket;            // the newest ticket (signed by the directory or the inviter)
    bool direct = false;                // no directory: the ticket is signed by a member
    bool mine = false;                  // direct, and we issued it
    std::vector<std::string> members;   // shown; with a directory, who accepted
    std::vector<std::string> required;  // whose acks our lines wait for
    std::uint64_t run = 0;              // our lines' run in this room (kept across restarts)
    std::uint64_t next_seq = 1;         // the seq our next line gets (the store never lowers it)
};

struct RoomLineRecord {
    RoomKey room{};
    std::uint64_t seq = 0;
    MessageId id{};
    TimeMs sent = 0;
    std::string text;
};

struct RoomCursorRecord {
    RoomKey room{};
    std::string author;
    std::uint64_t run = 0;   // the author's run
    std::uint64_t next = 0;  // the next seq to deliver of that run
};

struct RoomSnapshot {
    std::vector<RoomRecord> rooms;
    std::vector<RoomLineRecord> lines;  // by room, then seq
    std::vector<RoomCursorRecord> cursors;
};

// Order of direct chat (darkchat-protocol(7), ORDER): for a stream of messages
// (the author's session, the recipient user), the highest number that stream
// reached here: for our own session what we numbered last, for anyone else's
// the last message shown. The store never lowers it.
struct ChatSeqRecord {
    SessionId session{};
    std::string peer;
    std::uint64_t seq = 0;
};

// Conversation groups (groups::Machine, darkchat-groups(7)): a group's state as
// the machine encodes it (wire::GroupState), under the group's id.
using GroupKeyId = std::array<std::uint8_t, 16>;
struct GroupRecord {
    GroupKeyId group{};
    Bytes state;
};

// File transfers (files::Machine, darkchat-protocol(7), FILES): one side's state of
// a transfer as the machine encodes it (wire::FileState), under the file's id, the
// side (0 sending, 1 receiving: a file sent to ourselves has both; 2 held to serve a
// group's members) and the peer (the member a group's file is sent to; all zero
// otherwise).
struct FileRecord {
    GroupKeyId file{};
    std::uint8_t side = 0;
    Bytes state;
    PublicKey peer{};
    SessionId session{};  // sending: the receiver's session the transfer goes to (all zero otherwise)
};

// A line said in a conversation group or a room (groups::ev::Line,
// roles::room_ev::Line), kept for \history: the newest kLinesKept of each
// group and room. key makes a line unique in its conversation (a room line's
// id; a group line's author key, epoch and seq), so a line stored twice is kept once.
inline constexpr std::size_t kLinesKept = 1000;
struct LineRecord {
    GroupKeyId conversation{};  // the group's or the room's id
    bool room = false;
    Bytes key;
    std::string author;         // the name it was shown under
    PublicKey author_key{};     // a group line's author (zero for a room line)
    TimeMs sent = 0;            // a room line: as its author dated it; a group line: when stored
    TimeMs stored = 0;          // when this node showed it
    bool own = false;
    std::string text;
    bool operator==(const LineRecord&) const = default;
};

// Holding (darkchat-protocol(7), HOLDING): a message another user left with us
// for `to` while `to` was offline, sealed to to's holding key (we cannot read
// it), kept until a session of `to` acknowledges it or it is too old.
// One event of the node's log, as the daemon API numbered it (darkchat-api(7)):
// body is the event's JSON object, seq counts up from 1 and never repeats.
struct EventRecord {
    std::uint64_t seq = 0;
    TimeMs at = 0;
    std::string body;
    bool operator==(const EventRecord&) const = default;
};

struct HeldRecord {
    std::string to;
    MessageId id{};
    std::string from;  // the user who left it with us
    TimeMs kept = 0;   // when we took it (it is dropped after Config::hold_max_age)
    std::uint64_t base = 0;
    Bytes sealed;
};

namespace store_op {
struct PutUser { UserRecord user; };
struct PutSession { SessionRecord session; };
struct DeleteSession { std::string user; SessionId session{}; };
struct PutOutbox { OutboxRecord entry; };
struct DeleteOutbox { MessageId id{}; std::string target; };
struct PutHistory { HistoryRecord entry; };
struct PutRoom { RoomRecord room; };      // next_seq never goes down
struct DeleteRoom { RoomKey room{}; };    // with its lines and cursors
struct PutRoomLine { RoomLineRecord line; };  // also raises the room's next_seq past it
struct DeleteRoomLines { RoomKey room{}; std::uint64_t upto = 0; };  // every line with seq <= upto
struct PutRoomCursor { RoomCursorRecord cursor; };
struct PutChatSeq { ChatSeqRecord seq; };  // raises, never lowers
struct PutGroup { GroupRecord group; };       // replaces the group's state
struct DeleteGroup { GroupKeyId group{}; };   // we are out of it
struct PutHeld { HeldRecord held; };
struct DeleteHeld { std::string to; MessageId id{}; };  // handed over, or too old
struct PutFile { FileRecord file; };                          // replaces that side's state
struct DeleteFile { GroupKeyId file{}; std::uint8_t side = 0; PublicKey peer{}; SessionId session{}; };  // done, declined or cancelled
struct PutEvent { EventRecord event; };         // the API's event log
struct DeleteEvents { std::uint64_t upto = 0; };  // every event with seq <= upto
struct PutLine { LineRecord line; };  // the first copy wins; the oldest past kLinesKept go
}  // namespace store_op

using StoreOp = std::variant<store_op::PutUser, store_op::PutSession, store_op::DeleteSession,
                             store_op::PutOutbox, store_op::DeleteOutbox, store_op::PutHistory,
                             store_op::PutRoom, store_op::DeleteRoom, store_op::PutRoomLine,
                             store_op::DeleteRoomLines, store_op::PutRoomCursor, store_op::PutChatSeq,
                             store_op::PutGroup, store_op::DeleteGroup, store_op::PutHeld,
                             store_op::DeleteHeld, store_op::PutFile, store_op::DeleteFile,
                             store_op::PutEvent, store_op::DeleteEvents, store_op::PutLine>;

// What de-duplication needs of a message in history.
struct SeenRecord {
    MessageId id{};
    std::string from;
    TimeMs sent = 0;
    bool operator==(const SeenRecord&) const = default;
};

struct Snapshot {
    std::vector<UserRecord> users;
    std::vector<SessionRecord> sessions;
    std::vector<OutboxRecord> outbox;
    std::vector<SeenRecord> seen;  // messages already in history, newest first (for de-duplication)
    RoomSnapshot rooms;            // for the room client, when there is one
    std::vector<ChatSeqRecord> chat_seqs;
    std::vector<GroupRecord> groups;  // for the group machine
    std::vector<HeldRecord> held;     // what we hold for others, oldest first
    std::vector<FileRecord> files;    // for the file transfers
    std::uint64_t last_event = 0;     // the API's event log: the newest seq (0: none yet)
};

}  // namespace dc
