// The group machine (darkchat/groups.hpp) and its messages (darkchat/groups_wire.hpp):
// requests and answers, entries, leaving, removal, failover, epoch keys and lines, forged
// records, restarts; and every message's encoding, round trip and malformed input.

#include <doctest/doctest.h>

#include "groups/state.hpp"  // line_header, to check what a key opens
#include "support/groups_net.hpp"

#include <algorithm>

using namespace dc;
using namespace dc::groups;
using test::GroupsNet;

namespace {

template <typename T>
std::vector<T> events_of(GroupsNet& net, std::size_t i) {
    std::vector<T> out;
    for (const auto& e : net.at(i).events)
        if (auto* v = std::get_if<T>(&e)) out.push_back(*v);
    return out;
}

template <typename T>
std::optional<T> last_event(GroupsNet& net, std::size_t i) {
    auto v = events_of<T>(net, i);
    if (v.empty()) return std::nullopt;
    return v.back();
}

// a asks b; b answers yes with a new group. b is its coordinator.
GroupId form(GroupsNet& net, std::size_t a, std::size_t b, Kind kind = Kind::open) {
    net.command(a, cmd::Request{net.pk(b), kind});
    net.run_for(200);
    auto req = last_event<ev::RequestArrived>(net, b);
    REQUIRE(req);
    net.command(b, cmd::Reply{req->id, true, std::nullopt, "friends"});
    net.run_for(500);
    auto joined = last_event<ev::Joined>(net, a);
    REQUIRE(joined);
    return joined->group;
}

// inviter invites newcomer, who accepts.
void add(GroupsNet& net, const GroupId& g, std::size_t inviter, std::size_t newcomer) {
    net.command(inviter, cmd::Invite{g, net.pk(newcomer), net.name(newcomer)});
    net.run_for(300);
    auto req = last_event<ev::RequestArrived>(net, newcomer);
    REQUIRE(req);
    REQUIRE(req->invitation);
    net.command(newcomer, cmd::Reply{req->id, true, std::nullopt, {}});
    net.run_for(1000);
}

// 0 asks 1, 1 invites 2: a group of three, coordinated by 1, whose next message from 0
// to 2 is lost on the way.
GroupId three_losing_one_to_2(GroupsNet& net) {
    const GroupId g = form(net, 0, 1);
    add(net, g, 1, 2);
    net.drop_next(0, 2);
    return g;
}

std::vector<PublicKey> keys_of(const GroupView& v) {
    std::vector<PublicKey> k;
    for (const auto& m : v.members) k.push_back(m.key);
    return k;
}

// Every station in `who` holds g with the same list and epoch; returns it.
GroupView same_everywhere(GroupsNet& net, const GroupId& g, const std::vector<std::size_t>& who) {
    auto first = net.m(who.front()).group(g);
    REQUIRE(first);
    for (auto i : who) {
        auto v = net.m(i).group(g);
        REQUIRE(v);
        CHECK(v->epoch == first->epoch);
        CHECK(keys_of(*v) == keys_of(*first));
        CHECK(v->has_key);
    }
    return *first;
}

std::vector<std::string> lines_seen(GroupsNet& net, std::size_t i, bool own = false) {
    std::vector<std::string> out;
    for (const auto& l : events_of<ev::Line>(net, i))
        if (l.own == own) out.push_back(l.text);
    return out;
}

// The epoch keys a member had stored for g.
std::vector<wire::GroupEpochKey> stored_keys(GroupsNet& net, std::size_t i, const GroupId& g) {
    auto it = net.at(i).store.find(g);
    REQUIRE(it != net.at(i).store.end());
    auto st = wire::decode_group_state(it->second);
    REQUIRE(st);
    return st->keys;
}

// The last line station `author` sent to station `to`, captured off the wire.
std::optional<wire::GroupLine> sent_line(const Bytes& bytes) {
    auto m = wire::decode_group(bytes);
    if (!m) return std::nullopt;
    if (auto* l = std::get_if<wire::GroupLine>(&m.value())) return *l;
    return std::nullopt;
}

// The last line station i received, as it came off the wire.
Bytes last_line_received(GroupsNet& net, std::size_t i) {
    Bytes line;
    for (const auto& [from, bytes] : net.at(i).recent)
        if (sent_line(bytes)) line = bytes;
    return line;
}

bool opens_with(const wire::GroupLine& l, const GroupKey& epoch_key) {
    SodiumCrypto c;
    GroupKey k{};
    c.hash(k, epoch_key, l.author);
    Bytes out(l.ciphertext.size() - 16);
    return c.aead_open(out.data(), l.ciphertext, line_header(l), l.seq, k);
}

}  // namespace

