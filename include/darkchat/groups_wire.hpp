// Messages of conversation groups (darkchat-groups(7)): one byte naming the type, then
// a msgpack map with small integer keys, like every other payload (field i of the struct
// is key i; unknown keys are skipped, so fields can be added). Sub-records are
// fixed-shape arrays. Decoders take untrusted bytes and enforce the limits below; the
// group state a member stores is encoded the same way.
#pragma once

#include "darkchat/wire.hpp"

#include <array>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace dc::wire {

using GroupIdBytes = std::array<std::uint8_t, 16>;
using GroupKeyBytes = std::array<std::uint8_t, 32>;

inline constexpr std::size_t kMaxGroupMembers = 256;   // members of one list
inline constexpr std::size_t kMaxGroupTitle = 64;      // bytes of a shared display name
inline constexpr std::size_t kMaxGroupLine = kMaxText + 16;  // a line's ciphertext (text and tag)
inline constexpr std::size_t kMaxGroupSealedKey = 128; // an epoch key sealed to one member
inline constexpr std::size_t kMaxGroupRecord = 32 * 1024;  // a signed record's body
inline constexpr std::size_t kMaxGroupCounts = 8;      // epochs named in one sync
inline constexpr std::size_t kMaxGroupKeys = 16;       // epoch keys in a stored state
inline constexpr std::size_t kMaxGroupStreams = 4096;  // author streams in a stored state

// A member of a list: [identity key, user name, X25519 key the epoch keys are sealed to].
struct GroupMember {
    PublicKey key{};
    std::string name;
    KxPublicKey kx{};
    bool operator==(const GroupMember&) const = default;
};

// What made a record (the change from the epoch before it).
enum class GroupChange : std::uint8_t { created = 0, entered = 1, left = 2, lost = 3, removed = 4, renamed = 5, moved = 6 };

// The signed list: its body, signed by members[0] (the coordinator) over
// "darkchat group record" || body.
struct GroupRecordBody {
    GroupIdBytes group{};
    std::uint8_t kind = 0;  // 0 public, 1 private (exactly two members)
    std::string title;
    std::uint64_t epoch = 0;
    std::vector<GroupMember> members;  // ordered by entry; the first is the coordinator
    std::uint8_t change = 0;           // GroupChange
    PublicKey subject{};               // who entered, left, was lost or removed
    PublicKey by{};                    // who caused it (the remover, the inviter, the renamer)
    // The relay its lines go through (darkchat-groups(7), RELAYS); relay_key all zero:
    // member to member. relay_sig: the coordinator's signature of the group's room
    // ticket (groups::relay_ticket), which the relay admits members by.
    Addr relay;
    PublicKey relay_key{};
    Signature relay_sig{};
    bool operator==(const GroupRecordBody&) const = default;
};

// The answers of seed 003.
enum class GroupAnswerKind : std::uint8_t {
    yes = 0,
    no = 1,
    answering_machine = 2,
    derivation = 3,
    disconnected_group = 4,
    no_updated_group = 5,
};

// Connection request, or (invitation set) an invitation into group from its coordinator.
struct GroupRequest {
    std::uint64_t nonce = 0;
    std::uint8_t kind = 0;
    std::string name;  // the sender's user name
    KxPublicKey kx{};
    bool invitation = false;
    GroupIdBytes group{};
    std::string title;
    bool operator==(const GroupRequest&) const = default;
};

// Every answer. Yes from a coordinator carries the record the newcomer enters and the
// epoch key sealed to it; Derivation names the group and its coordinator; the answers to
// automatic entering to peers name the group and epoch.
struct GroupAnswer {
    std::uint64_t nonce = 0;
    std::uint8_t answer = 0;  // GroupAnswerKind
    GroupIdBytes group{};
    std::uint64_t epoch = 0;
    PublicKey coordinator{};
    SignedBlob record;  // empty body unless yes
    Bytes key;          // sealed epoch key, empty unless yes
    bool operator==(const GroupAnswer&) const = default;
};

// Automatic entering to the coordinator (after Derivation, an accepted invitation, or
// to come back after being lost; then proof is the last record that listed the sender,
// which lets a coordinator admit members of the other half of a healed partition).
struct GroupEnter {
    GroupIdBytes group{};
    std::uint64_t nonce = 0;
    std::string name;
    KxPublicKey kx{};
    SignedBlob proof;
    bool operator==(const GroupEnter&) const = default;
};

// A member invites user: sent to the coordinator, who invites them (consented: the user
// already said yes to that member, who answered Derivation; the coordinator only admits).
struct GroupInvite {
    GroupIdBytes group{};
    PublicKey user{};
    std::string name;
    bool consented = false;
    bool operator==(const GroupInvite&) const = default;
};

// List updating (pending: the entry is not committed yet) and every committed record
// (the commit itself, the repair of a member behind, the news of a removal).
struct GroupUpdate {
    SignedBlob record;
    Bytes key;  // the epoch key sealed to the recipient; empty when it is not a member
    bool pending = false;
    bool operator==(const GroupUpdate&) const = default;
};

