// The macros and output lines of rooms on relays (darkchat(1), ROOMS ON
// RELAYS). Helper scripts and the namespace test parse these lines: their
// shapes are fixed here.
#include "darkchat/cli.hpp"

#include <doctest/doctest.h>

using namespace dc;
using namespace dc::cli;
using namespace std::string_literals;

namespace {

roles::RoomId room_id() {
    roles::RoomId id{};
    id[0] = 0x3f, id[1] = 0xa2, id[2] = 0xc1, id[3] = 0xd0, id[4] = 0x99;
    return id;
}

Addr addr(const char* s) { return *Addr::parse(s); }

}  // namespace

TEST_CASE("the room macros parse; wrong arguments get one clear line") {
    auto req = std::get<roles::room_cmd::Request>(std::get<action::Room>(parse_line("\\request bob carol bob", 1)).command);
    CHECK(req.users == std::vector<std::string>{"bob", "carol"});
    CHECK(req.peers.empty());  // the driver fills them in
    CHECK(std::get<roles::room_cmd::Accept>(std::get<action::Room>(parse_line("\\accept alice", 1)).command).from == "alice");
    CHECK(std::get<roles::room_cmd::Accept>(std::get<action::Room>(parse_line("\\accept", 1)).command).from.empty());
    CHECK(std::get<roles::room_cmd::Decline>(std::get<action::Room>(parse_line("\\decline alice", 1)).command).from == "alice");
    CHECK(std::holds_alternative<action::Rooms>(parse_line("\\rooms", 1)));
    CHECK(std::holds_alternative<action::Relays>(parse_line("\\relays", 1)));
    CHECK(std::get<action::SwitchRoom>(parse_line("\\room 3FA2", 1)).prefix == "3fa2");
    CHECK(std::get<action::SwitchRoom>(parse_line("\\room", 1)).prefix.empty());
    CHECK(std::get<action::Leave>(parse_line("\\leave 3fa2c1d0", 1)).prefix == "3fa2c1d0");
    CHECK(std::get<action::Leave>(parse_line("\\leave", 1)).prefix.empty());

    CHECK(std::get<action::Problem>(parse_line("\\request", 1)).text == "usage: \\request <username> [<username>...]");
    CHECK(std::get<action::Problem>(parse_line("\\request b@d", 1)).text == "not a user name: b@d");
    CHECK(std::get<action::Problem>(parse_line("\\accept a b", 1)).text == "usage: \\accept [username]");
    CHECK(std::get<action::Problem>(parse_line("\\room xyz", 1)).text == "not a room id: xyz (\\rooms lists them)");
    CHECK(std::get<action::Problem>(parse_line("\\rooms now", 1)).text == "usage: \\rooms");
    CHECK(help_text().find("\\request <user>...") != std::string::npos);
}

TEST_CASE("room events render as the documented lines") {
    using namespace roles::room_ev;
    auto r = room_id();
    CHECK(render(roles::RoomEvent{RequestStage{"bob", roles::Stage::ack_conn, ""}}) == "* request bob: ACK_CONN");
    CHECK(render(roles::RoomEvent{RequestStage{"bob", roles::Stage::server_err, "no relay alive"}}) ==
          "* request bob: SERVER_ERR (no relay alive)");
    CHECK(render(roles::RoomEvent{RequestStage{"nobody", roles::Stage::user_not_found, ""}}) ==
          "* request nobody: USER_NOT_FOUND");
    CHECK(render(roles::RoomEvent{Invited{"alice", {}}}) == "* alice asks for a chat: \\accept alice or \\decline alice");
    CHECK(render(roles::RoomEvent{Invited{"alice", {"carol"}}}) ==
          "* alice asks for a chat (with carol): \\accept alice or \\decline alice");
    CHECK(render(roles::RoomEvent{RoomJoined{r, addr("127.0.0.1:7401"), {"alice", "bob"}}}) ==
          "* room 3fa2c1d0 on relay 127.0.0.1:7401 with alice, bob");
    CHECK(render(roles::RoomEvent{RoomMoved{r, addr("127.0.0.1:7401"), addr("127.0.0.1:7402"), roles::MoveReason::relay_died, 0, 0}}) ==
          "* room 3fa2c1d0 moved to relay 127.0.0.1:7402 (relay died)");
    CHECK(render(roles::RoomEvent{RoomMoved{r, addr("127.0.0.1:7401"), addr("127.0.0.1:7402"), roles::MoveReason::better, 31, 12}}) ==
          "* room 3fa2c1d0 moved to relay 127.0.0.1:7402 (better: 12 ms instead of 31 ms)");
    CHECK(render(roles::RoomEvent{RoomMoved{r, addr("127.0.0.1:7401"), addr("127.0.0.1:7402"), roles::MoveReason::better, 0, 0}}) ==
          "* room 3fa2c1d0 moved to relay 127.0.0.1:7402 (better)");
    CHECK(render(roles::RoomEvent{RoomMoved{r, addr("127.0.0.1:7401"), addr("127.0.0.1:7402"), roles::MoveReason::unreachable, 0, 9}}) ==
          "* room 3fa2c1d0 moved to relay 127.0.0.1:7402 (unreachable for a member)");
    Line in{r, "alice", "hello", 0, {}, false};
    CHECK(render(roles::RoomEvent{in}) == "[3fa2c1d0] <alice> hello");
    Line out{r, "bob", "hi", 0, {}, true};
    CHECK(render(roles::RoomEvent{out}) == "* delivered to room 3fa2c1d0: hi");
    CHECK(render(roles::RoomEvent{MemberChange{r, "carol", true}}) == "* room 3fa2c1d0: carol joined");
    CHECK(render(roles::RoomEvent{RoomLeft{r}}) == "* left room 3fa2c1d0");
    CHECK(render(roles::RoomEvent{DirectoryLost{addr("127.0.0.1:7300")}}) ==
          "* directory 127.0.0.1:7300 lost (rooms go on on their relays)");
}

