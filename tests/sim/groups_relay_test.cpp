// Conversation groups whose lines go through a relay (darkchat-groups(7), RELAYS):
// whole hosts on the one simulated network, the group machine's record naming the
// relay, the room client carrying its lines, the relay forwarding them. Membership,
// keys and what the user sees are the group's, whichever way its lines go. Every case
// is seeded (DARKCHAT_SIM_SEED replays another seed) and bounded in virtual time.
#include "groups_hosts.hpp"

using namespace dc;
using namespace dc::test;

namespace {

// n users with a room client that measures these relays, each linked to the first.
std::vector<HostPeer*> users_with(HostNet& net, std::size_t n, const std::vector<Addr>& relays,
                                  std::size_t relay_at = 0) {
    host::RoleOptions roles;
    roles.relays = relays;
    std::vector<HostPeer*> out;
    for (std::size_t i = 0; i < n; ++i) {
        auto& p = net.add(name_for(i), roles);
        p.config.group_relay_at = relay_at;
        net.start(p);
        out.push_back(&p);
    }
    for (std::size_t i = 1; i < n; ++i) link(net, *out[0], *out[i]);
    net.run_for(2000);  // every room client has probed the relays
    return out;
}

HostPeer& started_relay(HostNet& net, const std::string& name) {
    auto& r = net.add(name, relay_role());
    net.start(r);
    return r;
}

std::optional<Addr> relay_of(const HostPeer& p, const groups::GroupId& id) {
    auto v = p.host->groups()->group(id);
    if (!v || !v->relay) return std::nullopt;
    return v->relay->addr;
}

// Every one of ps holds the group with its lines through `relay` (none: member to member).
bool all_via(const std::vector<HostPeer*>& ps, const groups::GroupId& id, const std::optional<Addr>& relay) {
    return std::all_of(ps.begin(), ps.end(), [&](HostPeer* p) { return relay_of(*p, id) == relay; });
}

// The group's room as p's room client holds it: on that relay, joined.
bool in_room(const HostPeer& p, const groups::GroupId& id, const Addr& relay) {
    for (auto& r : p.host->room_client()->rooms())
        if (r.room == id) return r.group && r.joined && r.relay == relay;
    return false;
}

void move(HostNet& net, HostPeer& p, const groups::GroupId& id, bool to_relay) {
    net.network().input(p, [&] {
        auto r = p.host->move_group(net.now(), id, to_relay);
        REQUIRE(r);
    });
}

// Counts the room lines (signed, or sealed for the hop) that a relay sends.
struct RoomLinesSent {
    RoomLinesSent(HostNet& net, const HostPeer& relay) {
        auto& n = net.network();
        n.on_transmit = [&relay, this, before = n.on_transmit](const sim::Station& s, const core::Transmit& t) {
            if (before) before(s, t);
            auto type = wire::peek_type(t.data);
            if (&s == &relay && type && (*type == wire::MsgType::room_line || *type == wire::MsgType::room_hop)) ++count;
        };
    }
    std::size_t count = 0;
};

}  // namespace

TEST_CASE("a group of 4 moves onto a relay: its lines go through it, once each and in order, and come back") {
    auto seed = simtest::seed_or(41);
    INFO(simtest::replay_hint(seed));
    HostNet net(seed, lossy(0.05));
    auto& relay = started_relay(net, "relay");
    auto ps = users_with(net, 4, {relay.addr});
    Answering answering;
    auto id = make_group(net, answering, ps, 120000);

    // Only the coordinator moves the group.
    auto before = ps[1]->mark();
    net.type(*ps[1], "\\via relay " + roles::short_id(id));
    net.run_for(500);
    CHECK(ps[1]->shown_prefix("! group " + roles::short_id(id), before));
    CHECK(all_via(ps, id, std::nullopt));

    move(net, *ps[0], id, true);
    bool moved = net.run_until([&] { return all_via(ps, id, relay.addr); }, 20000);
    REQUIRE(moved);
    bool joined = net.run_until(
        [&] { return std::all_of(ps.begin(), ps.end(), [&](HostPeer* p) { return in_room(*p, id, relay.addr); }); },
        20000);
    REQUIRE(joined);
    for (auto* p : ps) CHECK(!events_of<groups::ev::Moved>(*p).empty());
    CHECK(ps[2]->shown_prefix("* group " + roles::short_id(id)));

    std::vector<Written> log;
    RoomLinesSent through(net, relay);
    for (int round = 0; round < 5; ++round)
        for (auto* p : ps) say(net, *p, id, p->name + " line " + std::to_string(round), log, ps);
    net.run_for(20000);
    CHECK(through.count >= 20 * 3);  // every line to the three others, at least
    check_lines(log, ps, id, member_set(*ps[0], id));

    // \rooms shows the rooms one asked for, not a group's.
    before = ps[1]->mark();
    net.type(*ps[1], "\\rooms");
    CHECK(ps[1]->shown("* 0 rooms", before));

    // Back to member to member: the room is left, lines go on chat again.
    move(net, *ps[0], id, false);
    bool back = net.run_until([&] { return all_via(ps, id, std::nullopt); }, 20000);
    REQUIRE(back);
    net.run_for(3000);
    for (auto* p : ps) CHECK(p->host->room_client()->rooms().empty());
    for (auto* p : ps) say(net, *p, id, p->name + " after", log, ps);
    net.run_for(20000);
    check_lines(log, ps, id, member_set(*ps[0], id));
}

