// Holding (darkchat-protocol(7), HOLDING) on whole hosts: a message for a user
// who is offline is left with a common contact, who hands it over when that
// user is back, even after its author has gone.
#include "../support/host_net.hpp"
#include "crypto/wire_signing.hpp"

#include <doctest/doctest.h>

using namespace dc;
using namespace dc::test;

namespace {

// alice, bob and carol, each linked with the other two; alice talks to bob.
struct Three {
    HostNet net;
    HostPeer& alice;
    HostPeer& bob;
    HostPeer& carol;
    Three(core::Config carol_cfg = {})
        : alice(net.started("alice")), bob(net.started("bob")), carol(net.add("carol", {}, carol_cfg)) {
        net.start(carol);
        net.link(alice, bob);
        net.link(alice, carol);
        net.link(bob, carol);
        net.run_for(2000);
        net.type(alice, "\\chat bob");
    }
    // bob quits; alice types `line` (text, or a macro); returns once carol stored what she holds.
    void held_by_carol(const std::string& line) {
        net.quit(bob);
        net.run_for(500);
        net.type(alice, line);
        REQUIRE(net.run_until([&] { return carol.store.held.size() == 1; }, 15000));
    }
};

std::size_t held_rows(const HostPeer& p) { return p.store.held.size(); }

}  // namespace

TEST_CASE("a line to a user who is offline is held by a common contact and reaches it after its author quit") {
    Three t;
    t.net.quit(t.bob);
    t.net.run_for(500);
    auto m = t.alice.mark();
    t.net.type(t.alice, "while you were away");
    CHECK(t.net.run_until([&] { return t.alice.shown_prefix("* held ", m); }, 15000));
    CHECK(count_matching(t.alice.lines, R"(\* held [0-9a-f]+ for bob by carol)") == 1);
    CHECK(held_rows(t.carol) == 1);  // stored before it said yes

    t.net.quit(t.alice);  // the author is gone
    t.net.run_for(500);
    auto b = t.bob.mark();
    t.net.start(t.bob);
    CHECK(t.net.run_until([&] { return t.bob.shown("<alice> while you were away", b); }, 15000));
    t.net.run_for(6000);
    CHECK(count_matching(t.bob.lines, R"(<alice> while you were away)") == 1);
    CHECK(held_rows(t.carol) == 0);  // bob acknowledged it to carol

    // The author comes back: its outbox still had the line, bob has it already.
    auto a = t.alice.mark();
    t.net.start(t.alice);
    CHECK(t.net.run_until([&] { return t.alice.shown_prefix("* delivered ", a); }, 15000));
    t.net.run_for(3000);
    CHECK(count_matching(t.bob.lines, R"(<alice> while you were away)") == 1);
    CHECK(t.alice.host->node()->outbox_waiting("bob") == 0);
}

TEST_CASE("what a holder holds survives its kill -9, and lines keep their order through it") {
    Three t;
    t.net.kill(t.bob);
    t.net.run_for(8000);  // alice and carol find bob gone
    for (int i = 1; i <= 5; ++i) t.net.type(t.alice, "line " + std::to_string(i));
    CHECK(t.net.run_until([&] { return held_rows(t.carol) == 5; }, 20000));
    t.net.kill(t.carol);
    t.net.kill(t.alice);
    t.net.run_for(500);
    t.net.start(t.carol);
    t.net.run_for(500);
    auto b = t.bob.mark();
    t.net.start(t.bob);
    CHECK(t.net.run_until([&] { return t.bob.shown("<alice> line 5", b); }, 20000));
    t.net.run_for(6000);
    std::vector<std::string> got;
    for (auto& l : t.bob.since(b))
        if (l.rfind("<alice> ", 0) == 0) got.push_back(l);
    CHECK(got == std::vector<std::string>{"<alice> line 1", "<alice> line 2", "<alice> line 3", "<alice> line 4",
                                          "<alice> line 5"});
    CHECK(held_rows(t.carol) == 0);
}

TEST_CASE("a holder past its limit refuses in words, once, and holds what it took") {
    core::Config small;
    small.max_held_per_sender = 2;
    Three t(small);
    t.net.quit(t.bob);
    t.net.run_for(500);
    auto m = t.alice.mark();
    for (int i = 1; i <= 4; ++i) t.net.type(t.alice, "note " + std::to_string(i));
    t.net.run_for(12000);
    CHECK(count_matching(t.alice.lines, R"(! carol does not hold messages for bob: holding 2 messages from alice already)") == 1);
    CHECK(count_matching(t.alice.lines, R"(\* held [0-9a-f]+ for bob by carol)") == 2);
    CHECK(held_rows(t.carol) == 2);
    CHECK(t.alice.host->node()->outbox_waiting("bob") == 4);  // nothing is given up
    (void)m;
}

TEST_CASE("a hand-over the recipient cannot trust is dropped, and nothing is shown") {
    Three t;
    t.held_by_carol("real line");
    // carol (a contact of bob) tampers with what she holds before handing it over.
    for (auto& [k, r] : t.carol.store.held) r.sealed[r.sealed.size() / 2] ^= 1;
    t.net.kill(t.carol);
    t.net.start(t.carol);
    t.net.kill(t.alice);
    auto b = t.bob.mark();
    t.net.start(t.bob);
    t.net.run_for(12000);
    CHECK(count_matching(t.bob.lines, R"(<alice> .*)") == 0);
    CHECK(t.bob.host->node()->stats().undecryptable >= 1);
    CHECK(held_rows(t.carol) == 1);  // not acknowledged: still held (until it is too old)
    (void)b;
}

