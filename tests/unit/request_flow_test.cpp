// The room client's request flow alone: requests through a directory's state, and
// invites straight between users without one, with time passed in.
#include "roles/request_flow.hpp"

#include "room_parts.hpp"

using namespace dc;
using namespace dc::roles;
using namespace dc::roles::parts_test;

namespace {

const Addr kDirectory = Addr::v4(127, 0, 0, 2, 7300);

RoomClientConfig with_directory() {
    RoomClientConfig c;
    c.directory = kDirectory;
    return c;
}

std::vector<std::pair<std::string, Stage>> stages(Client& c) {
    std::vector<std::pair<std::string, Stage>> v;
    for (auto& s : c.events_of<room_ev::RequestStage>()) v.emplace_back(s.user, s.stage);
    return v;
}

// The one packet of type t the client sent, decoded.
template <typename T, typename Decode>
std::pair<Addr, T> sent_one(Client& c, wire::MsgType t, Decode decode) {
    auto v = c.sent(t);
    REQUIRE(v.size() == 1);
    auto p = decode(ByteView(v[0].second.payload));
    REQUIRE(p.ok());
    return {v[0].first, std::move(p).value()};
}

// Alice, no directory, bob known to her node, one relay answering.
struct Direct {
    Client c;
    RequestFlow flow{c.ctx, 1};
    Selector sel{1};
    Peer bob{"bob", Addr::v4(127, 0, 0, 3, 7000)};
    Peer relay{"relay1", relay_addr(1)};
    std::vector<Candidate> cands() const { return {{relay.key(), relay.addr, {}}}; }
    PeerInfo bob_info() const { return PeerInfo{"bob", bob.key(), {bob.addr}}; }
};

}  // namespace

TEST_CASE("with a directory a request goes to it, and its stages come from the state in order") {
    Client c(with_directory());
    RequestFlow flow(c.ctx, 100);
    Selector sel(1);
    flow.request(0, room_cmd::Request{{"bob"}, {}}, {}, sel);
    auto [to, req] = sent_one<wire::ChatRequest>(c, wire::MsgType::chat_request, wire::decode_chat_request);
    CHECK(to == kDirectory);
    CHECK(req.id == 100);
    CHECK(req.users == std::vector<std::string>{"bob"});

    // Not listed yet: asked again with the heartbeat.
    flow.repeat_to(kDirectory);
    CHECK(c.sent(wire::MsgType::chat_request).size() == 1);

    wire::ClientState s;
    s.outgoing.push_back({req.id, "bob", static_cast<std::uint8_t>(Stage::req_accepted), 0, {}});
    flow.on_state(500, s);
    // The stages that passed between two states are shown too.
    CHECK(stages(c) == std::vector<std::pair<std::string, Stage>>{
                           {"bob", Stage::ack_conn}, {"bob", Stage::req_sent}, {"bob", Stage::req_accepted}});
    CHECK(flow.open_requests() == 0);  // final and seen: done
}

TEST_CASE("a request the directory never lists ends in SERVER_ERR after directory_timeout, and so does one it dropped") {
    Client c(with_directory());
    RequestFlow flow(c.ctx, 1);
    Selector sel(1);
    flow.request(0, room_cmd::Request{{"bob"}, {}}, {}, sel);
    flow.handle_timeout(c.cfg.directory_timeout - 1);
    CHECK(stages(c).empty());
    std::optional<TimeMs> wake;
    flow.next_wakeup(0, wake);
    CHECK(wake == c.cfg.directory_timeout);
    flow.handle_timeout(c.cfg.directory_timeout);
    auto ev = c.events_of<room_ev::RequestStage>();
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].stage == Stage::server_err);
    CHECK(ev[0].detail == "directory not answering");
    flow.handle_timeout(c.cfg.request_timeout);
    CHECK(flow.open_requests() == 0);

    // Listed, then no longer: asked again.
    flow.request(0, room_cmd::Request{{"carol"}, {}}, {}, sel);
    (void)c.sent();
    wire::ClientState s;
    s.outgoing.push_back({2, "carol", static_cast<std::uint8_t>(Stage::req_sent), 0, {}});
    CHECK_FALSE(flow.on_state(10, s).ask_again);
    CHECK(flow.on_state(20, wire::ClientState{}).ask_again);
    flow.repeat_to(kDirectory);
    CHECK(c.sent(wire::MsgType::chat_request).size() == 1);
}