TEST_CASE("on a relay, a newcomer gets the lines written after it entered, and a removed member none after") {
    auto seed = simtest::seed_or(42);
    INFO(simtest::replay_hint(seed));
    HostNet net(seed);
    auto& relay = started_relay(net, "relay");
    auto ps = users_with(net, 4, {relay.addr});
    Answering answering;
    std::vector<HostPeer*> first3{ps[0], ps[1], ps[2]};
    auto id = make_group(net, answering, first3, 60000);
    move(net, *ps[0], id, true);
    REQUIRE(net.run_until([&] { return all_via(first3, id, relay.addr); }, 20000));

    // ps[3] enters: its record names the relay, it joins the room with the new list.
    net.group(*ps[0], groups::cmd::Invite{id, ps[3]->id.pk, ps[3]->name});
    REQUIRE(settle(net, answering, ps, id, 60000));
    REQUIRE(net.run_until([&] { return in_room(*ps[3], id, relay.addr); }, 20000));
    std::vector<Written> log;
    for (auto* p : ps) say(net, *p, id, p->name + " with four", log, ps);
    net.run_for(10000);
    check_lines(log, ps, id, member_set(*ps[0], id));

    // ps[1] is removed: the relay drops it from the room, and it shows nothing said after.
    net.group(*ps[0], groups::cmd::Remove{id, ps[1]->id.pk});
    std::vector<HostPeer*> rest{ps[0], ps[2], ps[3]};
    REQUIRE(settle(net, answering, rest, id, 30000));
    REQUIRE(net.run_until([&] { return !ps[1]->host->groups()->group(id); }, 20000));
    net.run_for(3000);
    CHECK(ps[1]->host->room_client()->rooms().empty());
    const auto shown_before = events_of<groups::ev::Line>(*ps[1]).size();
    for (auto* p : rest) say(net, *p, id, p->name + " without ps1", log, ps);
    net.run_for(10000);
    CHECK(events_of<groups::ev::Line>(*ps[1]).size() == shown_before);
    check_lines(log, rest, id, member_set(*ps[0], id));
}

TEST_CASE("the coordinator moves a group off a relay that died onto another, and no line is lost") {
    auto seed = simtest::seed_or(43);
    INFO(simtest::replay_hint(seed));
    HostNet net(seed, lossy(0.02));
    auto& r1 = started_relay(net, "relay1");
    auto& r2 = started_relay(net, "relay2");
    auto ps = users_with(net, 3, {r1.addr, r2.addr});
    Answering answering;
    auto id = make_group(net, answering, ps, 60000);
    move(net, *ps[0], id, true);
    REQUIRE(net.run_until([&] { return all_via(ps, id, relay_of(*ps[0], id)) && relay_of(*ps[0], id); }, 20000));
    HostPeer& dying = *relay_of(*ps[0], id) == r1.addr ? r1 : r2;
    HostPeer& other = &dying == &r1 ? r2 : r1;

    std::vector<Written> log;
    for (auto* p : ps) say(net, *p, id, p->name + " before", log, ps);
    net.run_for(200);
    net.kill(dying);
    for (int round = 0; round < 3; ++round) {
        for (auto* p : ps) say(net, *p, id, p->name + " during " + std::to_string(round), log, ps);
        net.run_for(700);
    }
    bool moved = net.run_until([&] { return all_via(ps, id, other.addr); }, 30000);
    REQUIRE(moved);
    for (auto* p : ps) say(net, *p, id, p->name + " after", log, ps);
    net.run_for(90000);  // the members' sync (once a minute) repairs what the dead relay swallowed
    check_lines(log, ps, id, member_set(*ps[0], id));
}