// Automatic entering to peers.
struct GroupPeerEnter {
    GroupIdBytes group{};
    std::uint64_t epoch = 0;
    PublicKey coordinator{};
    bool operator==(const GroupPeerEnter&) const = default;
};

// The newcomer to the coordinator: every peer answered (ok), or one said NoUpdatedGroup.
struct GroupDone {
    GroupIdBytes group{};
    std::uint64_t epoch = 0;
    bool ok = false;
    bool operator==(const GroupDone&) const = default;
};

// The coordinator: the entry of that epoch is given up; forget its pending list.
struct GroupAbort {
    GroupIdBytes group{};
    std::uint64_t epoch = 0;
    bool operator==(const GroupAbort&) const = default;
};

// Connection release: the sender leaves.
struct GroupRelease {
    GroupIdBytes group{};
    bool operator==(const GroupRelease&) const = default;
};

// A member asks the coordinator to change the shared display name.
struct GroupRename {
    GroupIdBytes group{};
    std::string title;
    bool operator==(const GroupRename&) const = default;
};

// A line: encrypted once under the epoch's key (a key per author derived from it, the
// sequence number as nonce), signed by its author over
// "darkchat group line" || header || ciphertext.
struct GroupLine {
    GroupIdBytes group{};
    std::uint64_t epoch = 0;
    PublicKey coordinator{};  // with epoch: the record whose key encrypted it
    PublicKey author{};
    std::uint64_t seq = 0;    // per author and epoch, from 0
    Bytes ciphertext;
    Signature sig{};
    bool operator==(const GroupLine&) const = default;
};

// [epoch, coordinator, lines]: how many lines the sender wrote under that epoch.
struct GroupCount {
    std::uint64_t epoch = 0;
    PublicKey coordinator{};
    std::uint64_t count = 0;
    bool operator==(const GroupCount&) const = default;
};

// Anti-entropy, now and then to every member: the sender's record and what it wrote.
struct GroupSync {
    GroupIdBytes group{};
    std::uint64_t epoch = 0;
    PublicKey coordinator{};
    bool need_key = false;
    std::vector<GroupCount> written;
    bool operator==(const GroupSync&) const = default;
};

// Send me your lines of that epoch again, from seq on.
struct GroupWant {
    GroupIdBytes group{};
    std::uint64_t epoch = 0;
    PublicKey coordinator{};
    std::uint64_t from = 0;
    bool operator==(const GroupWant&) const = default;
};

using GroupMessage = std::variant<GroupRequest, GroupAnswer, GroupEnter, GroupInvite, GroupUpdate, GroupPeerEnter,
                                  GroupDone, GroupAbort, GroupRelease, GroupRename, GroupLine, GroupSync, GroupWant>;

// The first byte of an encoded message: its index in GroupMessage.
Bytes encode_group(const GroupMessage& m);
Result<GroupMessage> decode_group(ByteView b);

Bytes encode(const GroupRecordBody& r);
Result<GroupRecordBody> decode_group_record(ByteView b);

// What a member stores of a group, so it survives a restart.
struct GroupEpochKey {  // [epoch, coordinator, key, members]
    std::uint64_t epoch = 0;
    PublicKey coordinator{};
    GroupKeyBytes key{};
    std::vector<PublicKey> members;
    bool operator==(const GroupEpochKey&) const = default;
};
struct GroupStream {  // [author, epoch, coordinator, next]: the next line expected
    PublicKey author{};
    std::uint64_t epoch = 0;
    PublicKey coordinator{};
    std::uint64_t next = 0;
    bool operator==(const GroupStream&) const = default;
};
struct GroupState {
    SignedBlob record;
    std::vector<GroupEpochKey> keys;
    std::vector<GroupStream> streams;
    std::vector<PublicKey> lost;  // removed for loss: may enter again without an invitation
    std::uint64_t own_next = 0;   // our next line's seq under the current epoch
    std::uint64_t max_epoch = 0;  // the highest epoch seen in any record of this group
    bool operator==(const GroupState&) const = default;
};
Bytes encode(const GroupState& s);
Result<GroupState> decode_group_state(ByteView b);

// The requests a machine waits on, stored so that they survive a restart: an
// answer to one of ours can come after we restarted (it was held for us while we
// were offline), and one we were asked can be answered after ours.
inline constexpr std::size_t kMaxStoredRequests = 256;
struct GroupOutRequest {  // [nonce, to, kind]: ours, waiting for an answer
    std::uint64_t nonce = 0;
    PublicKey to{};
    std::uint8_t kind = 0;
    bool operator==(const GroupOutRequest&) const = default;
};
struct GroupInRequest {  // [id, from, request]: one we were asked (encode_group of its GroupRequest)
    std::uint64_t id = 0;
    PublicKey from{};
    Bytes request;
    bool operator==(const GroupInRequest&) const = default;
};
struct GroupRequests {
    std::vector<GroupOutRequest> out;
    std::vector<GroupInRequest> in;
    std::uint64_t next_id = 0;  // the local id the next request we are asked gets
    bool operator==(const GroupRequests&) const = default;
};
Bytes encode(const GroupRequests& r);
Result<GroupRequests> decode_group_requests(ByteView b);

}  // namespace dc::wire
