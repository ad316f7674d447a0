// The Host: what one port runs, sans-IO. Packets reach the part that takes
// their wire type; outputs come out store first, then events, then packets; a
// store that refuses a batch makes the part take back what rested on it, or
// holds its packets back, or stops the host.
#include "../support/host_net.hpp"

#include <doctest/doctest.h>

#include <utility>

using namespace dc;
using namespace dc::test;

namespace {

// A packet that names wire type `type` in its header and is garbage after it.
Bytes typed_garbage(std::uint8_t type) {
    Bytes b{0x93, wire::kVersion, 0xc4, 8, 0x96, type, 1, 2, 3, 4, 5, 6};
    return b;
}

// What the driver met after an input: stores first, then lines, then sends.
bool in_drain_order(const std::vector<std::string>& o) {
    return std::is_sorted(o.begin(), o.end(), [](const std::string& x, const std::string& y) {
        auto rank = [](const std::string& s) { return s == "store" ? 0 : s == "line" ? 1 : 2; };
        return rank(x) < rank(y);
    });
}

}  // namespace

TEST_CASE("a user's host runs its node and a room client (a group may name a relay); a relay runs neither") {
    HostNet net;
    auto& relay = net.add("relay", relay_role());
    auto& alice = net.add("alice", using_relays(relay.addr));
    auto& bob = net.add("bob");
    net.start(relay);
    net.start(alice);
    net.start(bob);
    CHECK(alice.host->node() != nullptr);
    CHECK(alice.host->room_client() != nullptr);
    CHECK(bob.host->node() != nullptr);
    REQUIRE(bob.host->room_client() != nullptr);
    CHECK(bob.host->room_client()->relays().empty());
    CHECK(relay.host->node() == nullptr);
    CHECK(relay.host->room_client() == nullptr);
    CHECK(relay.lines.at(0) == "* ready: relay at " + relay.addr.to_string());
    CHECK(relay.lines.at(1).rfind("* key ", 0) == 0);

    host::Config bad;
    bad.roles.role = host::Role::directory;
    bad.roles.strategy = "fastest-first";
    auto h = host::Host::create(bad, alice.id, {}, core::real_crypto(), 1);
    REQUIRE(!h);
    CHECK(h.error() == "unknown strategy 'fastest-first'");
}

TEST_CASE("each packet goes to the part that takes its wire type; garbage goes to the node") {
    HostNet net;
    auto& relay = net.add("relay", relay_role());
    auto& alice = net.add("alice", using_relays(relay.addr));
    net.start(relay);
    net.start(alice);
    net.run_for(1500);
    // The relay's probe replies (role packets) reached the room client.
    auto relays = alice.host->room_client()->relays();
    REQUIRE(relays.size() == 1);
    CHECK(relays.front().rtt_ms.has_value());
    auto node_malformed = alice.host->node()->stats().malformed;
    auto client_malformed = alice.host->room_client()->stats().malformed;

    Addr stranger = Addr::v4(127, 0, 0, 99, 4000);
    net.inject(alice, stranger, typed_garbage(static_cast<std::uint8_t>(wire::MsgType::probe_reply)));
    CHECK(alice.host->room_client()->stats().malformed == client_malformed + 1);
    CHECK(alice.host->node()->stats().malformed == node_malformed);

    net.inject(alice, stranger, typed_garbage(static_cast<std::uint8_t>(wire::MsgType::ping)));
    CHECK(alice.host->node()->stats().malformed == node_malformed + 1);
    CHECK(alice.host->room_client()->stats().malformed == client_malformed + 1);

    const Bytes junk{1, 2, 3};
    net.inject(alice, stranger, junk);
    CHECK(alice.host->node()->stats().malformed == node_malformed + 2);
    CHECK(alice.host->room_client()->stats().malformed == client_malformed + 1);
}