TEST_CASE("a request answered yes makes a group of two, its coordinator the one who answered") {
    GroupsNet net(2, 1);
    const GroupId g = form(net, 0, 1);
    const GroupView v = same_everywhere(net, g, {0, 1});
    CHECK(v.epoch == 1);
    CHECK(v.members.size() == 2);
    CHECK(v.members[0].key == net.pk(1));
    CHECK(v.members[1].name == "u0");
    CHECK(v.title == "friends");
    CHECK(last_event<ev::Answered>(net, 0)->answer == Answer::yes);
    // Both stored it.
    CHECK(net.at(0).store.count(g) == 1);
    CHECK(net.at(1).store.count(g) == 1);
}

TEST_CASE("a request answered no, or by the answering machine, makes no group") {
    Config away;
    away.answering_machine = true;
    GroupsNet net(3, 2, {}, {});
    net.command(0, cmd::Request{net.pk(1), Kind::open});
    net.run_for(200);
    auto req = last_event<ev::RequestArrived>(net, 1);
    REQUIRE(req);
    net.command(1, cmd::Reply{req->id, false, std::nullopt, {}});
    net.run_for(200);
    CHECK(last_event<ev::Answered>(net, 0)->answer == Answer::no);
    CHECK(net.m(0).groups().empty());
    CHECK(net.m(1).groups().empty());

    GroupsNet away_net(2, 3, {}, away);
    away_net.command(0, cmd::Request{away_net.pk(1), Kind::open});
    away_net.run_for(200);
    CHECK(last_event<ev::Answered>(away_net, 0)->answer == Answer::answering_machine);
    // The request waits for its user, who may still say yes.
    auto held = last_event<ev::RequestArrived>(away_net, 1);
    REQUIRE(held);
    away_net.command(1, cmd::Reply{held->id, true, std::nullopt, {}});
    away_net.run_for(500);
    CHECK(away_net.m(0).groups().size() == 1);
}

TEST_CASE("an invitation by any member goes to the coordinator, and the newcomer enters at every member") {
    GroupsNet net(4, 4);
    const GroupId g = form(net, 0, 1);  // coordinator u1
    add(net, g, 0, 2);                  // u0 is not the coordinator
    GroupView v = same_everywhere(net, g, {0, 1, 2});
    CHECK(v.epoch == 2);
    CHECK(v.members[0].key == net.pk(1));
    CHECK(v.members[2].key == net.pk(2));
    // The invitation came from the coordinator, not from u0.
    CHECK(last_event<ev::RequestArrived>(net, 2)->from == net.pk(1));
    auto entered = last_event<ev::MemberEntered>(net, 0);
    REQUIRE(entered);
    CHECK(entered->member.key == net.pk(2));
    add(net, g, 2, 3);
    v = same_everywhere(net, g, {0, 1, 2, 3});
    CHECK(v.epoch == 3);
}

TEST_CASE("a request answered into a group we do not coordinate is a derivation to its coordinator") {
    GroupsNet net(3, 5);
    const GroupId g = form(net, 0, 1);  // coordinator u1
    net.command(2, cmd::Request{net.pk(0), Kind::open});
    net.run_for(200);
    auto req = last_event<ev::RequestArrived>(net, 0);
    REQUIRE(req);
    net.command(0, cmd::Reply{req->id, true, g, {}});
    net.run_for(1500);
    CHECK(last_event<ev::Answered>(net, 2)->answer == Answer::derivation);
    same_everywhere(net, g, {0, 1, 2});
}

