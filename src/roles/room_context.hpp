// Internal to the room client: what its parts (measuring, the request flow, delivery)
// share. The configuration, the envelope every packet goes out through, the events
// the user sees in the order the parts raised them, and the check of ticket keys
// against the keys our node pinned, with the warnings already shown.
#pragma once

#include "envelope.hpp"
#include "select.hpp"

#include <set>

namespace dc::roles::detail {

class RoomContext {
public:
    RoomContext(const RoomClientConfig& cfg, Envelope& env) : cfg(cfg), env(env) {}

    const RoomClientConfig& cfg;
    Envelope& env;

    const std::string& me() const { return env.id().user; }
    void event(RoomEvent e) { events_.push_back(std::move(e)); }
    void problem(std::string s) { event(room_ev::Problem{std::move(s)}); }
    std::optional<RoomEvent> poll_event() { return pop_front(events_); }

    // A ticket member whose key is not the one our node pinned for that name (the
    // directory, or whoever signed the ticket, vouches for another key).
    bool impostor(const wire::TicketMember& m) const;
    // Says once per user and place that a ticket's key for user is not trusted.
    void warn_key(const std::string& user, const std::string& where);

    // A ticket signed by us: rooms without a directory are vouched for by their issuer.
    wire::SignedBlob issue(TimeMs now, const RoomId& id, const Candidate& relay, std::uint32_t epoch,
                           std::vector<wire::TicketMember> members);
    // Our answer to an invite (1 still open, 2 accepted, 3 declined), by room and epoch.
    void answer_invite(const Addr& to, std::uint64_t id, const RoomId& room, std::uint32_t epoch, std::uint8_t answer);

private:
    static constexpr std::size_t kMaxWarned = 64;  // bounded: made-up names cannot grow it
    std::deque<RoomEvent> events_;
    std::set<std::string> warned_;
};

// The names a ticket lists, in its order.
std::vector<std::string> member_names(const wire::Ticket& t);

inline bool contains_addr(const std::vector<Addr>& v, const Addr& a) {
    return std::find(v.begin(), v.end(), a) != v.end();
}

// Answers on the wire to an invite.
inline constexpr std::uint8_t kInviteOpen = 1, kInviteAccepted = 2, kInviteDeclined = 3;

}  // namespace dc::roles::detail
