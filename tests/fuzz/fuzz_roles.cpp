// Fuzz target: the decoders of the directory/relay/room payloads (roles_wire.hpp) and
// wire::peek_type. Every decode that succeeds must respect the limits of
// roles_wire.hpp and survive decode, encode, decode again with an equal value, and
// encode again to the same bytes (the encoding is canonical). peek_type, when it names
// a type, must name the one parse_packet reads, and a packet of a role type must be
// routed to the roles (32..63).

#include "fuzz_common.hpp"

#include "darkchat/roles_wire.hpp"

#include <cstddef>
#include <cstdint>

using namespace dc;

namespace {

void users_ok(const std::vector<std::string>& v, std::string_view what) {
    fuzz::expect(v.size() <= wire::kMaxRoomMembers, what, "too many users");
    for (auto& u : v) fuzz::expect(valid_user_name(u), what, "invalid user name");
}

// Limits a decoded value must respect (beyond what equality checks).
void limits(const wire::RelayHeartbeat& p) { fuzz::check_addr(p.addr, "relayHeartbeat addr"); }
void limits(const wire::RelayAck&) {}
void limits(const wire::ClientHeartbeat& p) {
    fuzz::expect(p.delays.size() <= wire::kMaxRoleRelays && p.held.size() <= wire::kMaxRoleRooms, "clientHeartbeat", "too long");
    for (auto& h : p.held) users_ok(h.members, "clientHeartbeat members");
}
void limits(const wire::ClientState& p) {
    fuzz::expect(p.relays.size() <= wire::kMaxRoleRelays && p.chats.size() <= wire::kMaxRoleRooms &&
                     p.outgoing.size() <= wire::kMaxRoleRequests && p.incoming.size() <= wire::kMaxRoleRequests,
                 "clientState", "too long");
    for (auto& r : p.relays) fuzz::check_addr(r.addr, "clientState relay");
    for (auto& o : p.outgoing) fuzz::expect(valid_user_name(o.user) && o.detail.size() <= wire::kMaxReason, "clientState", "bad outgoing");
    for (auto& i : p.incoming) {
        fuzz::expect(valid_user_name(i.from), "clientState", "bad incoming");
        users_ok(i.others, "clientState others");
    }
    for (auto& c : p.chats) {
        users_ok(c.members, "clientState members");
        users_ok(c.pending, "clientState pending");
    }
}
void limits(const wire::ChatRequest& p) { users_ok(p.users, "chatRequest"); }
void limits(const wire::ChatAnswer&) {}
void limits(const wire::Probe& p) { fuzz::expect(p.padding.size() <= wire::kMaxProbePadding, "probe", "padding too long"); }
void limits(const wire::ProbeReply&) {}
void limits(const wire::Ticket& p) {
    fuzz::expect(p.members.size() <= wire::kMaxRoomMembers, "ticket", "too many members");
    for (auto& m : p.members) fuzz::expect(valid_user_name(m.user), "ticket", "bad member");
    fuzz::expect(p.issuer.empty() || valid_user_name(p.issuer), "ticket", "bad issuer");
}
void limits(const wire::MemberKey& p) { fuzz::expect(valid_user_name(p.user), "memberKey", "bad user"); }
void limits(const wire::RoomJoin&) {}
void limits(const wire::RoomRoster& p) {
    fuzz::expect(p.member_keys.size() <= wire::kMaxRoomMembers && p.addrs.size() <= wire::kMaxRoomMembers, "roomRoster",
                 "too long");
}
void limits(const wire::RoomFile& p) { fuzz::expect(p.message.size() <= wire::kMaxRoomFile, "roomFile", "too long"); }
void limits(const wire::LineBody& p) {
    fuzz::expect(valid_user_name(p.author) && p.copies.size() <= wire::kMaxRoomMembers, "line", "bad");
    fuzz::expect(p.text.size() <= wire::kMaxText + 16, "line", "text too long");
    for (auto& c : p.copies) fuzz::expect(valid_user_name(c.to) && c.sealed.size() <= wire::kMaxSealed, "line", "bad copy");
    fuzz::expect(p.next.size() <= wire::kMaxNextLines, "line", "too many next lines");
    for (auto& n : p.next) fuzz::expect(n.text.size() <= wire::kMaxRoomPayload + 16, "line", "next text too long");
}
void limits(const wire::RoomLine&) {}
void limits(const wire::AckBody& p) { fuzz::expect(valid_user_name(p.from) && valid_user_name(p.author), "ack", "bad user"); }
void limits(const wire::RoomAck& p) {
    fuzz::expect(valid_user_name(p.author), "roomAck", "bad author");
    fuzz::expect(p.more.size() <= wire::kMaxRoomMembers, "roomAck", "too many gathered acks");
    for (auto& m : p.more) fuzz::expect(m.tags.size() <= wire::kMemberTag, "roomAck", "gathered tag too long");
}
void limits(const wire::RoomLeave&) {}
void limits(const wire::RoomRefused& p) { fuzz::expect(p.reason.size() <= wire::kMaxReason, "roomRefused", "reason too long"); }
void limits(const wire::Invite&) {}
void limits(const wire::InviteAnswer&) {}

template <typename Decode>
void check(ByteView in, Decode decode, std::string_view name) {
    auto v = decode(in);
    if (!v) return;
    limits(*v);
    const Bytes once = wire::encode(*v);
    auto again = decode(ByteView(once));
    if (!again) fuzz::die(name, "re-encoded value does not decode: " + again.error());
    fuzz::expect(*again == *v, name, "value differs after a round trip");
    fuzz::expect(wire::encode(*again) == once, name, "encoding is not stable");
}

// Signed bodies inside payloads are decoded by the receivers too.
void check_bodies(ByteView in) {
    if (auto j = wire::decode_room_join(in)) {
        check(j->ticket.body, wire::decode_ticket, "ticket in roomJoin");
        check(j->member_key.body, wire::decode_member_key, "memberKey in roomJoin");
    }
    if (auto l = wire::decode_room_line(in)) check(l->line.body, wire::decode_line_body, "line in roomLine");
    if (auto a = wire::decode_room_ack(in)) {
        check(a->ack.body, wire::decode_ack_body, "ack in roomAck");
        check(a->tagged, wire::decode_ack_body, "tagged ack in roomAck");
        for (auto& m : a->more) check(m.tagged, wire::decode_ack_body, "gathered ack in roomAck");
    }
    if (auto h = wire::decode_client_heartbeat(in))
        for (auto& c : h->held) check(c.ticket.body, wire::decode_ticket, "ticket in clientHeartbeat");
    if (auto s = wire::decode_client_state(in))
        for (auto& c : s->chats) check(c.ticket.body, wire::decode_ticket, "ticket in clientState");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bool ready = fuzz::init();
    (void)ready;
    const ByteView in(data, size);
    check(in, wire::decode_relay_heartbeat, "relayHeartbeat");
    check(in, wire::decode_relay_ack, "relayAck");
    check(in, wire::decode_client_heartbeat, "clientHeartbeat");
    check(in, wire::decode_client_state, "clientState");
    check(in, wire::decode_chat_request, "chatRequest");
    check(in, wire::decode_chat_answer, "chatAnswer");
    check(in, wire::decode_probe, "probe");
    check(in, wire::decode_probe_reply, "probeReply");
    check(in, wire::decode_ticket, "ticket");
    check(in, wire::decode_member_key, "memberKey");
    check(in, wire::decode_room_join, "roomJoin");
    check(in, wire::decode_room_roster, "roomRoster");
    check(in, wire::decode_line_body, "line");
    check(in, wire::decode_room_line, "roomLine");
    check(in, wire::decode_ack_body, "ack");
    check(in, wire::decode_room_ack, "roomAck");
    check(in, wire::decode_room_leave, "roomLeave");
    check(in, wire::decode_room_refused, "roomRefused");
    check(in, wire::decode_invite, "invite");
    check(in, wire::decode_invite_answer, "inviteAnswer");
    check(in, wire::decode_room_file, "roomFile");
    check_bodies(in);

    // Routing: peek_type agrees with a full parse.
    const auto peeked = wire::peek_type(in);
    if (auto p = wire::parse_packet(in)) {
        if (peeked) fuzz::expect(*peeked == p->header.type, "peek_type", "differs from parse_packet");
        check_bodies(p->payload);
    }
    if (peeked && *peeked != wire::MsgType::channel_data)
        fuzz::expect(fuzz::known_type(static_cast<std::uint8_t>(*peeked)), "peek_type", "unknown type");
    fuzz::check_channel_data(in);
    return 0;
}