TEST_CASE("a holder cannot forge: a hand-over is taken only with its author's own signature") {
    Three t;
    // bob's holding key, made from his identity as his node makes it (node_holding.cpp).
    KxSecretKey sk{};
    const std::string_view label = "darkchat hold kx";
    core::real_crypto().hash(sk, ByteView(t.bob.id.sk),
                             ByteView(reinterpret_cast<const std::uint8_t*>(label.data()), label.size()));
    const KxPublicKey bob_hold = core::real_crypto().kx_public(sk);
    // carol hands bob a line "from alice", once signed by carol and once by alice.
    auto hand_over = [&](const std::string& text, std::uint8_t n, const SecretKey& signer) {
        wire::ChatMessage m;
        m.id.fill(n);
        m.from = "alice";
        m.to = "bob";
        m.sent = t.net.now();
        m.text = text;
        auto blob = wire::sign_blob(wire::encode(m), signer);
        wire::HandOver h{crypto::seal(wire::encode(blob), bob_hold), 0};
        wire::Header hd{wire::MsgType::hand_over, "carol", t.carol.id.session, t.carol.addr.port, t.carol.id.pk};
        t.net.inject(t.bob, t.carol.addr, wire::encode_packet(hd, wire::encode(h), t.carol.id.sk));
    };
    auto b = t.bob.mark();
    auto bad = t.bob.host->node()->stats().bad_signature;
    hand_over("forged by carol", 1, t.carol.id.sk);
    t.net.run_for(500);
    CHECK(t.bob.host->node()->stats().bad_signature == bad + 1);
    hand_over("really from alice", 2, t.alice.id.sk);
    t.net.run_for(500);
    CHECK(t.bob.since(b) == std::vector<std::string>{"<alice> really from alice"});
}

TEST_CASE("a group request to a user who is offline is held, and shown to it after its author quit") {
    Three t;
    t.held_by_carol("\\connect bob");
    CHECK(count_matching(t.alice.lines, R"(\* held .*)") == 0);  // the group's own traffic says nothing
    t.net.quit(t.alice);
    t.net.run_for(500);
    auto b = t.bob.mark();
    t.net.start(t.bob);
    CHECK(t.net.run_until(
        [&] { return t.bob.shown_prefix("* alice asks you into a new group (public): \\yes ", b); }, 15000));
    t.net.run_for(6000);
    CHECK(held_rows(t.carol) == 0);
}

TEST_CASE("a holder whose disk is full says nothing until it could store what it took, then holds it") {
    Three t;
    t.net.quit(t.bob);
    t.net.run_for(500);
    t.carol.store_fails = true;
    auto m = t.alice.mark();
    t.net.type(t.alice, "kept only once stored");
    t.net.run_for(12000);
    CHECK_FALSE(t.alice.shown_prefix("* held ", m));  // its holdAck rested on the failed commit
    CHECK(held_rows(t.carol) == 0);
    t.carol.store_fails = false;
    CHECK(t.net.run_until([&] { return t.alice.shown_prefix("* held ", m); }, 15000));
    CHECK(held_rows(t.carol) == 1);
    auto b = t.bob.mark();
    t.net.quit(t.alice);
    t.net.start(t.bob);
    CHECK(t.net.run_until([&] { return t.bob.shown("<alice> kept only once stored", b); }, 15000));
}

TEST_CASE("a super-client holds for users it serves, though it is nobody's contact") {
    HostNet net;
    core::Config super;
    super.super_client = true;
    auto& s = net.add("server", {}, super);
    net.start(s);
    core::Config served;
    served.servers = {s.addr};
    auto& alice = net.add("alice", {}, served);
    auto& bob = net.add("bob", {}, served);
    net.start(alice);
    net.start(bob);
    net.link(alice, bob);
    net.run_for(3000);
    net.type(alice, "\\chat bob");
    net.quit(bob);
    net.run_for(500);
    auto m = alice.mark();
    net.type(alice, "via the server");
    CHECK(net.run_until([&] { return alice.shown_prefix("* held ", m); }, 15000));
    CHECK(count_matching(alice.since(m), R"(\* held [0-9a-f]+ for bob by server)") == 1);
    net.quit(alice);
    net.run_for(500);
    auto b = bob.mark();
    net.start(bob);
    CHECK(net.run_until([&] { return bob.shown("<alice> via the server", b); }, 20000));
    net.run_for(6000);
    CHECK(held_rows(s) == 0);
}

TEST_CASE("a held group request survives restarts of both ends, and is answered when both are back") {
    Three t;
    t.held_by_carol("\\connect bob");
    t.net.kill(t.alice);  // her request is in her store, not only in memory
    t.net.run_for(500);
    // bob sees the request, is killed, and sees it again from his store.
    auto b = t.bob.mark();
    t.net.start(t.bob);
    REQUIRE(t.net.run_until([&] { return t.bob.shown_prefix("* alice asks you into a new group", b); }, 15000));
    t.net.run_for(6000);
    t.net.kill(t.bob);
    b = t.bob.mark();
    t.net.start(t.bob);
    REQUIRE(t.net.run_until([&] { return t.bob.shown_prefix("* alice asks you into a new group", b); }, 5000));
    CHECK(count_matching(t.bob.since(b), R"(\* alice asks you into a new group \(public\): \\yes 1 or \\no 1)") == 1);
    // alice is back; bob says yes to what she asked before her restart.
    t.net.start(t.alice);
    t.net.run_for(3000);
    t.net.type(t.bob, "\\yes");
    CHECK(t.net.run_until([&] { return t.alice.host->groups()->groups().size() == 1; }, 15000));
    auto g = t.bob.host->groups()->groups();
    REQUIRE(g.size() == 1);
    CHECK(g.front().members.size() == 2);
}
