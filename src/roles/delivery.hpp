// The room client's delivery: the rooms it is in. Join with the ticket, send lines
// encrypted once under our line key (sealed once to every other member) and signed, keep each until every other member acked it
// (cumulative acks), resend unacked lines every resend_interval and at once after a
// (re)join; deliver every author's lines in sequence order exactly once, buffering gaps
// (bounded); follow a room to its new relay, and move the rooms we issued ourselves
// (no directory) when their relay dies. What must survive a restart goes out as store
// ops, saved before anything that rests on it is sent.
#pragma once

#include "hop.hpp"
#include "measuring.hpp"

#include <functional>

namespace dc::roles::detail {

struct OutLine {
    MessageId id{};
    TimeMs sent = 0;
    TimeMs last_tx = 0;
    std::string text;
};

using Outbox = std::map<std::uint64_t, OutLine>;

// Our line key sealed to one member's room key. Once the member's ack says it opened this
// copy, it holds the key: new lines carry an empty copy for it (resends carry every copy).
struct KeyCopy {
    KxPublicKey kx{};
    Bytes sealed;
    bool held = false;
};

struct Held {
    MessageId id{};
    TimeMs sent = 0;
    std::string text;
};

// What we send to one member and what it sends us in a room are authenticated with two
// keys made from our room key and the member's (its signed MemberKey): made once, kept
// while the member's key stays the same.
struct PairKeys {
    KxPublicKey kx{};          // the member's room key they were made from
    core::SymmetricKey to{};   // tags on our lines and acks to the member
    core::SymmetricKey from{}; // tags on its lines and acks to us
    PairKeys() = default;
    PairKeys(const PairKeys&) = default;
    PairKeys& operator=(const PairKeys&) = default;
    ~PairKeys() {
        crypto::wipe(to);
        crypto::wipe(from);
    }
};

// The pair keys of us and them in room, from our room key's secret and their room key;
// none for a low-order key.
std::optional<PairKeys> make_pair_keys(core::Crypto& cr, const RoomId& room, const KxSecretKey& our_sk,
                                       const std::string& us, const KxPublicKey& their_kx, const std::string& them);
// The tag of body under key (keyed BLAKE2b, 16 bytes), and its check in constant time.
std::array<std::uint8_t, 16> member_tag(core::Crypto& cr, const core::SymmetricKey& key, ByteView body);
bool tag_matches(core::Crypto& cr, const core::SymmetricKey& key, ByteView body, const std::array<std::uint8_t, 16>& tag);

// One author's lines as we receive them.
struct Inbound {
    Bytes key_copy;       // the author's line key as sealed to us in its last line, and opened:
    core::SymmetricKey key{};  // opened once, not once per line
    std::uint64_t run = 0;       // the author's run these seqs belong to, 0: nothing seen yet
    std::uint64_t expected = 0;  // next seq to deliver, 0: nothing seen yet
    std::map<std::uint64_t, Held> buffer;  // out of order, bounded
    std::vector<std::uint64_t> retired;    // the author's earlier runs: their stragglers are dropped
};

struct Room {
    RoomId id{};
    wire::SignedBlob ticket_blob;
    wire::Ticket ticket;
    std::vector<std::string> members;  // shown; with a directory: who accepted
    std::set<std::string> required;    // whose acks an own line waits for
    bool direct = false;   // no directory: tickets signed by a member
    bool mine = false;     // direct, and we issued it (we relocate it)
    bool joined = false;
    bool announced = false;
    TimeMs next_join = 0;
    std::map<std::string, KxPublicKey> kx;  // members' sealing keys (verified roster)
    std::set<std::string> on_relay;          // who the relay's last roster says is joined
    std::map<std::string, Addr> served_at;   // where it serves them (a room's files go straight there)
    std::set<std::string> distrusted;        // members whose ticket key is not the one our node pinned
    std::uint64_t run = 0;  // our lines' run here: this process's, or the stored one of a restored room
    std::uint64_t next_seq = 1;
    Outbox outbox;
    // Our lines' key in this room for this process: each line is encrypted once under it
    // (counter: its seq), and the key is sealed once to each member's sealing key.
    core::SymmetricKey line_key{};
    std::map<std::string, KeyCopy> key_copies;
    std::map<std::string, PairKeys> pairs;  // per other member
    std::optional<Hop> hop;  // from the relay's last roster: its lines and acks to us
    bool hop_up = false;     // the roster said: our lines and acks to the relay go on the hop too
    std::map<std::string, std::uint64_t> acked;
    TimeMs next_resend = 0;
    std::map<std::string, Inbound> in;
    // direct rooms we issued: where the others are, and the move being announced
    std::map<std::string, Addr> peer_addrs;
    std::uint64_t move_id = 0;
    std::set<std::string> move_acked;
    TimeMs next_move_invite = 0;
};

class Delivery {
public:
    // Makes this process's sealing key: members seal lines to it, for this run only.
    Delivery(RoomContext& ctx, Measuring& measuring);
    ~Delivery();
    Delivery(const Delivery&) = delete;
    Delivery& operator=(const Delivery&) = delete;

