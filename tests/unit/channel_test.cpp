// Session channels alone (core/channel.hpp): the handshake over signed packets (the
// envelope signs and opens them as the node will), data packets, the replay window,
// rekeying, the table's bounds. Time is passed in. Each scenario runs with libsodium
// and with the simulator's FastCrypto.
#include "core/channel.hpp"
#include "core/envelope.hpp"

#include "darkchat/crypto.hpp"
#include "sim/crypto.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <vector>

using namespace dc;
using core::ChannelConfig;
using core::ChannelOut;
using core::Channels;
using wire::MsgType;

namespace {

const Addr kAddr = Addr::v4(127, 0, 0, 2, 5000);

// One session: its identity, its envelope, its session key, its channels.
struct Peer {
    core::Crypto& cr;
    Identity id;
    KxSecretKey kx_sk{};
    KxPublicKey kx_pk{};
    core::Envelope env;
    Channels ch;

    static Identity make_id(std::uint16_t n, const SessionId* session) {
        std::array<std::uint8_t, 32> seed{};
        seed[0] = static_cast<std::uint8_t>(n);
        seed[1] = static_cast<std::uint8_t>(n >> 8);
        auto kp = crypto::identity_from_seed(seed);
        Identity id{"user" + std::to_string(n), kp.pk, kp.sk, {}, std::nullopt};
        id.session[0] = static_cast<std::uint8_t>(n >> 8);
        id.session[7] = static_cast<std::uint8_t>(n);
        if (session) id.session = *session;
        return id;
    }
    // session: another session's id, for an impostor.
    Peer(core::Crypto& c, std::uint16_t n, ChannelConfig cfg = {}, const SessionId* session = nullptr)
        : cr(c), id(make_id(n, session)), env(id, c, 5000, 1e9, 1e9), ch(c, id.pk, id.session, cfg) {
        REQUIRE(crypto::init().ok());  // libsodium picks its X25519 code here
        rotate(0);
    }
    void rotate(TimeMs now) {
        cr.random(kx_sk);
        kx_pk = cr.kx_public(kx_sk);
        ch.set_kx(now, kx_pk, kx_sk);
    }
    void connect(TimeMs now, const Peer& to) { ch.connect(now, to.id.session, to.id.pk, to.kx_pk); }
    std::vector<ChannelOut> drain() {
        std::vector<ChannelOut> v;
        while (auto o = ch.poll_out()) v.push_back(std::move(*o));
        return v;
    }
};

// A handshake message goes out signed by its sender and is opened (signature checked)
// by the receiver's envelope; a data packet goes as it is. Returns what `to` opened.
std::optional<Channels::Opened> receive(TimeMs now, Peer& to, Peer& from, const ChannelOut& o) {
    if (o.type == MsgType::channel_data) return to.ch.open(now, o.bytes);
    auto t = from.env.seal(kAddr, o.type, o.bytes);
    REQUIRE(t.has_value());
    core::Stats st;
    auto pkt = to.env.open(t->data, st, [](const wire::Packet&) { return core::Drop::none; });
    REQUIRE(pkt.has_value());
    if (o.type == MsgType::channel_hello) {
        auto m = wire::decode_channel_hello(pkt->payload);
        REQUIRE(m.ok());
        to.ch.handle_hello(now, pkt->header, *m);
    } else {
        auto m = wire::decode_channel_welcome(pkt->payload);
        REQUIRE(m.ok());
        to.ch.handle_welcome(now, pkt->header, *m);
    }
    return std::nullopt;
}

// Delivers everything both want sent, back and forth, until nothing is left.
void pump(TimeMs now, Peer& a, Peer& b) {
    for (int round = 0; round < 10; ++round) {
        auto from_a = a.drain();
        auto from_b = b.drain();
        if (from_a.empty() && from_b.empty()) return;
        for (const auto& o : from_a) CHECK_FALSE(receive(now, b, a, o).has_value());
        for (const auto& o : from_b) CHECK_FALSE(receive(now, a, b, o).has_value());
    }
    FAIL("the handshake did not settle");
}

Bytes chat_payload(std::uint8_t fill = 0x5a) { return Bytes(100, fill); }

// a sends to b; b opens it and sees a's session, the type and the payload.
bool goes_through(TimeMs now, Peer& a, Peer& b, std::uint8_t fill = 0x5a) {
    auto d = a.ch.seal(now, b.id.session, MsgType::chat, chat_payload(fill));
    if (!d) return false;
    auto o = b.ch.open(now, *d);
    return o && o->peer == a.id.session && o->peer_key == a.id.pk && o->type == MsgType::chat &&
           o->payload == chat_payload(fill);
}

// The scenarios, each run with both kinds of crypto.
void handshake_and_round_trip(core::Crypto& cr) {
    Peer a(cr, 1), b(cr, 2);
    CHECK_FALSE(a.ch.ready(b.id.session));
    CHECK_FALSE(a.ch.seal(0, b.id.session, MsgType::chat, chat_payload()).has_value());
    a.connect(0, b);
    CHECK(a.ch.connecting(b.id.session));
    pump(0, a, b);
    CHECK(a.ch.ready(b.id.session));
    CHECK(b.ch.ready(a.id.session));
    CHECK(a.ch.stats().established == 1);
    CHECK(b.ch.stats().established == 1);  // confirmed by a's first packet
    CHECK(goes_through(1, a, b));
    CHECK(goes_through(1, b, a));
    // The packet: prefix, inner type, payload, tag.
    auto d = a.ch.seal(2, b.id.session, MsgType::ping, Bytes{1, 2, 3});
    REQUIRE(d);
    CHECK(d->size() == wire::kChannelPrefix + 1 + 3 + wire::kChannelTag);
    CHECK(wire::peek_type(*d) == MsgType::channel_data);
    auto o = b.ch.open(2, *d);
    REQUIRE(o);
    CHECK(o->type == MsgType::ping);
    CHECK(o->payload == Bytes{1, 2, 3});
}

void tampering_is_refused(core::Crypto& cr) {
    Peer a(cr, 1), b(cr, 2), c(cr, 3);
    a.connect(0, b);
    pump(0, a, b);
    a.connect(0, c);
    pump(0, a, c);
    const Bytes good = *a.ch.seal(1, b.id.session, MsgType::chat, chat_payload());
    // Every bit of it flipped: a wrong version or type, index, counter, ciphertext or tag.
    for (std::size_t bit = 0; bit < good.size() * 8; ++bit) {
        Bytes bad = good;
        bad[bit / 8] ^= static_cast<std::uint8_t>(1 << (bit % 8));
        CHECK_FALSE(b.ch.open(1, bad).has_value());
    }
    // Cut short at every length.
    for (std::size_t n = 0; n < good.size(); ++n) CHECK_FALSE(b.ch.open(1, ByteView(good).first(n)).has_value());
    // Under another channel's key (a to c), given b's index for a: the tag does not check.
    Bytes other = *a.ch.seal(1, c.id.session, MsgType::chat, chat_payload());
    std::copy(good.begin() + 2, good.begin() + 6, other.begin() + 2);
    const auto undecryptable = b.ch.stats().undecryptable;
    CHECK_FALSE(b.ch.open(1, other).has_value());
    CHECK(b.ch.stats().undecryptable == undecryptable + 1);
    CHECK(b.ch.stats().unknown_index > 0);
    CHECK(b.ch.stats().malformed > 0);
    // None of that used up the counter: the packet itself still opens, once.
    CHECK(b.ch.open(1, good).has_value());
    CHECK_FALSE(b.ch.open(1, good).has_value());
}

void replay_window(core::Crypto& cr) {
    Peer a(cr, 1), b(cr, 2);
    a.connect(0, b);
    pump(0, a, b);
    std::vector<Bytes> sent;
    for (int i = 0; i < 3000; ++i) sent.push_back(*a.ch.seal(1, b.id.session, MsgType::chat, Bytes{1}));
    // Newest first, then the 100 before it in reverse: out of order within the window.
    CHECK(b.ch.open(1, sent[2999]).has_value());
    for (int i = 2998; i >= 2899; --i) CHECK(b.ch.open(1, sent[i]).has_value());
    // Each of them again: replays.
    const auto replayed = b.ch.stats().replayed;
    for (int i = 2899; i < 3000; ++i) CHECK_FALSE(b.ch.open(1, sent[i]).has_value());
    CHECK(b.ch.stats().replayed == replayed + 101);
    // Older than the window: refused although never seen.
    CHECK_FALSE(b.ch.open(1, sent[0]).has_value());
    CHECK_FALSE(b.ch.open(1, sent[2999 - core::ReplayWindow::kSize - 1]).has_value());
    // Just inside it: taken.
    CHECK(b.ch.open(1, sent[2999 - core::ReplayWindow::kSize + 1]).has_value());
}

void simultaneous_hellos(core::Crypto& cr) {
    Peer a(cr, 1), b(cr, 2);
    a.connect(0, b);
    b.connect(0, a);
    // Both hellos cross: each arrives before either side answers.
    auto ha = a.drain();
    auto hb = b.drain();
    REQUIRE(ha.size() == 1);
    REQUIRE(hb.size() == 1);
    receive(0, b, a, ha[0]);
    receive(0, a, b, hb[0]);
    pump(0, a, b);
    // a has the smaller session id and stayed the initiator; b answered.
    CHECK(a.ch.stats().crossed == 1);
    CHECK(b.ch.stats().crossed == 0);
    CHECK(a.ch.stats().established == 1);
    CHECK(b.ch.stats().established == 1);
    CHECK_FALSE(a.ch.connecting(b.id.session));
    CHECK_FALSE(b.ch.connecting(a.id.session));
    CHECK(goes_through(1, a, b));
    CHECK(goes_through(1, b, a));
    CHECK(a.ch.size() == 1);
    CHECK(b.ch.size() == 1);
}

void stale_session_key(core::Crypto& cr) {
    Peer a(cr, 1), b(cr, 2);
    a.connect(0, b);  // with b's key as a knows it
    b.rotate(0);      // ... which b replaces before the hello arrives
    pump(0, a, b);
    CHECK(b.ch.stats().stale == 1);  // answered with its current key, nothing made from the old
    CHECK(a.ch.stats().stale == 1);  // and a said hello again with it
    CHECK(goes_through(1, a, b));
    CHECK(goes_through(1, b, a));
}

// a sends n packets to b, one in `every` held back and delivered only after the keys
// changed under it (across one switch). Returns how many b opened, each the one sent.
int send_across_rekeys(TimeMs now, Peer& a, Peer& b, int n, int every) {
    int opened = 0;
    std::vector<std::pair<int, Bytes>> held;
    auto deliver = [&](int i, const Bytes& d) {
        auto o = b.ch.open(now, d);
        if (o && o->payload == Bytes{static_cast<std::uint8_t>(i)}) ++opened;
    };
    std::uint64_t rekeys = a.ch.stats().rekeys;
    for (int i = 0; i < n; ++i) {
        auto d = a.ch.seal(now, b.id.session, MsgType::chat, Bytes{static_cast<std::uint8_t>(i)});
        REQUIRE(d);
        if (i % every == 0) held.emplace_back(i, *d);
        else deliver(i, *d);
        pump(now, a, b);  // a rekey's handshake, when one starts
        if (a.ch.stats().rekeys != rekeys) {
            rekeys = a.ch.stats().rekeys;
            for (const auto& [j, h] : held) deliver(j, h);
            for (const auto& [j, h] : held) CHECK_FALSE(b.ch.open(now, h).has_value());
            held.clear();
        }
    }
    for (const auto& [j, h] : held) deliver(j, h);
    return opened;
}

void rekey_after_packet_limit(core::Crypto& cr) {
    ChannelConfig cfg;
    cfg.rekey_packets = 10;
    Peer a(cr, 1, cfg), b(cr, 2, cfg);
    a.connect(0, b);
    pump(0, a, b);
    CHECK(send_across_rekeys(1, a, b, 35, 4) == 35);  // every packet once, across every switch
    CHECK(a.ch.stats().rekeys >= 3);
    // With the handshake not answered, a key is used up at twice the limit.
    Peer c(cr, 3, cfg);
    a.connect(3, c);
    pump(3, a, c);
    int sent = 0;
    for (int i = 0; i < 40; ++i) sent += a.ch.seal(4, c.id.session, MsgType::ping, {}).has_value();
    CHECK(sent == 19);  // 20 counters, the first spent on confirming the keys
    CHECK(a.ch.stats().exhausted > 0);
}

void rekey_after_kx_rotation(core::Crypto& cr) {
    ChannelConfig cfg;
    cfg.grace = 5000;
    Peer a(cr, 1, cfg), b(cr, 2, cfg);
    a.connect(0, b);
    pump(0, a, b);
    // Packets both ways under the old keys, still in flight when b's key rotates.
    std::vector<Bytes> a_to_b, b_to_a;
    for (int i = 0; i < 5; ++i) {
        a_to_b.push_back(*a.ch.seal(10, b.id.session, MsgType::chat, Bytes{static_cast<std::uint8_t>(i)}));
        b_to_a.push_back(*b.ch.seal(10, a.id.session, MsgType::chat, Bytes{static_cast<std::uint8_t>(i)}));
    }
    b.rotate(20);
    CHECK(b.ch.connecting(a.id.session));
    pump(20, a, b);
    CHECK(b.ch.stats().rekeys == 1);
    CHECK(goes_through(30, a, b));
    CHECK(goes_through(30, b, a));
    int delivered = 0;
    for (const auto& d : a_to_b) delivered += b.ch.open(40, d).has_value();
    for (const auto& d : b_to_a) delivered += a.ch.open(40, d).has_value();
    CHECK(delivered == 10);
    for (const auto& d : a_to_b) CHECK_FALSE(b.ch.open(40, d).has_value());
    // Past the grace period the old keys are gone.
    const Bytes old = b_to_a[0];
    a.ch.handle_timeout(20 + cfg.grace);
    b.ch.handle_timeout(20 + cfg.grace);
    const auto unknown = a.ch.stats().unknown_index;
    CHECK_FALSE(a.ch.open(20 + cfg.grace, old).has_value());
    CHECK(a.ch.stats().unknown_index == unknown + 1);
    CHECK(goes_through(20 + cfg.grace, a, b));
    // The peer's new key learnt from elsewhere (its declaration) also rekeys.
    a.rotate(30000);
    pump(30000, a, b);
    CHECK(a.ch.stats().rekeys == 1);
    b.ch.peer_kx(30001, a.id.session, a.kx_pk);  // already the one the channel uses: nothing
    CHECK_FALSE(b.ch.connecting(a.id.session));
}

void table_bounds(core::Crypto& cr) {
    ChannelConfig cfg;
    cfg.max_channels = 8;
    cfg.max_half_open = 4;
    Peer b(cr, 2, cfg), a(cr, 1);
    a.connect(0, b);
    pump(0, a, b);
    // Hellos from 100 sessions that never confirm.
    for (std::uint16_t n = 10; n < 110; ++n) {
        Peer x(cr, n);
        x.connect(1, b);
        for (const auto& o : x.drain()) receive(1, b, x, o);
        b.drain();
        CHECK(b.ch.size() <= cfg.max_channels);
        CHECK(b.ch.half_open() <= cfg.max_half_open);
    }
    CHECK(b.ch.stats().evicted > 0);
    CHECK(goes_through(2, a, b));  // the working channel stayed
    CHECK(goes_through(2, b, a));
    // Sessions that complete their handshakes: still at most max_channels.
    for (std::uint16_t n = 200; n < 220; ++n) {
        Peer x(cr, n);
        x.connect(3, b);
        pump(3, x, b);
        CHECK(goes_through(3, x, b));
        CHECK(b.ch.size() <= cfg.max_channels);
    }
    // Unconfirmed ones expire.
    b.ch.handle_timeout(100000);
    CHECK(b.ch.half_open() == 0);
}

void close_and_timeouts(core::Crypto& cr) {
    Peer a(cr, 1), b(cr, 2);
    a.connect(0, b);
    pump(0, a, b);
    const Bytes before = *a.ch.seal(1, b.id.session, MsgType::chat, chat_payload());
    b.ch.close(a.id.session);
    CHECK(b.ch.size() == 0);
    CHECK_FALSE(b.ch.ready(a.id.session));
    CHECK_FALSE(b.ch.open(1, before).has_value());
    CHECK_FALSE(b.ch.seal(1, a.id.session, MsgType::chat, chat_payload()).has_value());
    // A hello nobody answers is sent again, then given up.
    Peer c(cr, 3);
    a.connect(10, c);
    CHECK(a.drain().size() == 1);
    REQUIRE(a.ch.poll_timeout().has_value());
    CHECK(*a.ch.poll_timeout() == 10 + 1000);
    a.ch.handle_timeout(1010);
    CHECK(a.drain().size() == 1);
    CHECK(a.ch.stats().hellos == 3);
    a.ch.handle_timeout(10 + 10000);
    CHECK(a.ch.stats().timed_out == 1);
    CHECK_FALSE(a.ch.connecting(c.id.session));
}

void lost_welcome(core::Crypto& cr) {
    Peer a(cr, 1), b(cr, 2);
    a.connect(0, b);
    for (const auto& o : a.drain()) receive(0, b, a, o);
    const auto first = b.drain();  // the welcome is lost
    REQUIRE(first.size() == 1);
    a.ch.handle_timeout(1000);  // a says hello again
    pump(1000, a, b);
    CHECK(b.ch.stats().welcomes == 2);
    CHECK(b.ch.stats().established == 1);  // the same keys, not new ones
    CHECK(goes_through(1001, a, b));
    CHECK(goes_through(1001, b, a));
    // The first welcome, arriving late, changes nothing.
    receive(1002, a, b, first[0]);
    CHECK(a.ch.stats().unsolicited == 1);
    CHECK(goes_through(1003, a, b));
}

void restart_with_clock_behind(core::Crypto& cr) {
    Peer b(cr, 2);
    {
        Peer a(cr, 1);
        a.connect(1000000, b);  // a's clock far ahead of b's
        pump(0, a, b);
        CHECK(goes_through(0, a, b));
    }
    // a restarts (new session key) with its clock now right: its hellos look older than
    // the last one b took, but b believed that one only a handshake timeout ahead.
    Peer a(cr, 1);
    TimeMs now = 20;
    a.connect(now, b);
    for (int i = 0; i < 40 && !a.ch.ready(b.id.session); ++i) {
        pump(now, a, b);
        now += 500;
        a.ch.handle_timeout(now);
        b.ch.handle_timeout(now);
        if (!a.ch.connecting(b.id.session) && !a.ch.ready(b.id.session)) a.connect(now, b);
    }
    CHECK(a.ch.ready(b.id.session));
    CHECK(now <= 20 + 10000 + 1000);
    CHECK(b.ch.stats().replayed > 0);
    CHECK(goes_through(now, a, b));
    CHECK(goes_through(now, b, a));
}

void replayed_and_impostor_hellos(core::Crypto& cr) {
    Peer a(cr, 1), b(cr, 2);
    a.connect(0, b);
    auto hello = a.drain();
    REQUIRE(hello.size() == 1);
    receive(0, b, a, hello[0]);
    pump(0, a, b);
    CHECK(goes_through(1, a, b));
    // The same hello again much later (a replay): the same welcome at most, never new keys.
    receive(5, b, a, hello[0]);
    b.drain();
    CHECK(b.ch.stats().replayed == 1);
    CHECK(goes_through(6, a, b));
    CHECK(goes_through(6, b, a));
    // Another identity under a's session id.
    Peer fake(cr, 9, {}, &a.id.session);
    fake.connect(7, b);
    for (const auto& o : fake.drain()) receive(7, b, fake, o);
    CHECK(b.ch.stats().wrong_key == 1);
    CHECK(goes_through(8, a, b));
}

}  // namespace