TEST_CASE("a private group holds exactly two") {
    GroupsNet net(3, 6);
    const GroupId g = form(net, 0, 1, Kind::pair);
    CHECK(net.m(0).group(g)->kind == Kind::pair);
    net.command(1, cmd::Invite{g, net.pk(2), net.name(2)});
    CHECK(std::holds_alternative<ev::Refused>(net.at(1).events.back()));
    net.command(2, cmd::Request{net.pk(1), Kind::pair});
    net.run_for(200);
    auto req = last_event<ev::RequestArrived>(net, 1);
    net.command(1, cmd::Reply{req->id, true, g, {}});
    CHECK(std::holds_alternative<ev::Refused>(net.at(1).events.back()));
    // A second private group with the same user is refused too.
    net.command(0, cmd::Request{net.pk(1), Kind::pair});
    net.run_for(200);
    req = last_event<ev::RequestArrived>(net, 1);
    net.command(1, cmd::Reply{req->id, true, std::nullopt, {}});
    CHECK(std::holds_alternative<ev::Refused>(net.at(1).events.back()));
}

TEST_CASE("concurrent entries serialise: one epoch each, the same list everywhere") {
    GroupsNet net(6, 7);
    const GroupId g = form(net, 0, 1);
    for (std::size_t i = 2; i < 6; ++i) net.command(0, cmd::Invite{g, net.pk(i), net.name(i)});
    net.run_for(300);
    for (std::size_t i = 2; i < 6; ++i) {
        auto req = last_event<ev::RequestArrived>(net, i);
        REQUIRE(req);
        net.command(i, cmd::Reply{req->id, true, std::nullopt, {}});
    }
    net.run_for(5000);
    const GroupView v = same_everywhere(net, g, {0, 1, 2, 3, 4, 5});
    CHECK(v.members.size() == 6);
    CHECK(v.epoch == 5);  // four entries, one after the other
    // Every member saw the entries in the same order.
    std::vector<PublicKey> order0;
    for (const auto& e : events_of<ev::MemberEntered>(net, 0)) order0.push_back(e.member.key);
    std::vector<PublicKey> order1;
    for (const auto& e : events_of<ev::MemberEntered>(net, 1)) order1.push_back(e.member.key);
    CHECK(order0 == order1);
}

TEST_CASE("lines reach every member once, and each member reads only the epochs it was in") {
    GroupsNet net(4, 8);
    const GroupId g = form(net, 0, 1);
    add(net, g, 1, 2);
    net.command(0, cmd::Say{g, "before u3"});
    net.run_for(300);
    CHECK(lines_seen(net, 1) == std::vector<std::string>{"before u3"});
    CHECK(lines_seen(net, 2) == std::vector<std::string>{"before u3"});
    // A copy of that line as it went to u2, for later.
    const Bytes old_line = last_line_received(net, 2);
    REQUIRE(!old_line.empty());

    add(net, g, 1, 3);
    same_everywhere(net, g, {0, 1, 2, 3});
    // The newcomer cannot read what was written before it entered: none of its keys opens
    // it, and handed the line it says it was not a member at that epoch.
    for (const auto& k : stored_keys(net, 3, g)) CHECK_FALSE(opens_with(*sent_line(old_line), k.key));
    net.inject(3, net.pk(0), old_line);
    CHECK(lines_seen(net, 3).empty());
    REQUIRE(last_event<ev::NotMember>(net, 3));
    CHECK(last_event<ev::NotMember>(net, 3)->epoch == 2);

    net.command(2, cmd::Say{g, "hello all"});
    net.run_for(300);
    for (std::size_t i : {0u, 1u, 3u}) CHECK(lines_seen(net, i).back() == "hello all");
    // A repeat is shown once.
    const Bytes again = last_line_received(net, 3);
    net.inject(3, net.pk(2), again);
    const auto seen = lines_seen(net, 3);
    CHECK(std::count(seen.begin(), seen.end(), "hello all") == 1);
}

