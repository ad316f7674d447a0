// Conversation groups carried by the host: the group machine's messages ride on
// the node's chat (stored, numbered, acknowledged), its state is a store record
// of the turn that changed it, and the node's liveness verdicts reach it.
#include "../support/host_net.hpp"

#include <doctest/doctest.h>

using namespace dc;
using namespace dc::test;

namespace {


std::vector<std::string> texts(const HostPeer& p) {
    std::vector<std::string> out;
    for (auto& l : events_of<groups::ev::Line>(p)) out.push_back(l.author_name + ": " + l.text);
    return out;
}

// a asks b into a new group and b says yes; the group's id.
groups::GroupId make_group(HostNet& net, HostPeer& a, HostPeer& b) {
    net.group(a, groups::cmd::Request{b.id.pk, groups::Kind::open});
    net.run_for(500);
    auto asked = events_of<groups::ev::RequestArrived>(b);
    REQUIRE(asked.size() == 1);
    CHECK(asked.front().from == a.id.pk);
    CHECK(asked.front().name == a.name);
    net.group(b, groups::cmd::Reply{asked.front().id, true, std::nullopt, "plans"});
    net.run_for(1500);
    auto views = a.host->groups()->groups();
    REQUIRE(views.size() == 1);
    return views.front().id;
}

// by invites who into group id, and who says yes to the invitation.
void invite(HostNet& net, HostPeer& by, HostPeer& who, const groups::GroupId& id) {
    net.group(by, groups::cmd::Invite{id, who.id.pk, who.name});
    net.run_for(3000);
    auto asked = events_of<groups::ev::RequestArrived>(who);
    REQUIRE(asked.size() == 1);
    CHECK(asked.front().invitation);
    CHECK(asked.front().group == id);
    net.group(who, groups::cmd::Reply{asked.front().id, true, std::nullopt, {}});
}

bool stored_group(const HostPeer& p, const groups::GroupId& id) {
    for (auto& op : p.last_batch)
        if (auto* g = std::get_if<store_op::PutGroup>(&op); g && g->group.group == id) return true;
    return false;
}

}  // namespace

TEST_CASE("a group between two users: asked, answered, and its lines ride on the node's chat") {
    HostNet net;
    auto [alice, bob] = net.chatting_pair();
    REQUIRE(alice.host->groups() != nullptr);
    auto id = make_group(net, alice, bob);

    auto a = alice.host->groups()->group(id);
    auto b = bob.host->groups()->group(id);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->epoch == b->epoch);
    REQUIRE(a->members.size() == 2);
    CHECK(a->members == b->members);
    CHECK(a->members.front().key == bob.id.pk);  // the one asked made the group: the first of its list
    CHECK(a->has_key);
    CHECK(b->has_key);

    auto sent_before = alice.host->node()->stats().sent;
    net.group(alice, groups::cmd::Say{id, "hello group"});
    net.run_for(500);
    CHECK(texts(bob) == std::vector<std::string>{"alice: hello group"});
    CHECK(alice.host->node()->stats().sent > sent_before);
    // Acknowledged: nothing of it waits in alice's outbox.
    CHECK(alice.host->node()->outbox_waiting("bob") == 0);
    // A group message is not a chat message: it was shown once, as a group's line.
    std::vector<std::string> shown;
    for (auto& l : bob.lines)
        if (l.find("hello group") != std::string::npos) shown.push_back(l);
    REQUIRE(shown.size() == 1);
    CHECK(shown.front().rfind("[", 0) == 0);
    CHECK(shown.front().find("<alice> hello group") != std::string::npos);
}

TEST_CASE("a group's state is stored in the turn that changed it, and a restarted member is still in it") {
    HostNet net;
    auto [alice, bob] = net.chatting_pair();
    auto id = make_group(net, alice, bob);
    net.group(alice, groups::cmd::Say{id, "one"});
    net.run_for(300);
    CHECK(stored_group(bob, id));  // the line's counter went with its acknowledgement

    net.kill(bob);
    net.run_for(100);
    net.start(bob);
    auto b = bob.host->groups()->group(id);
    REQUIRE(b);
    CHECK(b->members.size() == 2);
    CHECK(b->has_key);
    net.run_for(6000);  // alice finds bob back (liveness), bob finds alice
    net.group(alice, groups::cmd::Say{id, "two"});
    net.run_for(1500);
    auto got = texts(bob);
    // "one" came before the restart (shown then); "two" after it; nothing twice.
    CHECK(got == std::vector<std::string>{"alice: one", "alice: two"});
}

