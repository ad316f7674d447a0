// Writes the seed corpus of fuzz_roles: make_roles_corpus OUT_DIR creates
// OUT_DIR/fuzz_roles with a valid payload of every directory/relay/room message,
// their signed bodies, a packet of every role type, and a few invalid ones.

#include "corpus_file.hpp"
#include "fuzz_common.hpp"

#include "darkchat/roles_wire.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>

using namespace dc;
using namespace dc::fuzz;

namespace {

namespace fs = std::filesystem;
fs::path out;

void put(const std::string& name, ByteView data) { fuzz::write_corpus_file(out, name, data, "make_roles_corpus"); }

void packet(const std::string& name, wire::MsgType t, ByteView payload) {
    wire::Header h;
    h.type = t;
    h.from_user = kAlice.name;
    h.from_session = kAlice.session;
    h.from_port = 7300;
    h.from_key = kAlice.pk;
    put("packet_" + name, wire::encode_packet(h, payload, kAlice.sk()));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2 || !init()) {
        std::fprintf(stderr, "usage: make_roles_corpus OUT_DIR\n");
        return 1;
    }
    out = fs::path(argv[1]) / "fuzz_roles";
    fs::create_directories(out);
    wire::RoomIdBytes room{};
    room.fill(0x3f);
    wire::Ticket ticket{room, kBob.pk, kBob.addr, 2, {{"alice", kAlice.pk}, {"carol", kCarol.pk}}, 1000, ""};
    const auto tblob = wire::sign_blob(wire::encode(ticket), kSelf.sk());
    wire::MemberKey mk{room, "alice", KxPublicKey{1, 2, 3}};
    const auto mblob = wire::sign_blob(wire::encode(mk), kAlice.sk());
    wire::LineBody line{room, "alice", 3, 2, MessageId{9}, 5000, {{"carol", Bytes(80, 7)}}, 0x1234, Bytes(21, 5), {}};
    const auto lblob = wire::sign_blob(wire::encode(line), kAlice.sk());
    wire::LineBody packed = line;
    packed.copies = {{"carol", {}}};
    packed.next = {{MessageId{10}, 5001, Bytes(19, 6)}, {MessageId{11}, 5002, Bytes(18, 7)}};
    wire::AckBody ack{room, "carol", "alice", 3, 0x1234, {}};
    const auto ablob = wire::sign_blob(wire::encode(ack), kCarol.sk());
    const wire::AckBody ack_bob{room, "bob", "alice", 2, 0x1234, Bytes(wire::kKeyMark, 9)};

