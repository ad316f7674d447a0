// The room client's measuring alone: probes, round-trip times, the delay vector and
// when it is reported, with time passed in.
#include "roles/measuring.hpp"

#include "room_parts.hpp"

using namespace dc;
using namespace dc::roles;
using namespace dc::roles::parts_test;

namespace {

struct Fixture {
    Client client;
    Measuring m{client.ctx, 7};
    Peer relay{"relay1", relay_addr(1)};

    // The nonce of the probe just sent to the relay (exactly one).
    std::uint64_t probe_nonce() {
        auto probes = client.sent(wire::MsgType::probe);
        REQUIRE(probes.size() == 1);
        CHECK(probes[0].first == relay.addr);
        auto p = wire::decode_probe(probes[0].second.payload);
        REQUIRE(p.ok());
        return p->nonce;
    }
    void answer(TimeMs now, std::uint64_t nonce) {
        auto in = client.receive(now, relay, wire::MsgType::probe_reply, wire::encode(wire::ProbeReply{nonce}));
        m.on_probe_reply(now, in, wire::ProbeReply{nonce});
    }
    std::optional<std::uint32_t> rtt() {
        for (auto& r : m.view())
            if (r.addr == relay.addr) return r.rtt_ms;
        FAIL("relay not known");
        return std::nullopt;
    }
};

}  // namespace

TEST_CASE("a probed relay gets a smoothed rtt and its key, and loses the rtt after probe_misses unanswered probes") {
    Fixture f;
    REQUIRE(f.m.add(0, f.relay.addr, true) != nullptr);
    f.m.start(0);
    std::optional<TimeMs> wake;
    f.m.next_wakeup(0, false, {}, wake);
    REQUIRE(wake.has_value());
    CHECK(*wake <= 50);  // a new relay is measured soon
    f.m.handle_timeout(*wake, {});
    const TimeMs t0 = *wake;
    f.answer(t0 + 20, f.probe_nonce());
    CHECK(f.rtt() == 20u);
    CHECK(f.m.delays().at(f.relay.key()) == 20u);
    CHECK(f.m.alive_relays().size() == 1);

    const TimeMs t1 = t0 + f.client.cfg.measure_interval;
    f.m.handle_timeout(t1 - 1, {});
    CHECK(f.client.sent().empty());  // not due yet
    f.m.handle_timeout(t1, {});
    f.answer(t1 + 40, f.probe_nonce());
    CHECK(f.rtt() == 30u);  // half the old, half the new

    TimeMs t = t1;
    for (std::size_t i = 0; i < f.client.cfg.probe_misses; ++i) {
        CHECK(f.rtt().has_value());
        t += f.client.cfg.measure_interval;
        f.m.handle_timeout(t, {});
        (void)f.probe_nonce();
    }
    // The first of these probes had none outstanding; each later one counts a miss.
    t += f.client.cfg.measure_interval;
    f.m.handle_timeout(t, {});
    CHECK_FALSE(f.rtt().has_value());
    CHECK(f.m.dead(f.relay.addr));
    CHECK(f.m.alive_relays().empty());
}

TEST_CASE("a probe reply with another nonce or from another key is not a measurement") {
    Fixture f;
    f.m.add(0, f.relay.addr, true);
    f.m.handle_timeout(100, {});
    const auto nonce = f.probe_nonce();
    f.answer(110, nonce + 1);
    CHECK_FALSE(f.rtt().has_value());
    CHECK(f.client.env.stats().unsolicited == 1);

    Peer impostor{"mallory", f.relay.addr};
    f.answer(115, nonce);  // the real one: learns the relay's key
    CHECK(f.rtt() == 15u);
    f.m.handle_timeout(100 + f.client.cfg.measure_interval, {});
    const auto next = f.probe_nonce();
    auto in = f.client.receive(1200, impostor, wire::MsgType::probe_reply, wire::encode(wire::ProbeReply{next}));
    f.m.on_probe_reply(1200, in, wire::ProbeReply{next});
    CHECK(f.client.env.stats().wrong_key == 1);
    CHECK(f.rtt() == 15u);
}