TEST_CASE("\\rooms and \\relays lines; rooms found by id prefix") {
    roles::RoomView v;
    v.room = room_id();
    v.relay = addr("127.0.0.1:7401");
    v.epoch = 2;
    v.members = {"alice", "bob", "carol"};
    v.joined = true;
    v.unacked = 1;
    CHECK(render_room(v, "alice") == "3fa2c1d0 on relay 127.0.0.1:7401 epoch 2 with bob, carol (joined, 1 unacked)");
    roles::RelayView rv;
    rv.addr = addr("127.0.0.1:7402");
    CHECK(render_relay(rv) == "127.0.0.1:7402 no answer");
    rv.rtt_ms = 3;
    CHECK(render_relay(rv) == "127.0.0.1:7402 rtt 3 ms");

    roles::RoomView w = v;
    w.room[0] = 0x3f, w.room[1] = 0x00;
    std::vector<roles::RoomView> all{v, w};
    CHECK(find_rooms(all, "3f").size() == 2);
    CHECK(find_rooms(all, "3fa2").size() == 1);
    CHECK(find_rooms(all, "3fa2c1d099").size() == 1);
    CHECK(find_rooms(all, "ab").empty());
    CHECK(find_rooms(all, "").size() == 2);
}

TEST_CASE("room lines, names, details and a relay's words from peers are shown escaped") {
    namespace re = roles::room_ev;
    std::string hostile = "\x1b[2J\0\r\x07\xc2\x9b\xe2\x80\xae\xc0"s;
    std::string shown = "\\x1b[2J\\x00\\r\\x07\\u009b\\u202e\xef\xbf\xbd";
    CHECK(render(roles::RoomEvent{re::Line{room_id(), "bob", hostile, 0, {}, false}}) == "[3fa2c1d0] <bob> " + shown);
    CHECK(render(roles::RoomEvent{re::Line{room_id(), "alice", hostile, 0, {}, true}}) ==
          "* delivered to room 3fa2c1d0: " + shown);
    CHECK(render(roles::RoomEvent{re::Line{room_id(), "b\x1bob", "hi", 0, {}, false}}) == "[3fa2c1d0] <b\\x1bob> hi");
    CHECK(render(roles::RoomEvent{re::RequestStage{"bob", roles::Stage::declined, hostile}}).find("(" + shown + ")") !=
          std::string::npos);
    CHECK(render(roles::RoomEvent{re::Invited{"b\rob", {"c\x07"}}}) ==
          "* b\\rob asks for a chat (with c\\x07): \\accept b\\rob or \\decline b\\rob");
    CHECK(render(roles::RoomEvent{re::MemberChange{room_id(), "c\x1b", true}}) == "* room 3fa2c1d0: c\\x1b joined");
    CHECK(render(roles::RoomEvent{re::Problem{"refused by relay: " + hostile}}) == "! refused by relay: " + shown);
    roles::RoomView v;
    v.room = room_id();
    v.relay = addr("127.0.0.1:7401");
    v.members = {"alice", "b\x1b[2Job"};
    CHECK(render_room(v, "alice") == "3fa2c1d0 on relay 127.0.0.1:7401 epoch 0 with b\\x1b[2Job (joining)");
}
