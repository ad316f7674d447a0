// This session's own declaration alone: signed, numbered above every earlier
// one (across restarts and clock steps), and carried by Declare payloads.
#include "core/own_declaration.hpp"

#include "darkchat/crypto.hpp"

#include <doctest/doctest.h>

using namespace dc;

namespace {
Identity identity() {
    auto kp = crypto::generate_identity();
    Identity id{"alice", kp.pk, kp.sk, {}, std::nullopt};
    id.session[0] = 7;
    return id;
}
wire::Declaration draft(const Identity& id, bool online) {
    wire::Declaration d;
    d.user = id.user;
    d.key = id.pk;
    d.session = id.session;
    d.online = online;
    d.addr = Addr::v4(127, 0, 0, 1, 4242);
    d.links = {"bob"};
    return d;
}
}  // namespace

TEST_CASE("each declaration is signed and numbered above the one before, and above the clock") {
    REQUIRE(crypto::init());
    core::Envelope env(identity(), core::real_crypto(), 4242, 10, 10);
    core::OwnDeclaration own;
    CHECK_FALSE(own.online());
    auto r1 = own.declare(env, draft(env.id(), true), 5);
    CHECK(own.online());
    CHECK(own.type() == wire::MsgType::declare_online);
    CHECK(r1.seq == 5000);
    CHECK(r1.online);
    CHECK(r1.user == "alice");
    CHECK(r1.addr == Addr::v4(127, 0, 0, 1, 4242));
    CHECK(r1.last_seen == 5);
    CHECK(env.verify(own.blob(), env.id().pk));
    auto d = wire::decode_declaration(own.blob().body);
    REQUIRE(d);
    CHECK(d->seq == 5000);
    CHECK(d->links == std::vector<std::string>{"bob"});

    // The clock did not move (or went back): the number still goes up.
    auto r2 = own.declare(env, draft(env.id(), false), 3);
    CHECK(r2.seq == 5001);
    CHECK_FALSE(own.online());
    CHECK(own.type() == wire::MsgType::declare_offline);
}

TEST_CASE("after a restart the numbers go on above what the store remembers") {
    REQUIRE(crypto::init());
    core::Envelope env(identity(), core::real_crypto(), 4242, 10, 10);
    core::OwnDeclaration own;
    own.resume(90000);
    own.resume(10);  // an older record does not lower it
    CHECK(own.seq() == 90000);
    CHECK(own.declare(env, draft(env.id(), true), 50).seq == 90001);
}

TEST_CASE("a Declare payload carries the current declaration and its options") {
    REQUIRE(crypto::init());
    core::Envelope env(identity(), core::real_crypto(), 4242, 10, 10);
    core::OwnDeclaration own;
    own.declare(env, draft(env.id(), true), 1);
    auto p = wire::decode_declare(own.payload(1, true, true, 99));
    REQUIRE(p);
    CHECK(p->decl.body == own.blob().body);
    CHECK(p->hops == 1);
    CHECK(p->reply);
    CHECK(p->explode);
    CHECK(p->nonce == 99);
}