    const std::pair<std::string, std::pair<wire::MsgType, Bytes>> all[] = {
        {"relay_heartbeat", {wire::MsgType::relay_heartbeat, wire::encode(wire::RelayHeartbeat{7, 1, 2, 30, kBob.addr})}},
        {"relay_ack", {wire::MsgType::relay_ack, wire::encode(wire::RelayAck{7, 99})}},
        {"client_heartbeat", {wire::MsgType::client_heartbeat,
                              wire::encode(wire::ClientHeartbeat{4, 99, true, {{kBob.pk, 12}, {kCarol.pk, 40}}, {{tblob, {"alice", "carol"}}}, 3, {}})}},
        {"client_state", {wire::MsgType::client_state,
                          wire::encode(wire::ClientState{5, 99, false, {{kBob.pk, kBob.addr}},
                                                         {{1, "bob", 4, 2, ""}, {1, "dave", 2, 0, "x"}},
                                                         {{8, "carol", {"bob"}}},
                                                         {{room, kBob.pk, kBob.addr, 2, {"alice", "carol"}, tblob, 2, 31, 12, {"dave"}}}, 0, {}})}},
        {"client_state_unchanged", {wire::MsgType::client_state, wire::encode(wire::ClientState{5, 99, true, {}, {}, {}, {}, 0, {}})}},
        {"chat_request", {wire::MsgType::chat_request, wire::encode(wire::ChatRequest{1, {"bob", "carol"}})}},
        {"chat_answer", {wire::MsgType::chat_answer, wire::encode(wire::ChatAnswer{8, true})}},
        {"probe", {wire::MsgType::probe, wire::encode(wire::Probe{77, Bytes(40, 0)})}},
        {"probe_reply", {wire::MsgType::probe_reply, wire::encode(wire::ProbeReply{77})}},
        {"room_join", {wire::MsgType::room_join, wire::encode(wire::RoomJoin{tblob, mblob})}},
        {"room_roster", {wire::MsgType::room_roster, wire::encode(wire::RoomRoster{room, 2, {mblob}, {}, false, {}})}},
        {"room_roster_hop", {wire::MsgType::room_roster, wire::encode(wire::RoomRoster{room, 2, {mblob}, KxPublicKey{4, 5}, true, {}})}},
        {"room_line", {wire::MsgType::room_line, wire::encode(wire::RoomLine{room, lblob, {}, {}})}},
        {"room_ack", {wire::MsgType::room_ack, wire::encode(wire::RoomAck{room, "alice", ablob, {}, {}, {}})}},
        // Authenticated to each member with a tag instead of a signature.
        {"room_line_tagged", {wire::MsgType::room_line,
                              wire::encode(wire::RoomLine{room, {}, lblob.body, Bytes(16, 0x21)})}},
        {"room_line_packed", {wire::MsgType::room_line,
                              wire::encode(wire::RoomLine{room, {}, wire::encode(packed), Bytes(16, 0x22)})}},
        {"room_ack_tagged", {wire::MsgType::room_ack,
                             wire::encode(wire::RoomAck{room, "alice", {}, ablob.body, Bytes(16, 0x22), {}})}},
        // The acks of several members to one author, gathered by the relay.
        {"room_ack_gathered", {wire::MsgType::room_ack,
                               wire::encode(wire::RoomAck{room, "alice", {}, ablob.body, Bytes(16, 0x22),
                                                          {{wire::encode(ack_bob), Bytes(16, 0x23)}}})}},
        {"room_leave", {wire::MsgType::room_leave, wire::encode(wire::RoomLeave{room})}},
        {"room_refused", {wire::MsgType::room_refused, wire::encode(wire::RoomRefused{room, "not invited"})}},
        {"chat_leave", {wire::MsgType::chat_leave, wire::encode(wire::RoomLeave{room})}},
        {"invite", {wire::MsgType::invite, wire::encode(wire::Invite{3, tblob})}},
        {"invite_answer", {wire::MsgType::invite_answer, wire::encode(wire::InviteAnswer{3, room, 2, 2})}},
        {"room_roster_addrs", {wire::MsgType::room_roster, wire::encode(wire::RoomRoster{room, 2, {mblob}, KxPublicKey{4, 5}, true,
                                                                                         {Addr::v4(127, 0, 0, 2, 7300)}})}},
        {"room_file", {wire::MsgType::room_file, wire::encode(wire::RoomFile{room, Bytes(40, 3)})}},
    };
    for (auto& [name, v] : all) {
        put(name, v.second);
        packet(name, v.first, v.second);
    }
    put("ticket", wire::encode(ticket));
    // A conversation group's room: its coordinator's ticket, a heartbeat naming the
    // group, and the state that places it.
    wire::Ticket group_ticket = ticket;
    group_ticket.issuer = "alice";
    group_ticket.group = true;
    const auto gblob = wire::sign_blob(wire::encode(group_ticket), kAlice.sk());
    put("ticket_group", wire::encode(group_ticket));
    const std::pair<std::string, std::pair<wire::MsgType, Bytes>> groups[] = {
        {"room_join_group", {wire::MsgType::room_join, wire::encode(wire::RoomJoin{gblob, mblob})}},
        {"client_heartbeat_groups",
         {wire::MsgType::client_heartbeat,
          wire::encode(wire::ClientHeartbeat{4, 99, false, {}, {}, 3, {{room, {"alice", "carol"}}}})}},
        {"client_state_placements",
         {wire::MsgType::client_state,
          wire::encode(wire::ClientState{5, 99, false, {{kBob.pk, kBob.addr}}, {}, {}, {}, 2,
                                         {{room, kBob.pk, kBob.addr, 1, 40, 12}}})}},
    };
    for (auto& [name, v] : groups) {
        put(name, v.second);
        packet(name, v.first, v.second);
    }
    put("member_key", wire::encode(mk));
    put("line", wire::encode(line));
    put("ack", wire::encode(ack));
    // Invalid: a truncated state, a ticket with a bad member, an empty input.
    Bytes st = wire::encode(wire::ClientState{5, 99, false, {{kBob.pk, kBob.addr}}, {}, {}, {}, 0, {}});
    st.resize(st.size() / 2);
    put("invalid_truncated_state", st);
    put("invalid_empty", {});
    Bytes huge_list = {0x81, 0x04, 0xdd, 0x7f, 0xff, 0xff, 0xff};  // {4: array of 2^31-1}
    put("invalid_huge_list", huge_list);
    std::printf("make_roles_corpus: wrote %zu inputs to %s\n", (std::size(all) + std::size(groups)) * 2 + 8, out.c_str());
    return 0;
}