TEST_CASE("after an input the driver gets store batches first, then events, then packets") {
    HostNet net;
    auto [alice, bob] = net.chatting_pair();
    alice.batch_order.clear();
    std::size_t m = alice.mark();
    net.type(alice, "hello bob");
    // One input: what it stored (the message in the outbox), what it showed, what it sent.
    auto& o = alice.batch_order;
    REQUIRE(!o.empty());
    CHECK(o.front() == "store");
    CHECK(in_drain_order(o));
    CHECK(std::count(o.begin(), o.end(), "send") >= 1);
    CHECK(std::any_of(alice.last_batch.begin(), alice.last_batch.end(),
                      [](const StoreOp& op) { return std::holds_alternative<store_op::PutOutbox>(op); }));
    CHECK(alice.shown_prefix("* queued ", m));
    net.run_for(300);
    CHECK(bob.shown("<alice> hello bob"));
    CHECK(alice.shown_prefix("* delivered ", m));
}

TEST_CASE("a store that refuses a batch for a while: the message is taken back, retried, shown once") {
    HostNet net;
    auto [alice, bob] = net.chatting_pair();

    bob.store_fault = host::StoreFailure{"disk full", true};
    std::size_t ma = alice.mark(), mb = bob.mark();
    net.type(alice, "are you there");
    net.run_for(100);
    // Not shown, not acknowledged: alice's outbox keeps it.
    CHECK(bob.shown("! cannot save state (disk full); retrying; messages wait with their senders meanwhile", mb));
    CHECK(!bob.shown("<alice> are you there", mb));
    CHECK(!alice.shown_prefix("* delivered ", ma));
    CHECK(alice.host->node()->outbox_size() == 1);
    // The same fault again within ten seconds is not said twice.
    net.run_for(2000);
    auto said = [&](std::size_t from) {
        auto l = bob.since(from);
        return std::count(l.begin(), l.end(), "! cannot save state (disk full); retrying; messages wait with their senders meanwhile");
    };
    CHECK(said(mb) == 1);

    // What nothing was taken back for (a contact added) waits, and is tried again within a second.
    net.type(bob, "\\add carol");
    auto wake = bob.host->poll_timeout();
    REQUIRE(wake);
    CHECK(*wake <= net.now() + 1000);
    CHECK(bob.store.users.count("carol") == 0);

    bob.store_fault.reset();
    net.run_for(3000);
    CHECK(bob.store.users.count("carol") == 1);
    CHECK(bob.shown("* state saved again", mb));
    auto l = bob.since(mb);
    CHECK(std::count(l.begin(), l.end(), "<alice> are you there") == 1);
    CHECK(alice.shown_prefix("* delivered ", ma));
    CHECK(alice.host->node()->outbox_size() == 0);
    CHECK(bob.host->exit_status() == 0);
}

TEST_CASE("a store that cannot be written stops the host: one line, exit status 1, nothing acknowledged") {
    HostNet net;
    auto [alice, bob] = net.chatting_pair();
    bob.store_fault = host::StoreFailure{"attempt to write a readonly database", false};
    std::size_t ma = alice.mark(), mb = bob.mark();
    net.type(alice, "still there?");
    net.run_for(100);
    CHECK(bob.shown("! cannot save state (attempt to write a readonly database): darkchat stops, as nothing more "
                    "could be kept; fix or move the database away, then start again (messages not yet acknowledged "
                    "wait with their senders)",
                    mb));
    CHECK(!bob.shown("<alice> still there?", mb));
    CHECK(bob.host->quitting());
    CHECK(bob.host->exit_status() == 1);
    CHECK(bob.host->take_unsaved().empty());
    CHECK(!alice.shown_prefix("* delivered ", ma));
    CHECK(alice.host->node()->outbox_size() == 1);
}

TEST_CASE("a part that cannot take back what it could not store has its packets held back") {
    HostNet net;
    auto [relay, alice, bob] = net.pair_on_relay();
    std::string id = net.open_room(alice, bob);
    REQUIRE(!id.empty());

    alice.store_fault = host::StoreFailure{"disk full", true};
    std::size_t sent = alice.sent, mb = bob.mark();
    net.type(alice, "a line while the disk is full");
    // The room client stored the line and could not: none of its packets of this input left.
    CHECK(alice.sent == sent);
    CHECK(std::any_of(alice.last_batch.begin(), alice.last_batch.end(),
                      [](const StoreOp& op) { return std::holds_alternative<store_op::PutRoomLine>(op); }));
    CHECK(!bob.shown("[" + id + "] <alice> a line while the disk is full", mb));

    alice.store_fault.reset();
    net.run_for(3000);
    auto l = bob.since(mb);
    CHECK(std::count_if(l.begin(), l.end(), [](const std::string& x) {
              return x.find("] <alice> a line while the disk is full") != std::string::npos;
          }) == 1);
}

