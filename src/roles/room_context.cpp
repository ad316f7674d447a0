// What the parts of a room client share (room_context.hpp).

#include "room_context.hpp"

namespace dc::roles::detail {

bool RoomContext::impostor(const wire::TicketMember& m) const {
    if (!cfg.pinned || m.user == me()) return false;
    auto p = cfg.pinned(m.user);
    return p && *p != m.key;
}

void RoomContext::warn_key(const std::string& user, const std::string& where) {
    if (warned_.size() >= kMaxWarned) warned_.clear();
    if (warned_.insert(user + "\n" + where).second)
        problem(where + ": its ticket gives " + user + " a key that is not the one pinned for " + user + " (\\keys " +
                user + "): not trusted");
}

wire::SignedBlob RoomContext::issue(TimeMs now, const RoomId& id, const Candidate& relay, std::uint32_t epoch,
                                    std::vector<wire::TicketMember> members) {
    wire::Ticket t;
    t.room = id;
    t.relay_key = relay.key;
    t.relay = relay.addr;
    t.epoch = epoch;
    t.members = std::move(members);
    t.issued = now;
    t.issuer = me();
    return env.sign(wire::encode(t));
}

void RoomContext::answer_invite(const Addr& to, std::uint64_t id, const RoomId& room, std::uint32_t epoch,
                                std::uint8_t answer) {
    env.send(to, wire::MsgType::invite_answer, wire::encode(wire::InviteAnswer{id, room, epoch, answer}));
}

std::vector<std::string> member_names(const wire::Ticket& t) {
    std::vector<std::string> v;
    for (auto& m : t.members) v.push_back(m.user);
    return v;
}

}  // namespace dc::roles::detail
