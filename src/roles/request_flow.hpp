// The room client's request flow: asking for chats and answering invitations. With a
// directory it is state-synced: the stages come in the directory's ClientState, and our
// requests and answers are repeated with every heartbeat until the state shows them.
// Without one, invites go straight to the peer with a ticket we sign, and are repeated
// until answered. Opening the room that follows an accept is delivery's: the flow says
// which ticket to open.
#pragma once

#include "room_context.hpp"

namespace dc::roles::detail {

struct OutRequest {
    std::uint64_t id = 0;
    std::vector<std::string> users;
    TimeMs created = 0;
    TimeMs asked = 0;           // when it was (last) sent to a directory that did not list it
    bool seen = false;          // the directory's state lists it
    bool err_reported = false;  // SERVER_ERR shown for a directory that never answered
    std::map<std::string, std::pair<Stage, std::uint32_t>> shown;  // last stage shown per user
    // direct (no directory)
    bool direct = false;
    RoomId room{};
    wire::SignedBlob ticket;
    std::map<std::string, std::vector<Addr>> addrs;
    std::map<std::string, TimeMs> next_remind;
    TimeMs next_send = 0;
};

struct InInvite {
    std::uint64_t id = 0;  // the directory's id, or the inviter's (direct)
    std::string from;
    std::vector<std::string> others;
    std::optional<bool> answer;
    bool direct = false;
    Addr from_addr;
    wire::SignedBlob ticket;
    wire::Ticket t;
    TimeMs received = 0;
};

// A direct room to open now: its ticket, and the peer whose accept opens it.
struct Accepted {
    wire::SignedBlob blob;
    wire::Ticket ticket;
    std::string peer;
    Addr peer_addr;  // where the peer answered from (our own invites only)
};

// What a directory's ClientState changed in the flow.
struct StateNews {
    bool fresh_invite = false;  // an invite to acknowledge at once
    bool ask_again = false;     // a request the directory forgot
};

class RequestFlow {
public:
    // first_id: our first request's number, distinct across restarts.
    RequestFlow(RoomContext& ctx, std::uint64_t first_id) : ctx_(ctx), next_id_(first_id) {}

    // \request. cands: the alive relays a direct request may use; sel picks one.
    void request(TimeMs now, const room_cmd::Request& c, const std::vector<Candidate>& cands, Selector& sel);
    // \accept, \decline: a direct accept returns the room to open.
    std::optional<Accepted> answer(const std::string& from, bool accept);

    // The requests and invites of a directory's ClientState (outgoing, incoming).
    StateNews on_state(TimeMs now, const wire::ClientState& s);
    // What the directory's state does not show yet, repeated with a heartbeat.
    void repeat_to(const Addr& directory);
    // The directory stopped answering: every open request ends with SERVER_ERR.
    void directory_lost();

    // A direct ticket (ours or a peer's) checked: signed by its issuer, who is a member
    // and who sent it, and naming us with our key.
    std::optional<wire::Ticket> direct_ticket(const Incoming& in, const wire::SignedBlob& blob);
    void on_invite(TimeMs now, const Incoming& in, const wire::Invite& iv, const wire::Ticket& t);
    std::optional<Accepted> on_invite_answer(const Incoming& in, const wire::InviteAnswer& a);

    // Request timers (directory silence, reminders, time-outs, direct invites resent).
    void handle_timeout(TimeMs now);
    // Answered or forgotten direct invites are dropped after request_timeout.
    void expire_invites(TimeMs now);
    void next_wakeup(TimeMs now, std::optional<TimeMs>& t) const;

    std::vector<InviteView> invites() const;
    std::size_t open_requests() const { return requests_.size(); }

private:
    static Stage shown_stage(const OutRequest& r, const std::string& user);
    static bool all_final(const OutRequest& r);
    void show_stage(OutRequest& r, const std::string& user, Stage st, std::uint32_t reminders, const std::string& detail);
    void direct_request(TimeMs now, const room_cmd::Request& c, const std::vector<Candidate>& cands, Selector& sel);
    void send_invites(TimeMs now, OutRequest& r);
    void direct_timers(TimeMs now, OutRequest& r);
    InInvite* find_invite(const std::string& from);

    RoomContext& ctx_;
    std::map<std::uint64_t, OutRequest> requests_;  // by our id
    std::uint64_t next_id_ = 1;
    std::map<std::uint64_t, InInvite> dir_invites_;  // by directory id
    std::map<std::pair<std::string, std::uint64_t>, InInvite> direct_invites_;  // by (from, their id)
};

}  // namespace dc::roles::detail