    // Our lines' run in new rooms, and the rooms a killed or quit process kept: each
    // with its ticket, its own lines not yet acked by everyone (sent again in the same
    // run, so nobody sees one twice) and where every author's lines stood (so we show
    // none twice either).
    void resume(TimeMs now, std::uint64_t run, RoomSnapshot snap);

    Room* find(const RoomId& id);
    const Room* find(const RoomId& id) const;
    // The room of a ticket, opened if new (none when there are too many rooms).
    Room* open(TimeMs now, const wire::SignedBlob& blob, const wire::Ticket& t, bool direct);
    // We accepted a direct invite: the room of its ticket, waiting for the inviter's acks.
    void join_invited(TimeMs now, const wire::SignedBlob& blob, const wire::Ticket& t, const std::string& inviter);
    // A peer accepted our direct invite: the room we issued, at the address it answered from.
    void open_issued(TimeMs now, const wire::SignedBlob& blob, const wire::Ticket& t, const std::string& peer,
                     const Addr& peer_addr);

    // The chats a directory's ClientState lists. True when one of them is listed with an
    // older ticket than ours (the directory must hear of ours at once).
    bool on_chats(TimeMs now, const std::vector<wire::ChatInfo>& chats, const PublicKey& dir_key);
    // What a heartbeat carries for the rooms: chats the directory does not list.
    void add_held(wire::ClientHeartbeat& hb) const;
    // Leaves the directory has not confirmed yet, sent again.
    void repeat_leaves(const Addr& directory);

    void on_roster(TimeMs now, const Incoming& in, const wire::RoomRoster& ro);
    void on_line(const wire::RoomLine& rl);
    void on_ack(const wire::RoomAck& ra);
    // A room hop packet from the relay of one of our rooms: a line or an ack.
    void on_hop(ByteView datagram);
    void on_refused(TimeMs now, const Incoming& in, const wire::RoomRefused& rf);
    // A direct invite for a room we are in: its issuer moving it. False when the room is
    // new to us (an invitation, for the request flow).
    bool on_move_invite(TimeMs now, const Incoming& in, const wire::Invite& iv, const wire::Ticket& t);
    // A member confirmed the move of a room we issued.
    void on_move_answer(const Incoming& in, const wire::InviteAnswer& a);

    void send_line(TimeMs now, const room_cmd::Send& c);
    // A group's room: joined, or followed to the ticket's relay and list.
    void carry(TimeMs now, const wire::SignedBlob& blob);
    std::optional<GroupRoomLine> poll_group_line() { return pop_front(group_lines_); }

    // A room's files (darkchat-rooms(7), FILES): messages straight between members, to
    // where the relay's roster says each is served.
    bool send_file(const PublicKey& to, ByteView message);
    void on_file(const Incoming& in, const wire::RoomFile& f);
    std::optional<RoomFileMessage> poll_file() { return pop_front(file_messages_); }
    std::vector<RoomMemberView> members(const RoomId& id) const;
    std::optional<Addr> served_at(const PublicKey& key) const;
    // A member of one of our rooms, with the key its ticket names, where the relay serves it.
    bool member_at(const PublicKey& key, const Addr& a) const;
    void leave(const RoomId& id);
    // Rooms with nothing left to deliver are left; the others are kept for next time.
    void quit();

    // Moves of rooms we issued, joins not yet answered, resends due.
    void handle_timeout(TimeMs now, Selector& sel);
    void next_wakeup(TimeMs now, std::optional<TimeMs>& t) const;
    std::optional<StoreOp> poll_store();
    // One cumulative ack per author for the lines of the turn (queued by on_line), sent
    // when the turn's store ops are polled, or before the transmits, whichever is first.
    void send_due_acks();
    // The lines typed in the turn (queued by send_line), packed a packet at a time, sent
    // at the same point as the acks (after the store ops that keep them).
    void send_due_lines();