TEST_CASE("a line written while its reader is down waits in the writer's outbox and arrives once") {
    HostNet net;
    auto [alice, bob] = net.chatting_pair();
    auto id = make_group(net, alice, bob);
    net.kill(bob);
    net.run_for(100);
    net.group(alice, groups::cmd::Say{id, "while you were away"});
    net.run_for(1000);
    CHECK(alice.host->node()->outbox_waiting("bob") >= 1);
    net.start(bob);
    net.run_for(8000);
    CHECK(texts(bob) == std::vector<std::string>{"alice: while you were away"});
}

TEST_CASE("a third user invited by a member enters through the coordinator, though two of them never met") {
    HostNet net;
    auto [alice, bob] = net.chatting_pair();
    auto& carol = net.started("carol");
    net.link(alice, carol);  // alice knows carol; bob, the coordinator, does not
    auto id = make_group(net, alice, bob);

    invite(net, alice, carol, id);
    net.run_for(8000);

    for (HostPeer* p : {&alice, &bob, &carol}) {
        CAPTURE(p->name);
        auto v = p->host->groups()->group(id);
        REQUIRE(v);
        CHECK(v->members.size() == 3);
        CHECK(v->has_key);
    }
    CHECK(alice.host->groups()->group(id)->epoch == carol.host->groups()->group(id)->epoch);
    net.group(carol, groups::cmd::Say{id, "hi all"});
    net.run_for(3000);
    CHECK(texts(alice) == std::vector<std::string>{"carol: hi all"});
    CHECK(texts(bob) == std::vector<std::string>{"carol: hi all"});
}

TEST_CASE("kill -9 of the coordinator: the next of the list coordinates, and the old one enters again") {
    HostNet net;
    auto [alice, bob] = net.chatting_pair();
    auto& carol = net.started("carol");
    net.link(alice, carol);
    net.link(bob, carol);
    auto id = make_group(net, alice, bob);  // bob coordinates, alice second
    invite(net, bob, carol, id);
    net.run_for(5000);
    REQUIRE(alice.host->groups()->group(id)->members.size() == 3);
    auto epoch = alice.host->groups()->group(id)->epoch;

    net.kill(bob);
    net.run_for(15000);  // liveness finds bob gone; alice issues the record without him
    for (HostPeer* p : {&alice, &carol}) {
        CAPTURE(p->name);
        auto v = p->host->groups()->group(id);
        REQUIRE(v);
        REQUIRE(v->members.size() == 2);
        CHECK(v->members.front().key == alice.id.pk);
        CHECK(v->epoch > epoch);
        CHECK(v->has_key);
    }
    CHECK(alice.host->groups()->group(id)->epoch == carol.host->groups()->group(id)->epoch);
    net.group(carol, groups::cmd::Say{id, "bob is gone"});
    net.run_for(1000);
    CHECK(texts(alice) == std::vector<std::string>{"carol: bob is gone"});

    net.start(bob);  // from what it stored: it was lost, not removed, so it may come back
    net.run_for(20000);
    for (HostPeer* p : {&alice, &bob, &carol}) {
        CAPTURE(p->name);
        auto v = p->host->groups()->group(id);
        REQUIRE(v);
        CHECK(v->members.size() == 3);
        CHECK(v->members.front().key == alice.id.pk);
        CHECK(v->epoch == alice.host->groups()->group(id)->epoch);
    }
}

TEST_CASE("a group message no client would send is counted and dropped, acknowledged, and shows nothing") {
    HostNet net;
    auto [alice, bob] = net.chatting_pair();
    auto shown = bob.mark();
    auto malformed = bob.host->groups()->stats().malformed;
    // Garbage in the group field, and a well-formed line for a group bob is not in.
    wire::GroupLine stray;
    stray.group.fill(7);
    stray.epoch = 3;
    stray.author = alice.id.pk;
    stray.ciphertext = Bytes(40, 1);
    for (const Bytes& payload : {Bytes{0xff, 0x00, 0x13}, wire::encode_group(wire::GroupMessage{stray})})
        net.network().input(alice, [&] {
            alice.host->node()->handle_command(net.now(), core::cmd::SendGroup{"bob", payload});
        });
    net.run_for(1000);
    CHECK(bob.host->groups()->stats().malformed == malformed + 1);
    CHECK(bob.host->groups()->groups().empty());
    CHECK(bob.since(shown).empty());
    CHECK(alice.host->node()->outbox_waiting("bob") == 0);  // acknowledged: not sent again and again
}

