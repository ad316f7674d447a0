// The room client's delivery: the rooms it is in. Join with the ticket, send lines
// encrypted once under our line key (sealed once to every other member) and signed, keep each until every other member acked it
// (cumulative acks), resend unacked lines every resend_interval and at once after a
// (re)join; deliver every author's lines in sequence order exactly once, buffering gaps
// (bounded); follow a room to its new relay, and move the rooms we issued ourselves
// (no directory) when their relay dies. What must survive a restart goes out as store
// ops, saved before anything that rests on it is sent.
#pragma once

#include "delivery_state.hpp"

#include <functional>

namespace dc::roles::detail {

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
    // One member's ack of our lines in r: tagged (tagged_body and tags) or signed.
    void take_ack(Room& r, const Bytes& tagged_body, const Bytes& tags, const wire::SignedBlob& signed_ack);
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
    HopFloor hop_floor_;  // past every counter a hop of ours, gone since, used (hop.hpp)
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