namespace {

// Holds back every datagram from `from` to `to` (kept in `held`) until released.
struct Holding {
    std::vector<Bytes> held;
    void hold(HostNet& net, const HostPeer& from, const HostPeer& to) {
        net.network().drop = [this, &from, &to](const sim::Station& s, const core::Transmit& t) {
            if (&s != &from || t.to != to.addr) return false;
            held.push_back(t.data);
            return true;
        };
    }
    // Lines typed at from's terminal, one input each, their datagrams to `to` held.
    void typed_and_held(HostNet& net, HostPeer& from, HostPeer& to, const std::vector<std::string>& lines) {
        hold(net, from, to);
        for (auto& l : lines) net.type(from, l);
        REQUIRE(held.size() >= lines.size());
    }
    // Every held datagram handed to `to` in ONE turn: all handled, then one drain.
    void release_in_one_turn(HostNet& net, HostPeer& to, const Addr& from) {
        net.network().drop = nullptr;
        auto all = std::exchange(held, {});
        net.network().input(to, [&] {
            for (auto& d : all) to.host->handle_datagram(net.now(), from, d);
        });
    }
};

// Lines typed at p's terminal in ONE turn (all handled, then one drain).
void type_in_one_turn(HostNet& net, HostPeer& p, const std::vector<std::string>& lines) {
    net.network().input(p, [&] {
        for (auto& l : lines) p.session->handle_line(net.now(), l);
        p.show();
    });
}

std::size_t count_ops(const std::vector<StoreOp>& ops, auto pred) {
    return static_cast<std::size_t>(std::count_if(ops.begin(), ops.end(), pred));
}
bool is_history(const StoreOp& op) { return std::holds_alternative<store_op::PutHistory>(op); }

// A room between alice and bob, alice's typed lines going to it; its short id.
std::string alice_in_room(HostNet& net, HostPeer& alice, HostPeer& bob) {
    std::string id = net.open_room(alice, bob);
    REQUIRE(!id.empty());
    net.type(alice, "\\room " + id);
    return id;
}

}  // namespace

TEST_CASE("several inputs in one turn: one batch, then their events and packets in the order of the inputs") {
    HostNet net;
    auto [alice, bob] = net.chatting_pair();
    std::size_t ma = alice.mark(), mb = bob.mark();
    Holding h;
    h.typed_and_held(net, alice, bob, {"one", "two", "three"});
    std::size_t batches = bob.batches, sent = bob.sent;
    bob.batch_order.clear();
    h.release_in_one_turn(net, bob, alice.addr);
    // One transaction for all three messages, before anything was shown or acknowledged.
    CHECK(bob.batches == batches + 1);
    CHECK(count_ops(bob.last_batch, is_history) == 3);
    auto& o = bob.batch_order;
    REQUIRE(!o.empty());
    CHECK(o.front() == "store");
    CHECK(std::count(o.begin(), o.end(), "store") == 1);
    CHECK(in_drain_order(o));
    CHECK(bob.sent == sent + 1);  // one ack datagram for the three, after the commit
    CHECK(bob.since(mb) == std::vector<std::string>{"<alice> one", "<alice> two", "<alice> three"});

    net.run_for(300);
    auto l = alice.since(ma);
    CHECK(std::count_if(l.begin(), l.end(), [](const std::string& x) { return x.rfind("* delivered ", 0) == 0; }) == 3);
    CHECK(alice.host->node()->outbox_size() == 0);
}

