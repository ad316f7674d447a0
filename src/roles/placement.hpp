// The directory's placement of chats on relays: which relay a new chat goes to (by the
// configured Strategy), and when a chat moves (relocation). Decisions over the
// directory's tables with time passed in; the directory applies them and tells the
// members. Placement owns the strategy's state (its random tie breaks and round-robin
// cursor), so that every choice draws from one Selector in the order choices are made.
#pragma once

#include "envelope.hpp"
#include "select.hpp"

#include <span>

namespace dc::roles::detail {

struct RelayRec {
    PublicKey key{};
    Addr addr;
    TimeMs last = 0;
    Load load;
    bool alive = false;
};

struct Chat {
    RoomId room{};
    std::vector<std::string> members;         // accepted (and the requester), in order
    std::vector<std::string> pending;         // invitees who have not answered yet
    std::vector<wire::TicketMember> invited;  // the ticket's member list (fixed)
    PublicKey relay_key{};
    Addr relay;
    std::uint32_t epoch = 1;
    TimeMs moved = 0;
    wire::SignedBlob ticket;
    MoveReason reason{};
    bool ever_moved = false;
    std::uint32_t old_ms = 0, new_ms = 0;
    // A conversation group's (darkchat-groups(7), RELAYS): placed and moved like a chat,
    // but its tickets are its coordinator's, so the directory signs none and tells only
    // the coordinator (owner) where it is (ClientState::placements).
    bool group = false;
    std::string owner;
};

using RelayTable = std::map<PublicKey, RelayRec>;
using ChatTable = std::map<RoomId, Chat>;

// What this directory has placed on each relay. A relay's heartbeat lags the chats
// just given to it: least-loaded counts at least these, so that the chats of a dead
// relay, moved in one pass, spread out instead of all going to the same relay.
using Placed = std::map<PublicKey, Load>;
Placed placed(const ChatTable& chats);
// Counts a chat on its relay (sign +1) or takes it off (-1).
void place(Placed& p, const Chat& ch, int sign);
// The relays in service, in key order, with their load raised to what is placed on them.
std::vector<Candidate> candidates(const RelayTable& relays, const Placed* placed = nullptr);

// A chat's move: where to, why, and (reason better or unreachable) its largest member
// rtt at the old and the new relay.
struct Move {
    Candidate to;
    MoveReason reason{};
    std::uint32_t old_ms = 0;
    std::uint32_t new_ms = 0;
};

class Placement {
public:
    Placement(const DirectoryConfig& cfg, std::uint64_t seed) : cfg_(cfg), sel_(seed) {}

    // The strategy in force (client-round-robin means round robin to a directory).
    Strategy strategy() const;
    // The relay for a chat whose participants measured parts.
    std::optional<Candidate> choose(const RelayTable& relays, std::span<const DelayVector> parts, const Placed& placed);
    // Where ch moves now, if it does:
    //  - a chat whose relay is out of service moves at once (to the strategy's choice;
    //    if min-max has no relay measured by everyone, to any relay in service, round robin);
    //  - with min-max, a chat moves to a merely better relay only when the new maximum
    //    delay is clearly better (Hysteresis) and the chat has stayed min_dwell where it
    //    is. Other strategies never move a live chat;
    //  - with min-max, a chat whose relay some member no longer measures (its probes go
    //    unanswered: unreachable from there) moves, after min_dwell, to the best relay
    //    every member measures.
    // cands: candidates(relays); parts: the members' delay vectors (of those registered).
    std::optional<Move> relocation(TimeMs now, const RelayTable& relays, const std::vector<Candidate>& cands,
                                   const Chat& ch, std::span<const DelayVector> parts, const Placed& placed);

private:
    const DirectoryConfig& cfg_;
    Selector sel_;
};

}  // namespace dc::roles::detail
