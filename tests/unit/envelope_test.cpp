// The packet envelope alone: sealing, opening in its order (parse, budget,
// signature), per-ip budgets and challenges, time passed in; and the roles' adapter
// of it (known senders' budgets, one packet to many).
#include "core/envelope.hpp"
#include "roles/envelope.hpp"

#include "darkchat/crypto.hpp"

#include <doctest/doctest.h>

#include <deque>

using namespace dc;

namespace {

// Real signatures, counted; random bytes scripted when a test asks for them.
struct CountingCrypto final : core::Crypto {
    int signs = 0, verifies = 0;
    std::deque<std::uint8_t> script;  // bytes random() hands out first
    Signature sign(const SecretKey& sk, ByteView msg) override {
        ++signs;
        return crypto::sign(sk, msg);
    }
    bool verify(const PublicKey& pk, ByteView msg, const Signature& sig) override {
        ++verifies;
        return crypto::verify(pk, msg, sig);
    }
    void random(std::span<std::uint8_t> out) override {
        for (auto& b : out) {
            if (script.empty()) {
                crypto::random_bytes(std::span(&b, 1));
                continue;
            }
            b = script.front();
            script.pop_front();
        }
    }
};

Identity identity(const std::string& user) {
    auto kp = crypto::generate_identity();
    Identity id{user, kp.pk, kp.sk, {}, std::nullopt};
    id.session[0] = static_cast<std::uint8_t>(user.size());
    return id;
}

const Addr kFrom = Addr::v4(127, 0, 0, 2, 5000);
const Addr kTo = Addr::v4(127, 0, 0, 3, 6000);

auto admit_all = [](const wire::Packet&) { return core::Drop::none; };

}  // namespace

TEST_CASE("a sealed packet opens with its sender's header, payload and declared port") {
    CountingCrypto cr;
    core::Envelope alice(identity("alice"), cr, 4242, 10, 10);
    core::Envelope bob(identity("bob"), cr, 4343, 10, 10);
    Bytes payload{1, 2, 3};
    auto tx = alice.seal(kTo, wire::MsgType::ping, payload);
    REQUIRE(tx);
    CHECK(tx->to == kTo);
    CHECK_FALSE(tx->stream);
    core::Stats st;
    auto pkt = bob.open(tx->data, st, admit_all);
    REQUIRE(pkt);
    CHECK(pkt->header.type == wire::MsgType::ping);
    CHECK(pkt->header.from_user == "alice");
    CHECK(pkt->header.from_port == 4242);
    CHECK(pkt->header.from_key == alice.id().pk);
    CHECK(pkt->payload == payload);
    CHECK(st.received == 1);
    CHECK(core::reply_addr(kFrom, pkt->header) == Addr::v4(127, 0, 0, 2, 4242));
}

TEST_CASE("nowhere to send to: nothing is signed") {
    CountingCrypto cr;
    core::Envelope e(identity("alice"), cr, 1, 10, 10);
    CHECK_FALSE(e.seal(Addr{}, wire::MsgType::ping, Bytes{}));
    CHECK_FALSE(e.seal(Addr::v4(127, 0, 0, 1, 0), wire::MsgType::ping, Bytes{}));
    CHECK(cr.signs == 0);
}

TEST_CASE("opening goes parse, budget, signature: what fails early costs no signature check") {
    CountingCrypto cr;
    core::Envelope alice(identity("alice"), cr, 1, 10, 10);
    core::Envelope bob(identity("bob"), cr, 2, 10, 10);
    auto tx = alice.seal(kTo, wire::MsgType::ping, Bytes{9});
    REQUIRE(tx);
    core::Stats st;
    int admitted = 0;
    auto count_admit = [&](const wire::Packet&) {
        ++admitted;
        return core::Drop::none;
    };

    SUBCASE("garbage is malformed and never reaches the budget") {
        Bytes junk{0xc1, 0x00, 0x01};
        CHECK_FALSE(bob.open(junk, st, count_admit));
        CHECK(st.malformed == 1);
        CHECK(admitted == 0);
        CHECK(cr.verifies == 0);
    }
    SUBCASE("a refused packet is counted as refused and not verified") {
        CHECK_FALSE(bob.open(tx->data, st, [](const wire::Packet&) { return core::Drop::rate_limited; }));
        CHECK(st.rate_limited == 1);
        CHECK_FALSE(bob.open(tx->data, st, [](const wire::Packet&) { return core::Drop::unsolicited; }));
        CHECK(st.unsolicited == 1);
        CHECK(cr.verifies == 0);
    }
    SUBCASE("a forged signature is checked after the budget, and dropped") {
        Bytes forged = tx->data;
        forged.back() ^= 1;  // the signature ends the packet
        CHECK_FALSE(bob.open(forged, st, count_admit));
        CHECK(admitted == 1);
        CHECK(cr.verifies == 1);
        CHECK(st.bad_signature == 1);
    }
    CHECK(st.received == 1 + (st.rate_limited ? 1 : 0));
}