TEST_CASE("the delay vector is reported again only when it changed by the threshold or a tenth, or the directory restarted") {
    Fixture f;
    f.m.add(0, f.relay.addr, true);
    f.m.handle_timeout(50, {});
    f.answer(150, f.probe_nonce());  // 100 ms

    wire::ClientHeartbeat hb;
    f.m.report(200, 1, hb);
    REQUIRE(hb.has_delays);
    CHECK(hb.report == 1);
    REQUIRE(hb.delays.size() == 1);
    CHECK(hb.delays[0].rtt_ms == 100u);

    // Repeated until the directory says it has it.
    wire::ClientHeartbeat again;
    f.m.report(1200, 1, again);
    CHECK(again.has_delays);
    CHECK(again.report == 1);
    f.m.report_seen(1);
    wire::ClientHeartbeat quiet;
    f.m.report(2200, 1, quiet);
    CHECK_FALSE(quiet.has_delays);

    // 100 -> 104 (smoothed from a 108 sample): above the threshold, under a tenth.
    f.m.handle_timeout(50 + f.client.cfg.measure_interval, {});
    f.answer(50 + f.client.cfg.measure_interval + 108, f.probe_nonce());
    CHECK(f.rtt() == 104u);
    CHECK(f.m.report_due(2200));
    CHECK_FALSE(f.m.report_due(2200 - f.client.cfg.report_interval - 1));
    wire::ClientHeartbeat changed;
    f.m.report(2200, 1, changed);
    CHECK(changed.has_delays);
    CHECK(changed.report == 2);
    f.m.report_seen(2);

    // 104 -> 105: under the threshold and under a tenth, not reported.
    f.m.handle_timeout(50 + 2 * f.client.cfg.measure_interval, {});
    f.answer(50 + 2 * f.client.cfg.measure_interval + 106, f.probe_nonce());
    CHECK(f.rtt() == 105u);
    CHECK_FALSE(f.m.report_due(10000));

    // A new directory run gets it at once.
    wire::ClientHeartbeat reboot;
    f.m.report(3200, 2, reboot);
    CHECK(reboot.has_delays);
    CHECK(reboot.report == 3);
}

TEST_CASE("relays a directory no longer lists are forgotten unless --relays or a room keeps them") {
    RoomClientConfig cfg;
    cfg.relays = {relay_addr(1)};
    Client client(cfg);
    Measuring m(client.ctx, 7);
    for (std::uint8_t i = 1; i <= 4; ++i) m.add(0, relay_addr(i), true);
    Peer r5{"relay5", relay_addr(5)};
    m.set_in_service(0, {wire::RelayInfo{r5.key(), r5.addr}}, [](const Addr& a) { return a == relay_addr(3); });
    std::vector<Addr> known;
    for (auto& r : m.view()) known.push_back(r.addr);
    CHECK(known == std::vector<Addr>{relay_addr(1), relay_addr(3), relay_addr(5)});
    // The listed relay's key comes from the directory; it is alive once it answers.
    auto view = m.view();
    CHECK(view.back().key == r5.key());
    CHECK_FALSE(view.back().rtt_ms.has_value());
}

TEST_CASE("a room's relay is probed even when nobody lists it, and the table of relays is bounded") {
    RoomClientConfig cfg;
    cfg.max_relays = 2;
    Client client(cfg);
    Measuring m(client.ctx, 7);
    Peer room_relay{"relay2", relay_addr(2)};
    m.add_room_relay(0, room_relay.addr, room_relay.key());
    m.handle_timeout(100, {});
    CHECK(client.sent(wire::MsgType::probe).empty());  // not listed, not a room's now
    m.handle_timeout(100, {room_relay.addr});
    CHECK(client.sent(wire::MsgType::probe).size() == 1);
    CHECK(m.add(0, relay_addr(3), true) != nullptr);
    CHECK(m.add(0, relay_addr(4), true) == nullptr);
}