TEST_CASE("the coordinator removes a member; everyone sees who removed whom; the removed cannot read on") {
    GroupsNet net(4, 9);
    const GroupId g = form(net, 0, 1);
    add(net, g, 1, 2);
    add(net, g, 1, 3);
    const auto keys_before = stored_keys(net, 3, g);
    // Not the coordinator: refused.
    net.command(0, cmd::Remove{g, net.pk(3)});
    REQUIRE(std::holds_alternative<ev::Refused>(net.at(0).events.back()));
    net.command(1, cmd::Remove{g, net.pk(3)});
    net.run_for(500);
    const GroupView v = same_everywhere(net, g, {0, 1, 2});
    CHECK(v.members.size() == 3);
    for (std::size_t i : {0u, 2u}) {
        auto r = last_event<ev::MemberRemoved>(net, i);
        REQUIRE(r);
        CHECK(r->member.key == net.pk(3));
        CHECK(r->by.key == net.pk(1));
    }
    auto gone = last_event<ev::Gone>(net, 3);
    REQUIRE(gone);
    CHECK(gone->why == Change::removed);
    CHECK(gone->by.key == net.pk(1));
    CHECK_FALSE(gone->entering_again);
    CHECK_FALSE(net.m(3).group(g));
    CHECK(net.at(3).store.count(g) == 0);

    net.command(0, cmd::Say{g, "after u3 left"});
    net.run_for(300);
    const Bytes line = last_line_received(net, 2);
    REQUIRE(!line.empty());
    // No key the removed member ever held opens a line written after its removal.
    for (const auto& k : keys_before) CHECK_FALSE(opens_with(*sent_line(line), k.key));
    net.inject(3, net.pk(0), line);
    CHECK(lines_seen(net, 3).empty());
}

TEST_CASE("leaving releases every connection; a group under two members ceases") {
    GroupsNet net(3, 10);
    const GroupId g = form(net, 0, 1);
    add(net, g, 1, 2);
    net.command(2, cmd::Leave{g});
    net.run_for(500);
    const GroupView v = same_everywhere(net, g, {0, 1});
    CHECK(v.members.size() == 2);
    auto left = last_event<ev::MemberLeft>(net, 0);
    REQUIRE(left);
    CHECK(left->member.key == net.pk(2));
    CHECK_FALSE(left->lost);
    net.command(1, cmd::Leave{g});  // the coordinator leaves: one member is left, no group
    net.run_for(500);
    CHECK_FALSE(net.m(0).group(g));
    auto gone = last_event<ev::Gone>(net, 0);
    REQUIRE(gone);
    CHECK(gone->ceased);
}

TEST_CASE("a lost coordinator is followed by the next of the list, with no election") {
    GroupsNet net(4, 11);
    const GroupId g = form(net, 0, 1);
    add(net, g, 1, 2);
    add(net, g, 1, 3);
    const std::uint64_t before = net.messages();
    net.kill(1);
    net.run_for(1000);
    GroupView v = same_everywhere(net, g, {0, 2, 3});
    CHECK(v.members[0].key == net.pk(0));  // next in the list
    CHECK(v.members.size() == 3);
    CHECK(last_event<ev::CoordinatorChanged>(net, 2)->coordinator.key == net.pk(0));
    CHECK(net.messages() - before < 20);  // the new record, no rounds of votes
    // The new coordinator admits: u1 comes back and enters again without an invitation.
    net.restart(1);
    net.run_for(4000);
    v = same_everywhere(net, g, {0, 1, 2, 3});
    CHECK(v.members.back().key == net.pk(1));
}