TEST_CASE("a group that grows to group_relay_at moves onto the relay by itself; a member killed on it loses nothing") {
    auto seed = simtest::seed_or(44);
    INFO(simtest::replay_hint(seed));
    HostNet net(seed);
    auto& relay = started_relay(net, "relay");
    auto ps = users_with(net, 3, {relay.addr}, 3);
    Answering answering;
    auto id = make_group(net, answering, ps, 60000);
    REQUIRE(net.run_until([&] { return all_via(ps, id, relay.addr); }, 20000));
    REQUIRE(net.run_until(
        [&] { return std::all_of(ps.begin(), ps.end(), [&](HostPeer* p) { return in_room(*p, id, relay.addr); }); },
        20000));

    // kill -9 of a reader with lines on their way; it comes back with its room and group.
    std::vector<Written> log;
    say(net, *ps[0], id, "one", log, ps);
    net.kill(*ps[2]);
    say(net, *ps[0], id, "two", log, ps);
    say(net, *ps[1], id, "three", log, ps);
    net.run_for(2000);
    net.start(*ps[2]);
    REQUIRE(net.run_until([&] { return in_room(*ps[2], id, relay.addr); }, 20000));
    net.run_for(10000);
    // What ps[2] showed before and after the kill, together: every line once, in order.
    std::vector<std::string> from0, from1;
    for (auto& l : events_of<groups::ev::Line>(*ps[2]))
        if (!l.own) (l.author == ps[0]->id.pk ? from0 : from1).push_back(l.text);
    CHECK(from0 == std::vector<std::string>{"one", "two"});
    CHECK(from1 == std::vector<std::string>{"three"});
}

TEST_CASE("with a directory, the directory places a group on a relay, and moves it when that relay dies") {
    auto seed = simtest::seed_or(45);
    INFO(simtest::replay_hint(seed));
    HostNet net(seed);
    auto& dir = net.add("dir", directory_role());
    net.start(dir);
    auto& r1 = net.add("relay1", relay_role(dir.addr));
    auto& r2 = net.add("relay2", relay_role(dir.addr));
    net.start(r1);
    net.start(r2);
    host::RoleOptions roles = using_directory(dir.addr);
    std::vector<HostPeer*> ps;
    for (std::size_t i = 0; i < 3; ++i) {
        auto& p = net.add(name_for(i), roles);
        p.config.group_relay_at = 0;
        net.start(p);
        ps.push_back(&p);
    }
    for (std::size_t i = 1; i < ps.size(); ++i) link(net, *ps[0], *ps[i]);
    net.run_for(3000);  // registered, relays measured and reported
    Answering answering;
    auto id = make_group(net, answering, ps, 60000);

    move(net, *ps[0], id, true);
    bool placed = net.run_until([&] { return relay_of(*ps[0], id) && all_via(ps, id, relay_of(*ps[0], id)); }, 20000);
    REQUIRE(placed);
    // The directory chose it: its log names the group's room on that relay.
    const Addr first = *relay_of(*ps[0], id);
    CHECK(dir.shown_prefix("* chat " + roles::short_id(id) + " on relay " + first.to_string()));

    std::vector<Written> log;
    for (auto* p : ps) say(net, *p, id, p->name + " before", log, ps);
    net.run_for(3000);
    HostPeer& dying = first == r1.addr ? r1 : r2;
    HostPeer& other = &dying == &r1 ? r2 : r1;
    net.kill(dying);
    for (auto* p : ps) say(net, *p, id, p->name + " during", log, ps);
    bool moved = net.run_until([&] { return all_via(ps, id, other.addr); }, 30000);
    REQUIRE(moved);
    CHECK(dir.shown_prefix("* chat " + roles::short_id(id) + " moved"));
    for (auto* p : ps) say(net, *p, id, p->name + " after", log, ps);
    net.run_for(90000);
    check_lines(log, ps, id, member_set(*ps[0], id));
}