TEST_CASE("the replay window takes each counter once, out of order within it, nothing older") {
    core::ReplayWindow w;
    CHECK(w.fresh(0));
    w.mark(0);
    CHECK_FALSE(w.fresh(0));
    CHECK(w.fresh(5));
    w.mark(5);
    CHECK(w.fresh(3));
    w.mark(3);
    CHECK_FALSE(w.fresh(3));
    CHECK_FALSE(w.fresh(5));
    w.mark(100000);
    CHECK_FALSE(w.fresh(100000 - core::ReplayWindow::kSize - 1));
    CHECK(w.fresh(100000 - core::ReplayWindow::kSize));
    CHECK(w.fresh(99999));
    CHECK_FALSE(w.fresh(~std::uint64_t{0}));
}

TEST_CASE("a channel's keys are wiped when dropped") {
    core::ChannelKeys k;
    k.send.fill(0xaa);
    k.recv.fill(0xbb);
    k.wipe();
    CHECK(std::all_of(k.send.begin(), k.send.end(), [](auto x) { return x == 0; }));
    CHECK(std::all_of(k.recv.begin(), k.recv.end(), [](auto x) { return x == 0; }));
}

TEST_CASE("the handshake messages and data packets go on the wire and back") {
    wire::ChannelHello h{{1}, {2}, {3}, 77, 1700000000000};
    auto h2 = wire::decode_channel_hello(wire::encode(h));
    REQUIRE(h2.ok());
    CHECK(wire::encode(*h2) == wire::encode(h));
    CHECK(h2->index == 77);
    wire::ChannelWelcome w{{4}, {5}, {6}, 8, 77, false};
    auto w2 = wire::decode_channel_welcome(wire::encode(w));
    REQUIRE(w2.ok());
    CHECK(w2->echo == 77);
    CHECK(w2->ephemeral == w.ephemeral);
    wire::ChannelWelcome stale{{4}, {5}, {}, 0, 77, true};
    CHECK(wire::encode(stale).size() < wire::encode(w).size());
    CHECK(wire::decode_channel_welcome(wire::encode(stale))->stale);
    wire::ChannelData d{0x01020304, 0x0102030405060708ULL, Bytes(17, 9)};
    const Bytes b = wire::encode(d);
    CHECK(b.size() == wire::kChannelMinPacket);
    CHECK(wire::peek_type(b) == MsgType::channel_data);
    CHECK(*wire::parse_channel_data(b) == d);
    CHECK_FALSE(wire::parse_channel_data(ByteView(b).first(b.size() - 1)).ok());
    CHECK_FALSE(wire::parse_packet(b).ok());
    d.index = 0;
    CHECK_FALSE(wire::parse_channel_data(wire::encode(d)).ok());
}

