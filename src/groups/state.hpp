// Internal to src/groups: what the group machine holds. Machine::State owns every group
// this member is in, the entries it is making, the requests waiting for an answer, and
// the output queues. Membership (membership.cpp), entries (entry.cpp) and lines
// (lines.cpp) are its methods; machine.cpp holds the public face.
#pragma once

#include "darkchat/groups.hpp"

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace dc::groups {

using wire::GroupLine;
using wire::GroupRecordBody;
using wire::SignedBlob;

// Records are ordered by (epoch, coordinator): the higher one wins wherever two meet.
using Rank = std::pair<std::uint64_t, PublicKey>;
inline Rank rank_of(const GroupRecordBody& r) {
    return {r.epoch, r.members.empty() ? PublicKey{} : r.members.front().key};
}

// (author, epoch, coordinator): one author's lines under one epoch, numbered from 0.
using StreamId = std::tuple<PublicKey, std::uint64_t, PublicKey>;

struct Pending {  // a list updating received: an entry its coordinator has not committed yet
    GroupRecordBody rec;
    SignedBlob blob;
    std::optional<GroupKey> key;
    TimeMs deadline = 0;
};

struct WaitingPeer {  // automatic entering to peers that came before the list updating
    PublicKey newcomer{};
    std::uint64_t epoch = 0;
    PublicKey coordinator{};
    TimeMs deadline = 0;
};

struct Candidate {  // someone the coordinator is to admit
    Member member;
    PublicKey by{};
    std::uint64_t nonce = 0;
};

struct Txn {  // the coordinator's entry under way (its critical section)
    Candidate who;
    GroupRecordBody rec;
    SignedBlob blob;
    GroupKey key{};
    TimeMs deadline = 0;
};

struct Group {
    GroupRecordBody rec;
    SignedBlob blob;
    bool forming = false;  // only us so far: the first entry is under way
    std::vector<wire::GroupEpochKey> keys;  // oldest first
    std::map<StreamId, std::uint64_t> next;
    std::map<StreamId, std::map<std::uint64_t, GroupLine>> ahead;  // after a gap
    std::vector<GroupLine> no_key;                                 // under an epoch whose key is on its way
    std::set<PublicKey> lost;     // removed for loss: may enter again without an invitation
    std::set<PublicKey> down;     // members the liveness detector calls lost
    std::set<PublicKey> leaving;  // members that sent connection release
    std::map<PublicKey, std::string> invited;
    // Our invitations handed to the coordinator of the time, by invitee: its
    // name and the coordinator it went to. When another coordinates (the one
    // we gave it to was lost or left), they go to the new one (maintain()).
    std::map<PublicKey, std::pair<std::string, PublicKey>> invites_out;
    std::optional<Pending> pending;
    std::vector<WaitingPeer> peers_waiting;
    std::optional<Txn> txn;
    std::deque<Candidate> queue;
    std::uint64_t own_next = 0;
    std::deque<GroupLine> log;                // our own lines, to send again
    std::vector<wire::GroupCount> written;    // how many we wrote under recent epochs
    std::uint64_t max_epoch = 0;
    TimeMs next_sync = 0;
    std::set<std::uint64_t> told_waiting, told_not_member;
};

struct Entering {  // we are entering a group (or coming back to it)
    enum class Phase { asking, joining, committing };
    Phase phase = Phase::asking;
    PublicKey coordinator{};
    std::vector<PublicKey> candidates;  // whom to ask when the coordinator is down
    std::uint64_t nonce = 0;
    SignedBlob proof;     // the last record that listed us, when we were lost from it
    GroupRecordBody rec;  // the list of the Yes
    SignedBlob blob;
    std::optional<GroupKey> key;
    std::set<PublicKey> waiting;  // peers that have not answered automatic entering yet
    TimeMs deadline = 0;
    int attempts = 0;
};

struct OutRequest {
    PublicKey to{};
    Kind kind = Kind::open;
};

struct InRequest {
    PublicKey from{};
    wire::GroupRequest req;
};

struct Machine::State {
    Config config;
    Self self;
    Crypto& crypto;
    KxSecretKey kx_sk{};
    KxPublicKey kx_pk{};
    TimeMs now = 0;

    std::map<GroupId, Group> groups;
    std::map<GroupId, Entering> entering;
    std::map<std::uint64_t, OutRequest> out_requests;  // by nonce
    std::map<std::uint64_t, InRequest> in_requests;    // by local id
    std::uint64_t next_request_id = 1;
    std::set<PublicKey> down;
    std::set<GroupId> dirty;
    bool via_room = false;        // the message being handled came through the group's room (its tag checked)
    bool requests_dirty = false;  // out_requests or in_requests changed: stored at the next flush
    // Groups this machine was in and is out of (left, removed, ceased) in this
    // run: only of these does it say "not in that group" (disconnected_group).
    // Of a group it never knew it says nothing, for a message about it may be
    // meant for another device of the same user, which is in it
    // (darkchat-groups(7), TRANSPORT).
    std::set<GroupId> gone;
    // A group we were called lost from, as it was, while we enter it again:
    // lines of its epochs still in flight (written before the record that
    // dropped us reached us, nothing orders them against it) are shown from
    // it, and its keys and counters join the group once we are in again.
    // Never stored: the stored state stays the one from before (adopt()).
    std::map<GroupId, Group> lingering;
    bool knows(const GroupId& id) const { return groups.count(id) || entering.count(id) || gone.count(id); }

    std::deque<StoreRecord> store_out;
    std::deque<Event> events;
    std::deque<Outgoing> messages;
    std::deque<Transport> transports;
    Stats stats;

    State(Config c, Self s, Crypto& cr);

    // --- machine.cpp: plumbing
    void send(const PublicKey& to, const wire::GroupMessage& m);
    std::string name_of(const PublicKey& pk) const;  // "" when no group, request or entry names it
    void emit(Event e) { events.push_back(std::move(e)); }
    void touch(const GroupId& id) { dirty.insert(id); }
    void flush();
    std::uint64_t random_u64();
    GroupKey random_key();
    const Member* find_member(const GroupRecordBody& r, const PublicKey& pk) const;
    bool is_member(const GroupRecordBody& r, const PublicKey& pk) const { return find_member(r, pk) != nullptr; }
    Member member_or_key(const Group& g, const PublicKey& pk) const;
    // Signs body (and, on a relay, its room ticket first: relay_sig).
    SignedBlob sign_record(GroupRecordBody& body);
    std::optional<GroupRecordBody> check_record(const SignedBlob& blob);
    Bytes seal_key(const GroupKey& key, const Member& to);
    std::optional<GroupKey> open_key(ByteView sealed);
    void dispatch(const PublicKey& from, wire::GroupMessage&& m);
    void on_timeout();
    void command(const Command& c);

    // --- membership.cpp: records, epochs, the coordinator's duties
    const PublicKey* acting_coordinator(const Group& g) const;
    bool we_coordinate(const Group& g) const;
    // relay: where the new record sends lines; none: where the current one does.
    void issue(const GroupId& id, std::vector<Member> members, Change change, const PublicKey& subject,
               const PublicKey& by, std::string title, const std::optional<std::optional<cmd::Relay>>& relay = {});
    void move(const GroupId& id, const std::optional<cmd::Relay>& relay);
    // The room a record's lines go through, for the host (Transport); none: member to member.
    void transport(const GroupId& id, const GroupRecordBody* body);
    bool adopt(const GroupId& id, const GroupRecordBody& body, const SignedBlob& blob, std::optional<GroupKey> key);
    void store_key(Group& g, const GroupRecordBody& body, const GroupKey& key);
    const wire::GroupEpochKey* find_key(const Group& g, std::uint64_t epoch, const PublicKey& coordinator) const;
    bool has_current_key(const Group& g) const;
    void send_record(const Group& g, const PublicKey& to);
    void maintain(const GroupId& id);
    void forward_invites(const GroupId& id, Group& g);
    void on_update(const PublicKey& from, const wire::GroupUpdate& u);
    void on_release(const PublicKey& from, const wire::GroupRelease& r);
    void on_rename(const PublicKey& from, const wire::GroupRename& r);
    void lost(const PublicKey& peer);
    void back(const PublicKey& peer);
    void leave(const GroupId& id);
    void remove(const GroupId& id, const PublicKey& member);
    void rename(const GroupId& id, const std::string& title);

    // --- entry.cpp: requests, answers and the entering transaction
    void request(const cmd::Request& r);
    void reply(const cmd::Reply& r);
    void invite(const cmd::Invite& i);
    void on_request(const PublicKey& from, const wire::GroupRequest& r);
    void on_answer(const PublicKey& from, const wire::GroupAnswer& a);
    void on_enter(const PublicKey& from, const wire::GroupEnter& e);
    void on_invite(const PublicKey& from, const wire::GroupInvite& i);
    void on_peer_enter(const PublicKey& from, const wire::GroupPeerEnter& p);
    void on_done(const PublicKey& from, const wire::GroupDone& d);
    void on_abort(const PublicKey& from, const wire::GroupAbort& a);
    void on_pending(const PublicKey& from, const GroupRecordBody& body, const SignedBlob& blob, ByteView key);
    void admit(const GroupId& id, Candidate c);
    void start_txn(const GroupId& id);
    void abort_txn(const GroupId& id, bool forget_forming = true);
    void begin_entering(const GroupId& id, const PublicKey& coordinator, std::vector<PublicKey> candidates,
                        SignedBlob proof = {});
    void ask_coordinator(const GroupId& id, Entering& e);
    void on_yes(const PublicKey& from, const wire::GroupAnswer& a);
    void peer_answered(const GroupId& id, const PublicKey& from, Answer answer);
    void entering_timeouts();
    void enter_failed(const GroupId& id, std::string why);

    // --- lines.cpp: lines, sync and resending
    void say(const GroupId& id, const std::string& text);
    void on_line(const PublicKey& from, const GroupLine& l);
    void process_line(const GroupId& id, const GroupLine& l);
    // lingering: g is a group we are entering again; lines it cannot place are dropped.
    void process_line(const GroupId& id, Group& g, const GroupLine& l, bool lingering);
    void merge_lingering(const GroupId& id, Group& g);
    void release_held(const GroupId& id);
    void sync(const GroupId& id, const PublicKey* only = nullptr);
    void on_sync(const PublicKey& from, const wire::GroupSync& s);
    void on_want(const PublicKey& from, const wire::GroupWant& w);
};

// The bytes a line's signature and tag cover (everything of the line but them).
Bytes line_header(const GroupLine& l);

}  // namespace dc::groups