TEST_CASE("invites in the state are shown, answered through the directory until it drops them, and withdrawn ones go") {
    Client c(with_directory());
    RequestFlow flow(c.ctx, 1);
    wire::ClientState s;
    s.incoming.push_back({7, "bob", {"carol"}});
    s.incoming.push_back({8, "dave", {}});
    CHECK(flow.on_state(0, s).fresh_invite);
    auto invited = c.events_of<room_ev::Invited>();
    REQUIRE(invited.size() == 2);
    CHECK(invited[0].from == "bob");
    CHECK(invited[0].others == std::vector<std::string>{"carol"});
    CHECK_FALSE(flow.on_state(10, s).fresh_invite);
    CHECK(flow.invites().size() == 2);

    // Two open: \accept must name one.
    CHECK_FALSE(flow.answer("", true).has_value());
    auto problems = c.events_of<room_ev::Problem>();
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].text == "several open invites (bob, dave): name one");

    CHECK_FALSE(flow.answer("bob", true).has_value());  // the directory makes the room
    auto [to, a] = sent_one<wire::ChatAnswer>(c, wire::MsgType::chat_answer, wire::decode_chat_answer);
    CHECK(to == kDirectory);
    CHECK(a.id == 7);
    CHECK(a.accept);
    flow.repeat_to(kDirectory);
    CHECK(c.sent(wire::MsgType::chat_answer).size() == 1);
    CHECK(flow.invites().size() == 1);

    (void)c.events();
    s.incoming = {};
    flow.on_state(20, s);
    auto gone = c.events_of<room_ev::InviteGone>();
    REQUIRE(gone.size() == 1);  // bob's was answered: only dave's is withdrawn
    CHECK(gone[0].from == "dave");
    flow.repeat_to(kDirectory);
    CHECK(c.sent().empty());
}

TEST_CASE("without a directory an invite goes to the peer with our ticket, is repeated, and the accept opens the room") {
    Direct x;
    auto& [c, flow, sel, bob, relay] = x;
    flow.request(0, room_cmd::Request{{"bob", "zed"}, {x.bob_info()}}, x.cands(), sel);
    CHECK(stages(c) == std::vector<std::pair<std::string, Stage>>{{"zed", Stage::user_not_found}, {"bob", Stage::ack_conn}});

    flow.handle_timeout(0);
    auto [to, iv] = sent_one<wire::Invite>(c, wire::MsgType::invite, wire::decode_invite);
    CHECK(to == bob.addr);
    auto t = wire::decode_ticket(iv.ticket.body);
    REQUIRE(t.ok());
    CHECK(t->issuer == "alice");
    CHECK(t->relay == relay.addr);
    CHECK(t->members.size() == 2);
    CHECK(c.env.verify(iv.ticket, c.env.id().pk));
    flow.handle_timeout(c.cfg.invite_interval - 1);
    CHECK(c.sent().empty());
    flow.handle_timeout(c.cfg.invite_interval);
    CHECK(c.sent(wire::MsgType::invite).size() == 1);

    auto answer = [&](TimeMs now, std::uint8_t a) {
        wire::InviteAnswer ans{iv.id, t->room, 1, a};
        auto in = c.receive(now, bob, wire::MsgType::invite_answer, wire::encode(ans));
        return flow.on_invite_answer(in, ans);
    };
    CHECK_FALSE(answer(1100, kInviteOpen).has_value());
    CHECK(stages(c) == std::vector<std::pair<std::string, Stage>>{{"bob", Stage::req_sent}});
    auto acc = answer(1200, kInviteAccepted);
    REQUIRE(acc.has_value());
    CHECK(acc->peer == "bob");
    CHECK(acc->peer_addr == bob.addr);
    CHECK(acc->ticket.room == t->room);
    CHECK(stages(c) == std::vector<std::pair<std::string, Stage>>{{"bob", Stage::req_accepted}});
    CHECK_FALSE(answer(1300, kInviteAccepted).has_value());  // final already
}