TEST_CASE("forged, stale and replayed records change nothing") {
    GroupsNet net(4, 12);
    const GroupId g = form(net, 0, 1);
    add(net, g, 1, 2);
    const GroupView before = *net.m(0).group(g);
    SodiumCrypto c;

    // An outsider (u3) signs a record naming itself coordinator at a higher epoch.
    wire::GroupRecordBody forged;
    forged.group = g;
    forged.epoch = before.epoch + 5;
    forged.members = {Member{net.pk(3), "u3", net.m(3).kx()}, before.members[1], before.members[2]};
    wire::SignedBlob blob;
    blob.body = wire::encode(forged);
    const std::string ctx = "darkchat group record";
    Bytes msg(ctx.begin(), ctx.end());
    msg.insert(msg.end(), blob.body.begin(), blob.body.end());
    blob.sig = c.sign(net.at(3).self.sk, msg);
    net.inject(0, net.pk(3), wire::encode_group(wire::GroupUpdate{blob, {}, false}));
    // The same body claiming the real coordinator's key but signed by the outsider.
    forged.members[0] = before.members[0];
    blob.body = wire::encode(forged);
    msg.assign(ctx.begin(), ctx.end());
    msg.insert(msg.end(), blob.body.begin(), blob.body.end());
    blob.sig = c.sign(net.at(3).self.sk, msg);
    net.inject(0, net.pk(1), wire::encode_group(wire::GroupUpdate{blob, {}, false}));
    CHECK(net.m(0).stats().bad_signature >= 1);
    CHECK(net.m(0).group(g)->epoch == before.epoch);
    CHECK(keys_of(*net.m(0).group(g)) == keys_of(before));

    // An outsider's line, signed by itself, under any epoch: not heard, not even as
    // "not a member".
    const std::size_t events_before = net.at(0).events.size();
    for (std::uint64_t epoch : {0u, 1u, 9u}) {
        wire::GroupLine l{g, epoch, before.members[0].key, net.pk(3), 0, Bytes(20, 1), {}};
        const Bytes h = line_header(l);
        const std::string lctx = "darkchat group line";
        Bytes signed_bytes;
        signed_bytes.reserve(lctx.size() + h.size() + l.ciphertext.size());
        signed_bytes.insert(signed_bytes.end(), lctx.begin(), lctx.end());
        signed_bytes.insert(signed_bytes.end(), h.begin(), h.end());
        signed_bytes.insert(signed_bytes.end(), l.ciphertext.begin(), l.ciphertext.end());
        l.sig = c.sign(net.at(3).self.sk, signed_bytes);
        net.inject(0, net.pk(3), wire::encode_group(l));
    }
    CHECK(net.at(0).events.size() == events_before);
    CHECK(net.m(0).stats().refused >= 3);

    // A stale record (epoch 1, genuinely signed) and a replay of the current one.
    Bytes stale, current;
    add(net, g, 1, 3);  // capture what u3 got on the way in
    for (const auto& [from, bytes] : net.at(0).recent) {
        auto m = wire::decode_group(bytes);
        if (m && std::holds_alternative<wire::GroupUpdate>(m.value())) current = bytes;
    }
    REQUIRE(!current.empty());
    const GroupView now = *net.m(0).group(g);
    net.inject(0, net.pk(1), current);
    net.inject(2, net.pk(1), current);
    CHECK(net.m(0).group(g)->epoch == now.epoch);
    CHECK(keys_of(*net.m(0).group(g)) == keys_of(now));
    net.run_for(500);
    same_everywhere(net, g, {0, 1, 2, 3});
    CHECK(net.m(0).group(g)->epoch == now.epoch);
}

TEST_CASE("a member's group survives its restart, and no line is shown twice after it") {
    GroupsNet net(3, 13);
    const GroupId g = form(net, 0, 1);
    add(net, g, 1, 2);
    net.command(0, cmd::Say{g, "one"});
    net.run_for(300);
    net.kill(2);
    net.restart(2);  // before anyone noticed; the transport repeats its last messages
    net.run_for(2000);
    same_everywhere(net, g, {0, 1, 2});
    CHECK(lines_seen(net, 2) == std::vector<std::string>{"one"});
    net.command(0, cmd::Say{g, "two"});
    net.run_for(300);
    CHECK(lines_seen(net, 2) == std::vector<std::string>{"one", "two"});
}

TEST_CASE("a line lost on the way is asked for again and shown in its author's order") {
    GroupsNet net(3, 16);
    const GroupId g = three_losing_one_to_2(net);
    net.command(0, cmd::Say{g, "first"});
    net.command(0, cmd::Say{g, "second"});
    net.run_for(300);
    CHECK(lines_seen(net, 2).empty());  // "second" waits for "first"
    CHECK(lines_seen(net, 1) == std::vector<std::string>{"first", "second"});
    net.run_for(5000);  // the next sync shows the gap; u0 sends "first" again
    CHECK(lines_seen(net, 2) == std::vector<std::string>{"first", "second"});
    CHECK(lines_seen(net, 1) == std::vector<std::string>{"first", "second"});
}