    // The relays of our rooms, in room order.
    std::vector<Addr> relays() const;
    bool on_relay(const Addr& a) const;
    // The relay of one of our rooms, with the key its ticket names, at that address.
    bool relay_of_a_room(const PublicKey& key, const Addr& a) const;
    std::vector<RoomView> view() const;

private:
    static constexpr std::size_t kRetiredRuns = 8;
    // File messages from members not yet taken by the file part (it takes them after every input).
    static constexpr std::size_t kMaxFileMessages = 1024;
    // Resends at most this many lines per room per interval (pacing).
    static constexpr std::size_t kResendBurst = 64;
    // Lines packed into one Line while its encoding stays within this many bytes (well
    // under a datagram with the envelope or the hop around it); a longer line goes alone.
    static constexpr std::size_t kLinePacking = 900;

    void touch(const Room& r) { dirty_rooms_.insert(r.id); }
    // What the user sees of a room; a group's room says nothing of its own (the group
    // machine shows what happens to the group), problems aside.
    void show(const Room& r, RoomEvent e) {
        if (!r.ticket.group) ctx_.event(std::move(e));
    }
    RoomRecord record(const Room& r) const;
    void forget(const RoomId& id);
    void flush();
    void check_keys(Room& r);
    void set_members(Room& r, const std::vector<std::string>& members, const std::vector<std::string>& pending = {});
    void move(TimeMs now, Room& r, const wire::SignedBlob& blob, const wire::Ticket& t, MoveReason why,
              std::uint32_t old_ms, std::uint32_t new_ms);
    static bool missing_keys(const Room& r);
    void join(TimeMs now, Room& r);
    // Sends our line at `first` and, in the same packet, the ones after it while their
    // seqs follow on, `due` takes them and the packet stays within kLinePacking. Returns
    // the first line not sent.
    Outbox::iterator transmit(TimeMs now, Room& r, Outbox::iterator first, const std::function<bool(const OutLine&)>& due);
    void resend(TimeMs now, Room& r, bool all);
    void trim(Room& r);
    void send_ack(Room& r, const std::string& author, const Inbound& inb);
    // Our line or ack to the room's relay: on the hop when the relay takes it so, else signed.
    void to_relay(Room& r, wire::MsgType t, const Bytes& payload);
    // The room whose hop has this index, or none.
    Room* by_hop(std::uint32_t index);
    // The keys shared with user in r, or none (its room key unknown yet, or unusable).
    const PairKeys* pair(Room& r, const std::string& user);
    // Our tags on body for each of `to`, in that order (zero for one whose key we
    // cannot make), and the check of the tag for us at place `at` of a sender's tags.
    Bytes tags_for(Room& r, ByteView body, const std::vector<std::string>& to);
    bool tag_ok(Room& r, const std::string& from, ByteView body, const Bytes& tags, std::size_t at);
    // blob signed by from's key in the ticket.
    bool authentic(Room& r, const std::string& from, const wire::SignedBlob& blob);
    // The text of a line for us, or none (no copy for us yet, or it does not open).
    // (An empty copy: the key we hold.)
    std::optional<Bytes> open_text(Inbound& inb, std::uint64_t seq, const Bytes& text, const wire::SealedCopy& mine);
    void relocate(TimeMs now, Room& r, Selector& sel);

    RoomContext& ctx_;
    Measuring& measuring_;
    KxSecretKey kx_sk_{};
    KxPublicKey kx_pk_{};
    // This process's run: room lines carry it, so that receivers tell a restarted
    // author (numbering from 1 again) from a replay of old lines.
    std::uint64_t run_ = 0;
    std::map<RoomId, Room> rooms_;
    std::set<RoomId> listed_;  // chats in the directory's last ClientState
    std::set<RoomId> left_;    // left, until the directory stops listing them
    // What the store must keep (model.hpp): ops in order, plus rooms and cursors that
    // changed, written out (coalesced) when the driver polls.
    std::deque<StoreOp> ops_;
    std::set<RoomId> dirty_rooms_;
    std::set<std::pair<RoomId, std::string>> dirty_cursors_;
    std::set<std::pair<RoomId, std::string>> acks_due_;  // (room, author) acks for the turn's lines
    std::map<RoomId, TimeMs> lines_due_;                  // rooms with lines typed in the turn, and when
    std::deque<GroupRoomLine> group_lines_;               // delivered lines of groups' rooms
    std::deque<RoomFileMessage> file_messages_;           // file messages from members
};

}  // namespace dc::roles::detail