TEST_CASE("an ack says a stream's messages in one number: a lost ack is made good by the next, nothing resent") {
    HostNet net;
    auto [alice, bob] = net.chatting_pair();
    std::size_t ma = alice.mark();
    Holding h;
    h.typed_and_held(net, alice, bob, {"one", "two", "three"});
    // bob's one ack for the three is lost on its way back.
    std::size_t lost = 0;
    net.network().drop = [&](const sim::Station& s, const core::Transmit& t) {
        lost += &s == &bob && t.to == alice.addr;
        return &s == &bob && t.to == alice.addr;
    };
    auto all = std::exchange(h.held, {});
    net.network().input(bob, [&] {
        for (auto& d : all) bob.host->handle_datagram(net.now(), alice.addr, d);
    });
    REQUIRE(lost == 1);
    net.network().drop = nullptr;
    REQUIRE(alice.host->node()->outbox_waiting("bob") == 3);

    // The ack of the next message says "everything up to four": alice's three
    // are delivered before any of them is due again (no retry before 100 ms).
    std::size_t chats = 0;
    net.network().drop = [&](const sim::Station& s, const core::Transmit& t) {
        chats += &s == &alice && t.to == bob.addr;
        return false;
    };
    net.type(alice, "four");
    net.run_for(50);
    CHECK(chats == 1);
    CHECK(alice.host->node()->outbox_waiting("bob") == 0);
    auto l = alice.since(ma);
    CHECK(std::count_if(l.begin(), l.end(), [](const std::string& x) { return x.rfind("* delivered ", 0) == 0; }) == 4);
}

TEST_CASE("several received messages in one turn and the commit fails: all taken back, none shown or acked") {
    HostNet net;
    auto [alice, bob] = net.chatting_pair();
    std::size_t ma = alice.mark(), mb = bob.mark();
    Holding h;
    h.typed_and_held(net, alice, bob, {"one", "two", "three"});

    bob.store_fault = host::StoreFailure{"disk full", true};
    std::size_t sent = bob.sent;
    h.release_in_one_turn(net, bob, alice.addr);
    CHECK(bob.sent == sent);  // no ack for any of them
    CHECK(!bob.shown_prefix("<alice> ", mb));
    CHECK(bob.shown("! cannot save state (disk full); retrying; messages wait with their senders meanwhile", mb));

    // The disk has room again: alice's outbox resends, each is shown once and in order.
    bob.store_fault.reset();
    net.run_for(5000);
    std::vector<std::string> shown;
    for (auto& l : bob.since(mb))
        if (l.rfind("<alice> ", 0) == 0) shown.push_back(l);
    CHECK(shown == std::vector<std::string>{"<alice> one", "<alice> two", "<alice> three"});
    CHECK(bob.shown("* state saved again", mb));
    auto l = alice.since(ma);
    CHECK(std::count_if(l.begin(), l.end(), [](const std::string& x) { return x.rfind("* delivered ", 0) == 0; }) == 3);
}

TEST_CASE("several lines typed in one turn and the commit fails: each refused, nothing sent, numbering kept") {
    HostNet net;
    auto [alice, bob] = net.chatting_pair();
    alice.store_fault = host::StoreFailure{"disk full", true};
    std::size_t ma = alice.mark(), mb = bob.mark(), sent = alice.sent;
    type_in_one_turn(net, alice, {"one", "two", "three"});
    CHECK(alice.sent == sent);
    CHECK(alice.host->node()->outbox_size() == 0);
    CHECK(alice.host->node()->outbox_waiting("bob") == 0);
    auto l = alice.since(ma);
    CHECK(std::count(l.begin(), l.end(), "! not sent to bob: it could not be saved (nothing was sent)") == 3);
    CHECK(!alice.shown_prefix("* queued ", ma));

    // Written again once the disk has room: numbered where the refused ones
    // started, so bob shows them at once (none waits for a missing number).
    alice.store_fault.reset();
    net.run_for(1500);
    type_in_one_turn(net, alice, {"four", "five"});
    net.run_for(300);
    CHECK(bob.since(mb) == std::vector<std::string>{"<alice> four", "<alice> five"});
}