TEST_CASE("each ip has a budget of its own, refilled with time") {
    CountingCrypto cr;
    core::Envelope e(identity("bob"), cr, 2, 1, 2);  // one a second, burst two
    const Addr other = Addr::v4(127, 0, 0, 9, 5000);
    CHECK(e.ip_budget(0, kFrom));
    CHECK(e.ip_budget(0, kFrom));
    CHECK_FALSE(e.ip_budget(0, kFrom));
    CHECK(e.ip_budget(0, other));
    Addr same_ip_other_port = kFrom;
    same_ip_other_port.port = 1;
    CHECK_FALSE(e.ip_budget(500, same_ip_other_port));
    CHECK(e.ip_budget(1000, same_ip_other_port));
}

TEST_CASE("a challenge is never zero, and signed blobs verify only under their key") {
    CountingCrypto cr;
    core::Envelope e(identity("alice"), cr, 1, 10, 10);
    for (int i = 0; i < 8; ++i) cr.script.push_back(0);  // the first draw is zero
    for (int i = 0; i < 8; ++i) cr.script.push_back(7);
    CHECK(e.nonce() == 0x0707070707070707ull);
    auto blob = e.sign(Bytes{4, 5, 6});
    CHECK(e.verify(blob, e.id().pk));
    core::Envelope other(identity("mallory"), cr, 1, 10, 10);
    CHECK_FALSE(e.verify(blob, other.id().pk));
    auto id = e.random_id<16>();
    CHECK(id.size() == 16);
}

TEST_CASE("roles: a known sender at its address spends a budget of its own, not its ip's") {
    CountingCrypto cr;
    roles::detail::Envelope relay(identity("relay"), cr, 7400, 1, 2);  // per ip: one a second, burst two
    relay.known_budget(1, 4);                                          // per known sender: burst four
    core::Envelope member(identity("member"), cr, 5000, 10, 10), stranger(identity("stranger"), cr, 5001, 10, 10);
    const Addr stranger_at = Addr::v4(127, 0, 0, 2, 5001);  // the member's ip, another port
    auto known = [&](const wire::Header& h, const Addr& a) { return h.from_key == member.id().pk && a == kFrom; };
    auto from = [&](core::Envelope& e) { return e.seal(kTo, wire::MsgType::room_line, Bytes{1})->data; };
    int member_in = 0, stranger_in = 0;
    for (int i = 0; i < 6; ++i) {
        member_in += relay.open(0, kFrom, from(member), known).has_value();
        stranger_in += relay.open(0, stranger_at, from(stranger), known).has_value();
    }
    CHECK(member_in == 4);    // its own burst, untouched by the stranger on its ip
    CHECK(stranger_in == 2);  // the ip's burst
    // The member's key from another address is a stranger there.
    CHECK_FALSE(relay.open(0, stranger_at, from(member), known).has_value());
    CHECK(relay.stats().rate_limited == 2 + 4 + 1);
}

TEST_CASE("roles: one packet to many receivers is signed once, the same bytes to each") {
    CountingCrypto cr;
    roles::detail::Envelope relay(identity("relay"), cr, 7400, 10, 10);
    const std::vector<Addr> to = {Addr::v4(127, 0, 0, 3, 1), Addr::v4(127, 0, 0, 4, 2), Addr{}, Addr::v4(127, 0, 0, 5, 3)};
    relay.send_all(to, wire::MsgType::room_line, Bytes{9, 9});
    CHECK(cr.signs == 1);
    std::vector<core::Transmit> sent;
    while (auto t = relay.poll()) sent.push_back(std::move(*t));
    REQUIRE(sent.size() == 3);  // nowhere to send to is skipped
    CHECK(sent[0].to == to[0]);
    CHECK(sent[2].to == to[3]);
    CHECK(sent[1].data == sent[0].data);
    CHECK(sent[2].data == sent[0].data);
    core::Envelope member(identity("member"), cr, 1, 10, 10);
    core::Stats st;
    auto p = member.open(sent[1].data, st, admit_all);
    REQUIRE(p);
    CHECK(p->header.from_key == relay.id().pk);
}