#define CHANNEL_SCENARIO(name, fn)                  \
    TEST_CASE(name " (libsodium)") { fn(core::real_crypto()); } \
    TEST_CASE(name " (FastCrypto)") {               \
        sim::FastCrypto fast(7);                    \
        fn(fast);                                   \
    }

CHANNEL_SCENARIO("a handshake makes a channel both ways and a datagram goes through", handshake_and_round_trip)
CHANNEL_SCENARIO("a flipped bit, a wrong index, a wrong key or a cut packet is refused", tampering_is_refused)
CHANNEL_SCENARIO("a replayed counter is refused, out of order within the window taken, older refused", replay_window)
CHANNEL_SCENARIO("simultaneous hellos end in one channel on both sides", simultaneous_hellos)
CHANNEL_SCENARIO("a hello made for a replaced session key is answered with the current one", stale_session_key)
CHANNEL_SCENARIO("after the packet limit the keys change and every packet in flight arrives once", rekey_after_packet_limit)
CHANNEL_SCENARIO("a session key's rotation changes the keys and packets in flight still arrive once", rekey_after_kx_rotation)
CHANNEL_SCENARIO("a flood of hellos from many sessions stays within the table's bounds", table_bounds)
CHANNEL_SCENARIO("a closed channel opens and seals nothing; an unanswered hello is retried, then given up", close_and_timeouts)
CHANNEL_SCENARIO("a hello sent again after a lost welcome gets the same welcome", lost_welcome)
CHANNEL_SCENARIO("a peer restarted with its clock behind is heard again within the handshake timeout",
                 restart_with_clock_behind)
CHANNEL_SCENARIO("a replayed hello or another identity's hello displaces no working keys", replayed_and_impostor_hellos)