TEST_CASE("another device of a member, not in the group, hears its messages and says nothing of them") {
    HostNet net;
    auto& alice = net.add("alice");
    auto& phone = net.add("phone");  // alice's other device: her key, its own session
    auto& bob = net.add("bob");
    phone.id = alice.id;
    crypto::random_bytes(phone.id.session);
    auto& carol = net.add("carol");
    for (HostPeer* p : {&alice, &phone, &bob, &carol}) net.start(*p);
    net.link(alice, bob);
    net.link(bob, carol);
    net.link(alice, carol);
    net.type(phone, "\\ping " + alice.addr.to_string());
    net.type(phone, "\\add bob");
    net.run_for(1000);
    auto id = make_group(net, alice, bob);
    invite(net, bob, carol, id);  // carol's automatic entering goes to alice's phone too
    net.run_for(8000);
    for (HostPeer* p : {&alice, &bob, &carol}) {
        CAPTURE(p->name);
        auto v = p->host->groups()->group(id);
        REQUIRE(v);
        CHECK(v->members.size() == 3);
    }
    CHECK(phone.host->groups()->groups().empty());
    net.run_for(130000);  // two rounds of the members' sync reach the phone too
    net.group(carol, groups::cmd::Say{id, "still three"});
    net.run_for(2000);
    CHECK(alice.host->groups()->group(id)->members.size() == 3);
    CHECK(bob.host->groups()->group(id)->members.size() == 3);
    CHECK(texts(alice) == std::vector<std::string>{"carol: still three"});
    CHECK(phone.group_events.empty());
}

TEST_CASE("an invitation handed to a coordinator that dies is handed to the next one") {
    HostNet net;
    auto [alice, bob] = net.chatting_pair();
    auto& carol = net.started("carol");
    auto& dave = net.started("dave");
    net.link(bob, carol);
    net.link(alice, carol);
    net.link(alice, dave);
    auto id = make_group(net, alice, bob);  // bob coordinates, alice second
    invite(net, bob, carol, id);
    net.run_for(5000);
    REQUIRE(alice.host->groups()->group(id)->members.size() == 3);

    net.kill(bob);
    net.group(alice, groups::cmd::Invite{id, dave.id.pk, "dave"});  // to bob, who will never answer
    net.run_for(15000);
    auto asked = events_of<groups::ev::RequestArrived>(dave);
    REQUIRE(asked.size() == 1);
    CHECK(asked.front().from == alice.id.pk);  // from the one coordinating now
    net.group(dave, groups::cmd::Reply{asked.front().id, true, std::nullopt, {}});
    net.run_for(5000);
    for (HostPeer* p : {&alice, &carol, &dave}) {
        CAPTURE(p->name);
        auto v = p->host->groups()->group(id);
        REQUIRE(v);
        CHECK(v->members.size() == 3);
        CHECK(v->members.front().key == alice.id.pk);
    }
}

TEST_CASE("a commit that fails while a line is written: the line is carried again with the retried batch") {
    HostNet net;
    auto [alice, bob] = net.chatting_pair();
    auto id = make_group(net, alice, bob);
    alice.store_fault = host::StoreFailure{"disk full", true};
    net.group(alice, groups::cmd::Say{id, "one"});
    net.run_for(300);
    CHECK(texts(bob).empty());  // nothing left alice before it was stored
    alice.store_fault.reset();
    net.run_for(3000);  // the retry within a second; far less than the minute between syncs
    net.group(alice, groups::cmd::Say{id, "two"});
    net.run_for(1000);
    CHECK(texts(bob) == std::vector<std::string>{"alice: one", "alice: two"});
}

TEST_CASE("a group message goes to the name the node pinned the member's key under, not the name a member gave") {
    HostNet net;
    auto [alice, bob] = net.chatting_pair();
    auto& carol = net.started("carol");
    auto& mallory = net.started("mallory");
    net.link(alice, carol);
    net.link(bob, carol);
    net.link(bob, mallory);
    auto id = make_group(net, alice, bob);  // bob coordinates
    // alice invites carol's key under the name mallory: bob sends to whoever holds that key.
    net.group(alice, groups::cmd::Invite{id, carol.id.pk, "mallory"});
    net.run_for(5000);
    CHECK(events_of<groups::ev::RequestArrived>(mallory).empty());
    auto asked = events_of<groups::ev::RequestArrived>(carol);
    REQUIRE(asked.size() == 1);
    CHECK(asked.front().from == bob.id.pk);
}