TEST_CASE("a line without its author's signature is taken only through the group's room, whose tag proved the author") {
    GroupsNet net(3, 17);
    const GroupId g = three_losing_one_to_2(net);
    net.command(0, cmd::Say{g, "through the relay"});
    net.run_for(100);
    REQUIRE(lines_seen(net, 1) == std::vector<std::string>{"through the relay"});
    REQUIRE(lines_seen(net, 2).empty());
    // The line as member 1 got it, without the signature (as lines through a relay go).
    std::optional<wire::GroupMessage> m;
    for (auto it = net.at(1).recent.rbegin(); it != net.at(1).recent.rend() && !m; ++it)
        if (auto d = wire::decode_group(it->second); d.ok() && std::holds_alternative<GroupLine>(*d)) m = *d;
    REQUIRE(m);
    auto* line = std::get_if<GroupLine>(&*m);
    line->sig = Signature{};
    const Bytes unsigned_line = wire::encode_group(*m);
    net.inject(2, net.pk(0), unsigned_line);  // on chat: refused
    CHECK(lines_seen(net, 2).empty());
    net.inject(2, net.pk(0), unsigned_line, true);
    CHECK(lines_seen(net, 2) == std::vector<std::string>{"through the relay"});
}

TEST_CASE("a line under an epoch whose record is late waits for its key, then shows") {
    GroupsNet net(3, 17);
    const GroupId g = form(net, 0, 1);
    add(net, g, 1, 2);
    const std::uint64_t before = net.m(2).group(g)->epoch;
    net.drop_next(1, 2);  // u2 misses the next record
    net.command(1, cmd::Rename{g, "late"});
    net.run_for(200);
    CHECK(net.m(2).group(g)->epoch == before);
    net.command(0, cmd::Say{g, "under the new epoch"});
    net.run_for(5000);  // the next sync brings the record and its key
    CHECK(net.m(2).group(g)->epoch == before + 1);
    CHECK(lines_seen(net, 2) == std::vector<std::string>{"under the new epoch"});
    // It said so before it showed the line.
    std::size_t said = 0, shown = 0;
    for (std::size_t k = 0; k < net.at(2).events.size(); ++k) {
        const auto& e = net.at(2).events[k];
        if (auto* w = std::get_if<ev::WaitingForKey>(&e); w && w->epoch == before + 1 && !said) said = k + 1;
        if (std::holds_alternative<ev::Line>(e)) shown = k + 1;
    }
    CHECK(said > 0);
    CHECK(said < shown);
}

TEST_CASE("the shared display name is changed through the coordinator") {
    GroupsNet net(3, 14);
    const GroupId g = form(net, 0, 1);
    add(net, g, 1, 2);
    net.command(2, cmd::Rename{g, "the club"});
    net.run_for(500);
    const GroupView v = same_everywhere(net, g, {0, 1, 2});
    CHECK(v.title == "the club");
    auto r = last_event<ev::Renamed>(net, 0);
    REQUIRE(r);
    CHECK(r->by.key == net.pk(2));
}

// ---------------------------------------------------------------------------
// The messages

namespace {

wire::GroupRecordBody sample_record() {
    wire::GroupRecordBody r;
    r.group[0] = 7;
    r.kind = 0;
    r.title = "t";
    r.epoch = 3;
    r.members = {Member{PublicKey{1}, "alice", KxPublicKey{2}}, Member{PublicKey{3}, "bob", KxPublicKey{4}}};
    r.change = 1;
    r.subject = PublicKey{3};
    r.by = PublicKey{1};
    return r;
}

std::vector<wire::GroupMessage> samples() {
    wire::GroupIdBytes g{};
    g[3] = 9;
    const wire::SignedBlob blob{wire::encode(sample_record()), Signature{5}};
    return {
        wire::GroupRequest{1, 0, "alice", KxPublicKey{1}, true, g, "club"},
        wire::GroupAnswer{2, 3, g, 4, PublicKey{6}, blob, Bytes(80, 1)},
        wire::GroupEnter{g, 5, "bob", KxPublicKey{2}, blob},
        wire::GroupInvite{g, PublicKey{7}, "carol", true},
        wire::GroupUpdate{blob, Bytes(80, 2), true},
        wire::GroupPeerEnter{g, 8, PublicKey{9}},
        wire::GroupDone{g, 8, true},
        wire::GroupAbort{g, 8},
        wire::GroupRelease{g},
        wire::GroupRename{g, "new name"},
        wire::GroupLine{g, 8, PublicKey{9}, PublicKey{1}, 12, Bytes(40, 3), Signature{8}},
        wire::GroupSync{g, 8, PublicKey{9}, true, {wire::GroupCount{8, PublicKey{9}, 3}}},
        wire::GroupWant{g, 8, PublicKey{9}, 2},
    };
}

}  // namespace