TEST_CASE("without a directory an unanswered invite reminds with AWAITING_REQ and times out") {
    Direct x;
    auto& [c, flow, sel, bob, relay] = x;
    flow.request(0, room_cmd::Request{{"bob"}, {x.bob_info()}}, x.cands(), sel);
    flow.handle_timeout(0);
    auto [to, iv] = sent_one<wire::Invite>(c, wire::MsgType::invite, wire::decode_invite);
    auto t = wire::decode_ticket(iv.ticket.body);
    REQUIRE(t.ok());
    wire::InviteAnswer ans{iv.id, t->room, 1, kInviteOpen};
    auto in = c.receive(10, bob, wire::MsgType::invite_answer, wire::encode(ans));
    (void)flow.on_invite_answer(in, ans);
    (void)c.events();
    flow.handle_timeout(20);  // the reminder clock starts
    flow.handle_timeout(20 + c.cfg.awaiting_interval);
    CHECK(stages(c) == std::vector<std::pair<std::string, Stage>>{{"bob", Stage::awaiting_req}});
    flow.handle_timeout(c.cfg.request_timeout);
    CHECK(stages(c) == std::vector<std::pair<std::string, Stage>>{{"bob", Stage::timed_out}});

    // No relay alive: SERVER_ERR at once.
    flow.request(0, room_cmd::Request{{"bob"}, {x.bob_info()}}, {}, sel);
    auto ev = c.events_of<room_ev::RequestStage>();
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].stage == Stage::server_err);
    CHECK(ev[0].detail == "no relay alive");
}

TEST_CASE("a direct invite is checked, shown, answered as received, and accepting it returns the room to open") {
    Client c;
    RequestFlow flow(c.ctx, 1);
    Peer bob{"bob", Addr::v4(127, 0, 0, 3, 7000)};
    Peer relay{"relay1", relay_addr(1)};
    wire::Ticket t;
    t.room = bob.env.random_id<16>();
    t.relay = relay.addr;
    t.relay_key = relay.key();
    t.epoch = 1;
    t.members = {{"bob", bob.key()}, {"alice", c.env.id().pk}, {"carol", relay.key()}};
    t.issuer = "bob";
    wire::Invite iv{42, bob.env.sign(wire::encode(t))};
    auto in = c.receive(0, bob, wire::MsgType::invite, wire::encode(iv));
    auto checked = flow.direct_ticket(in, iv.ticket);
    REQUIRE(checked.has_value());
    flow.on_invite(0, in, iv, *checked);
    auto invited = c.events_of<room_ev::Invited>();
    REQUIRE(invited.size() == 1);
    CHECK(invited[0].others == std::vector<std::string>{"carol"});
    auto [to, a] = sent_one<wire::InviteAnswer>(c, wire::MsgType::invite_answer, wire::decode_invite_answer);
    CHECK(to == bob.addr);
    CHECK(a.answer == kInviteOpen);

    auto acc = flow.answer("bob", true);
    REQUIRE(acc.has_value());
    CHECK(acc->peer == "bob");
    CHECK(acc->ticket == t);
    CHECK(sent_one<wire::InviteAnswer>(c, wire::MsgType::invite_answer, wire::decode_invite_answer).second.answer ==
          kInviteAccepted);
    CHECK(flow.invites().empty());

    // A ticket signed by someone else than its sender is refused.
    Peer mallory{"mallory", Addr::v4(127, 0, 0, 4, 7000)};
    auto forged = c.receive(10, mallory, wire::MsgType::invite, wire::encode(iv));
    CHECK_FALSE(flow.direct_ticket(forged, iv.ticket).has_value());
    CHECK(c.env.stats().bad_signature == 1);

    // Forgotten after request_timeout.
    (void)c.events();
    flow.expire_invites(c.cfg.request_timeout);
    CHECK(c.events().empty());  // answered: nothing to withdraw
}