TEST_CASE("a turn with a room line and a direct message: one batch for both parts, taken back by each") {
    HostNet net;
    auto [relay, alice, bob] = net.pair_on_relay();
    std::string id = alice_in_room(net, alice, bob);
    auto one_turn = [&](const std::string& room_line, const std::string& chat) {
        net.network().input(alice, [&] {
            alice.session->handle_line(net.now(), room_line);
            alice.host->node()->handle_command(net.now(), core::cmd::Chat{"bob", chat});
            alice.show();
        });
    };
    auto has = [&](auto is) { return std::any_of(alice.last_batch.begin(), alice.last_batch.end(), is); };
    auto is_line = [](const StoreOp& op) { return std::holds_alternative<store_op::PutRoomLine>(op); };
    auto is_outbox = [](const StoreOp& op) { return std::holds_alternative<store_op::PutOutbox>(op); };

    std::size_t batches = alice.batches, ma = alice.mark(), mb = bob.mark();
    one_turn("in the room", "direct");
    CHECK(alice.batches == batches + 1);
    CHECK(has(is_line));
    CHECK(has(is_outbox));
    net.run_for(1000);
    CHECK(bob.shown("<alice> direct", mb));
    CHECK(bob.shown("[" + id + "] <alice> in the room", mb));

    // The commit fails: the node refuses its message, the room client's packets are held back.
    alice.store_fault = host::StoreFailure{"disk full", true};
    std::size_t sent = alice.sent;
    one_turn("room again", "direct again");
    CHECK(alice.sent == sent);
    CHECK(alice.shown("! not sent to bob: it could not be saved (nothing was sent)", ma));
    alice.store_fault.reset();
    net.run_for(3000);
    CHECK(!bob.shown("<alice> direct again", mb));
    CHECK(bob.shown("[" + id + "] <alice> room again", mb));
}

TEST_CASE("a message received twice in one turn whose commit fails: neither copy is acknowledged") {
    HostNet net;
    auto [alice, bob] = net.chatting_pair();
    std::size_t ma = alice.mark(), mb = bob.mark();
    Holding h;
    h.typed_and_held(net, alice, bob, {"twice"});
    // The first copy is shown (on the assumption that the commit succeeds),
    // the second one finds it seen: a duplicate, whose ack rests on the same commit.
    h.held.push_back(h.held.front());

    bob.store_fault = host::StoreFailure{"disk full", true};
    std::size_t sent = bob.sent;
    h.release_in_one_turn(net, bob, alice.addr);
    CHECK(bob.sent == sent);
    CHECK(!bob.shown_prefix("<alice> ", mb));
    net.run_for(100);
    CHECK(!alice.shown_prefix("* delivered ", ma));
    CHECK(alice.host->node()->outbox_waiting("bob") == 1);

    bob.store_fault.reset();
    net.run_for(5000);
    auto l = bob.since(mb);
    CHECK(std::count(l.begin(), l.end(), "<alice> twice") == 1);
    CHECK(alice.shown_prefix("* delivered ", ma));
}

TEST_CASE("a commit that fails after one that succeeded takes back nothing that was stored") {
    HostNet net;
    auto [relay, alice, bob] = net.pair_on_relay();
    alice_in_room(net, alice, bob);
    std::size_t ma = alice.mark(), mb = bob.mark();
    // bob is out of reach for a while: alice's direct message is stored and waits in her outbox.
    net.network().drop = [&](const sim::Station& s, const core::Transmit& t) { return &s == &alice && t.to == bob.addr; };
    net.network().input(alice, [&] {
        alice.host->node()->handle_command(net.now(), core::cmd::Chat{"bob", "stored before the disk filled"});
        alice.show();
    });
    CHECK(alice.shown_prefix("* queued ", ma));
    REQUIRE(alice.host->node()->outbox_waiting("bob") == 1);

    // The disk fills: a room line (the room client's alone) cannot be stored,
    // nor can it in the retry, a turn in which the node has no input.
    alice.store_fault = host::StoreFailure{"disk full", true};
    std::size_t batches = alice.batches;
    net.type(alice, "a room line");
    net.network().input(alice, [] {});
    CHECK(alice.batches == batches);
    CHECK(!alice.shown_prefix("! not sent to bob", ma));
    CHECK(alice.host->node()->outbox_waiting("bob") == 1);

    alice.store_fault.reset();
    net.network().drop = nullptr;
    net.run_for(35000);
    CHECK(bob.shown("<alice> stored before the disk filled", mb));
    CHECK(alice.shown_prefix("* delivered ", ma));
}