TEST_CASE("every group message survives encode and decode") {
    for (const auto& m : samples()) {
        const Bytes b = wire::encode_group(m);
        auto d = wire::decode_group(b);
        REQUIRE_MESSAGE(d, d.error());
        CHECK(d.value() == m);
        CHECK(wire::encode_group(d.value()) == b);
    }
    auto r = wire::decode_group_record(wire::encode(sample_record()));
    REQUIRE(r);
    CHECK(r.value() == sample_record());
    wire::GroupState st;
    st.record = {wire::encode(sample_record()), Signature{1}};
    st.keys = {wire::GroupEpochKey{3, PublicKey{1}, GroupKey{4}, {PublicKey{1}, PublicKey{3}}}};
    st.streams = {wire::GroupStream{PublicKey{1}, 3, PublicKey{1}, 5}};
    st.lost = {PublicKey{8}};
    st.own_next = 4;
    st.max_epoch = 6;
    auto s = wire::decode_group_state(wire::encode(st));
    REQUIRE(s);
    CHECK(s.value() == st);
    wire::GroupRequests rq;
    rq.out = {wire::GroupOutRequest{7, PublicKey{2}, 1}};
    rq.in = {wire::GroupInRequest{3, PublicKey{5}, wire::encode_group(samples().front())}};
    rq.next_id = 4;
    auto q = wire::decode_group_requests(wire::encode(rq));
    REQUIRE(q);
    CHECK(q.value() == rq);
    rq.out.assign(wire::kMaxStoredRequests + 1, rq.out.front());
    CHECK_FALSE(wire::decode_group_requests(wire::encode(rq)));
}

TEST_CASE("malformed group messages are refused with an error, never a crash") {
    CHECK_FALSE(wire::decode_group(Bytes{}));
    CHECK_FALSE(wire::decode_group(Bytes{200, 0x80}));  // unknown type
    for (const auto& m : samples()) {
        const Bytes b = wire::encode_group(m);
        for (std::size_t cut = 1; cut < b.size(); ++cut)
            CHECK_FALSE(wire::decode_group(ByteView(b).first(cut)));  // every truncation
        Bytes extra = b;
        extra.push_back(0);
        CHECK_FALSE(wire::decode_group(extra));  // trailing bytes
    }
    // A wrong type in a field, a missing required field, a bad user name, too long a title.
    CHECK_FALSE(wire::decode_group(Bytes{8, 0x81, 0x00, 0x01}));  // release: group is an int
    CHECK_FALSE(wire::decode_group(Bytes{8, 0x80}));              // release without its group
    wire::GroupRequest bad_name{1, 0, "al ice", {}, false, {}, {}};
    CHECK_FALSE(wire::decode_group(wire::encode_group(bad_name)));
    wire::GroupRename long_title{{}, std::string(wire::kMaxGroupTitle + 1, 'x')};
    CHECK_FALSE(wire::decode_group(wire::encode_group(long_title)));
    wire::GroupRecordBody big = sample_record();
    big.members.assign(wire::kMaxGroupMembers + 1, big.members[0]);
    CHECK_FALSE(wire::decode_group_record(wire::encode(big)));
    // A machine given garbage counts it and changes nothing.
    GroupsNet net(2, 15);
    const GroupId g = form(net, 0, 1);
    const auto before = *net.m(0).group(g);
    net.inject(0, net.pk(1), Bytes{4, 0x81, 0x00, 0xc1});
    net.inject(0, net.pk(1), Bytes{1, 2, 3});
    CHECK(net.m(0).stats().malformed == 2);
    CHECK(net.m(0).group(g)->epoch == before.epoch);
}
