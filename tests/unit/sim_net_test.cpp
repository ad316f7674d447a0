// The one simulated network (tools/sim/net.hpp) on its own, with stations that
// only send what they are told and record what reaches them: time order,
// latency and jitter, loss, partitions, streams, the store, and replay from a
// seed. And a host::Host as a station, drained as the driver drains it.
#include "core/rng.hpp"
#include "sim/host_station.hpp"
#include "sim/net.hpp"

#include "darkchat/wire.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <deque>
#include <string>
#include <tuple>
#include <vector>

using namespace dc;

namespace {

struct Arrival {
    TimeMs at;
    Addr from;
    Bytes data;
    bool frame;
    bool operator==(const Arrival&) const = default;
};

// A station that sends what it is given and records what reaches it.
struct Probe : sim::Station, sim::Endpoint {
    std::deque<core::Transmit> out;
    std::vector<StoreOp> ops;
    std::vector<Arrival> got;
    std::vector<TimeMs> woke;
    std::optional<TimeMs> wake;
    bool quit = false;

    void handle_datagram(TimeMs now, const Addr& from, ByteView data) override {
        got.push_back({now, from, Bytes(data.begin(), data.end()), false});
    }
    void handle_frame(TimeMs now, const Addr& from, ByteView data) override {
        got.push_back({now, from, Bytes(data.begin(), data.end()), true});
    }
    void handle_timeout(TimeMs now) override {
        woke.push_back(now);
        wake.reset();
    }
    std::optional<TimeMs> poll_timeout() const override { return wake; }
    std::optional<StoreOp> poll_store() override {
        if (ops.empty()) return std::nullopt;
        StoreOp op = ops.back();
        ops.pop_back();
        return op;
    }
    bool handle_store_failed(TimeMs, std::vector<StoreOp>&) override { return true; }
    std::optional<core::Transmit> poll_transmit() override {
        if (out.empty()) return std::nullopt;
        auto t = std::move(out.front());
        out.pop_front();
        return t;
    }
    bool quitting() const override { return quit; }
};

struct Pair {
    sim::Network net;
    Probe a, b;
    explicit Pair(std::uint64_t seed, sim::NetModel m = {}) : net(seed, m, 1000) {
        net.attach(a);
        net.attach(b);
        net.bring_up(a, a);
        net.bring_up(b, b);
    }
    // a sends n datagrams of one byte (0, 1, ...) to b, one each ms.
    void send(int n, std::size_t size = 1) {
        for (int i = 0; i < n; ++i) {
            net.at(net.now() + i, [this, i, size] {
                a.out.push_back({b.addr, Bytes(size, static_cast<std::uint8_t>(i))});
                net.drain(a);
            });
        }
    }
};

std::vector<Arrival> run_lossy(std::uint64_t seed) {
    sim::NetModel m;
    m.latency = 20;
    m.jitter = 15;
    m.loss = 0.3;
    Pair p(seed, m);
    p.send(200);
    p.net.run_for(1000);
    return p.b.got;
}

}  // namespace

TEST_CASE("packets arrive in time order, each after its latency and within its jitter") {
    sim::NetModel m;
    m.latency = 10;
    m.jitter = 8;
    Pair p(1, m);
    p.send(100);
    p.net.run_for(500);
    REQUIRE(p.b.got.size() == 100);
    TimeMs last = 0;
    bool reordered = false;
    for (const auto& g : p.b.got) {
        CHECK(g.at >= last);
        last = g.at;
        const TimeMs sent = 1000 + g.data[0];
        CHECK(g.at >= sent + 10);
        CHECK(g.at <= sent + 18);
        CHECK(g.from == p.a.addr);
        CHECK_FALSE(g.frame);
        reordered |= &g != &p.b.got.front() && g.data[0] < (&g - 1)->data[0];
    }
    CHECK(reordered);  // jitter larger than the spacing reorders some
    CHECK(p.net.totals().delivered == 100);
    CHECK(p.b.counters.received.packets == 100);
    CHECK(p.a.counters.sent.packets == 100);
}

TEST_CASE("timers fire at the time asked for, in order with packets, and only the last one asked counts") {
    Pair p(2);
    p.a.wake = 1500;
    p.net.drain(p.a);
    p.a.wake = 1200;  // asked again: the earlier wakeup replaces the later one
    p.net.drain(p.a);
    p.net.run_for(1000);
    CHECK(p.a.woke == std::vector<TimeMs>{1200});
    // A station taken down is not woken; one brought back is woken at once.
    p.a.wake = 2500;
    p.net.drain(p.a);
    p.net.take_down(p.a, false);
    p.net.run_for(1000);
    CHECK(p.a.woke.size() == 1);
    p.net.resume(p.a);
    p.net.run_for(1);
    CHECK(p.a.woke == std::vector<TimeMs>{1200, 3000});
}

TEST_CASE("loss: the modelled loss drops about its share; a drop rule drops exactly what it names") {
    sim::NetModel m;
    m.loss = 0.25;
    Pair p(3, m);
    p.send(400);
    p.net.run_for(1000);
    CHECK(p.b.got.size() > 240);
    CHECK(p.b.got.size() < 360);
    CHECK(p.net.totals().lost + p.b.got.size() == 400);

    Pair q(3);
    q.net.drop = [](const sim::Station&, const core::Transmit& t) { return t.data[0] % 2 == 1; };
    q.send(10);
    q.net.run_for(1000);
    REQUIRE(q.b.got.size() == 5);
    for (const auto& g : q.b.got) CHECK(g.data[0] % 2 == 0);
    CHECK(q.a.counters.lost == 5);
}

TEST_CASE("partitions: nothing crosses between groups until healed; a refusal rule cuts one way") {
    Pair p(4);
    p.net.partition({p.a.index});
    p.send(5);
    p.net.run_for(100);
    CHECK(p.b.got.empty());
    CHECK(p.net.totals().partitioned == 5);
    p.net.heal();
    p.send(5);
    p.net.run_for(100);
    CHECK(p.b.got.size() == 5);

    p.net.refuse = [&](const sim::Station& from, const sim::Station&) { return from.index == p.a.index; };
    p.send(3);
    p.b.out.push_back({p.a.addr, Bytes{9}});
    p.net.drain(p.b);
    p.net.run_for(100);
    CHECK(p.b.got.size() == 5);
    CHECK(p.a.got.size() == 1);
    // A station that is down receives nothing: what was sent to it is dead.
    p.net.refuse = nullptr;
    p.net.take_down(p.b);
    p.send(2);
    p.net.run_for(100);
    CHECK(p.b.got.size() == 5);
    CHECK(p.net.totals().dead == 2);
}

TEST_CASE("streams: too big for a datagram (or asked for) goes over TCP, is never lost, and comes late") {
    sim::NetModel m;
    m.latency = 10;
    m.loss = 0.9;
    m.stream_legs = 3;
    m.stream_on_request = true;
    m.stream_from_ephemeral = true;
    Pair p(5, m);
    p.send(10, wire::kMaxDatagram + 1);
    p.a.out.push_back({p.b.addr, Bytes{1}, true});
    p.net.drain(p.a);
    p.net.run_for(1000);
    REQUIRE(p.b.got.size() == 11);
    for (const auto& g : p.b.got) {
        CHECK(g.frame);
        CHECK(g.from.ip == p.a.addr.ip);
        CHECK(g.from.port != p.a.addr.port);  // a TCP peer's ephemeral port
    }
    CHECK(p.b.got.front().at == 1000 + 30);
    CHECK(p.net.totals().tcp == 11);
    // A dead path stops streams too.
    p.net.set_link(p.a.index, p.b.index, sim::Link{10, 0, 1.0});
    p.send(3, wire::kMaxDatagram + 1);
    p.net.run_for(1000);
    CHECK(p.b.got.size() == 11);
}

TEST_CASE("outputs are drained in the driver's order; a failing store keeps what it could not write") {
    Pair p(6);
    UserRecord u{"carol", PublicKey{7}, true, 5};
    p.a.ops.push_back(store_op::PutUser{u});
    p.net.drain(p.a);
    CHECK(p.a.store.users.count("carol") == 1);

    p.a.store_fails = true;
    u.name = "dave";
    p.a.ops.push_back(store_op::PutUser{u});
    p.net.drain(p.a);
    CHECK(p.a.store.users.count("dave") == 0);
    CHECK(p.a.unsaved.size() == 1);
    p.a.store_fails = false;
    p.net.drain(p.a);
    CHECK(p.a.store.users.count("dave") == 1);
    CHECK(p.a.unsaved.empty());

    // A station that says it is done goes down once its packets are out.
    bool quit_seen = false;
    p.net.on_quit = [&](sim::Station& s) { quit_seen = s.index == p.a.index; };
    p.a.quit = true;
    p.a.out.push_back({p.b.addr, Bytes{1}});
    p.net.drain(p.a);
    CHECK(quit_seen);
    CHECK_FALSE(p.a.up);
    p.net.run_for(100);
    CHECK(p.b.got.size() == 1);
}

TEST_CASE("a seed replays: the same deliveries at the same times; another seed differs") {
    const auto one = run_lossy(42);
    CHECK(one == run_lossy(42));
    CHECK(one != run_lossy(43));
    CHECK(one.size() > 100);

    sim::Network x(9), y(9);
    CHECK(x.identity("alice").pk == y.identity("alice").pk);
    CHECK(x.identity("bob").pk != x.identity("bob").pk);  // each call the next identity
    CHECK(sim::identity_for("carol").pk == sim::identity_for("carol").pk);
    CHECK(sim::identity_for("carol").pk != sim::identity_for("dave").pk);
}

TEST_CASE("the portable generator gives the same numbers everywhere") {
    // xoshiro256** from splitmix64(0): reference values of the algorithm.
    Rng r(0);
    std::uint64_t s = 0;
    const std::uint64_t first = splitmix64(s);
    CHECK(first == 0xe220a8397b1dcdafULL);
    // Pinned: every trace in BENCHMARKS.md rests on these numbers.
    Rng one(1);
    CHECK(one.next() == 0xb3f2af6d0fc710c5ULL);
    CHECK(one.next() == 0x853b559647364ceaULL);
    CHECK(one.next() == 0x92f89756082a4514ULL);
    CHECK(Rng(1).below(1000000) == 702921);
    std::vector<std::uint64_t> a, b;
    Rng r1(77), r2(77);
    for (int i = 0; i < 8; ++i) {
        a.push_back(r1.below(1000));
        b.push_back(r2.below(1000));
    }
    CHECK(a == b);
    for (int i = 0; i < 1000; ++i) {
        const auto x = r.between(-3, 3);
        CHECK(x >= -3);
        CHECK(x <= 3);
        const double u = r.unit();
        CHECK(u >= 0);
        CHECK(u < 1);
    }
    std::vector<int> v{1, 2, 3, 4, 5, 6, 7, 8};
    Rng(5).shuffle(v);
    std::vector<int> w{1, 2, 3, 4, 5, 6, 7, 8};
    Rng(5).shuffle(w);
    CHECK(v == w);
    CHECK(v != std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8});
}

TEST_CASE("a host as a station: its batches land in the station's store, events then packets, one timer") {
    sim::Network net(5);
    sim::HostStation a, b;
    a.name = "alice";
    b.name = "bob";
    a.id = net.identity("alice");
    b.id = net.identity("bob");
    net.attach(a);
    net.attach(b);
    std::vector<std::string> order;
    a.on_batch = [&](const std::vector<StoreOp>&, bool stored) { order.push_back(stored ? "stored" : "refused"); };
    a.on_event = [&](const host::Event&) { order.push_back("event"); };
    net.on_transmit = [&](const sim::Station& s, const core::Transmit&) {
        if (&s == &a) order.push_back("send");
    };
    a.boot(net, core::real_crypto(), net.next_seed());
    b.boot(net, core::real_crypto(), net.next_seed());
    REQUIRE(a.host->node() != nullptr);
    CHECK(a.host->room_client() != nullptr);  // every user node: a group may name a relay
    CHECK(a.host->port() == a.addr.port);
    CHECK(a.armed != sim::kNever);  // its timer is armed at what it asked for

    auto chat = [&](const std::string& text) {
        net.input(a, [&] { a.host->node()->handle_command(net.now(), core::cmd::Chat{"bob", text}); });
    };
    net.input(a, [&] { a.host->node()->handle_command(net.now(), core::cmd::Ping{b.addr}); });
    net.input(a, [&] { a.host->node()->handle_command(net.now(), core::cmd::Add{"bob"}); });
    net.input(b, [&] { b.host->node()->handle_command(net.now(), core::cmd::Add{"alice"}); });
    net.run_for(1000);
    CHECK(a.store.users.count("bob") == 1);

    order.clear();
    chat("hello");
    REQUIRE(!order.empty());
    CHECK(order.front() == "stored");
    CHECK(order.back() == "send");
    CHECK(a.store.outbox.size() == 1);
    net.run_for(500);
    CHECK(a.store.outbox.empty());
    auto got = [&](const std::string& text) {
        return std::count_if(b.events.begin(), b.events.end(), [&](const host::Event& e) {
            auto* c = std::get_if<core::Event>(&e);
            auto* m = c ? std::get_if<core::ev::Message>(c) : nullptr;
            return m && !m->outgoing && m->msg.text == text;
        });
    };
    CHECK(got("hello") == 1);

    // bob's store refuses: the message is neither shown nor acknowledged until it stores again.
    b.store_fault = host::StoreFailure{"disk full", true};
    chat("again");
    net.run_for(500);
    CHECK(got("again") == 0);
    CHECK(a.store.outbox.size() == 1);
    b.store_fault.reset();
    net.run_for(5000);
    CHECK(got("again") == 1);
    CHECK(a.store.outbox.empty());

    // \quit: the station goes down once its goodbyes are out; the host stays to be read.
    b.quit(net);
    CHECK(!b.up);
    CHECK(b.host->quitting());
}

// ---- the packed store (tools/sim/packed_store.hpp) -----------------------------------------------

namespace {

wire::SignedBlob blob(std::uint8_t b, std::size_t n) {
    wire::SignedBlob x;
    x.body.assign(n, b);
    x.sig.fill(static_cast<std::uint8_t>(b + 1));
    return x;
}

SessionRecord session(const std::string& user, std::uint8_t id, std::uint64_t seq, const wire::SignedBlob& decl) {
    SessionRecord r;
    r.user = user;
    r.session.fill(id);
    r.decl = decl;
    r.seq = seq;
    r.addr = Addr::v4(127, 0, 0, id, static_cast<std::uint16_t>(4000 + seq));
    r.online = seq % 2 == 1;
    r.last_seen = static_cast<TimeMs>(1000 * seq + id);
    return r;
}

UserRecord user(const std::string& name, std::uint8_t key, bool contact, TimeMs first_seen) {
    UserRecord u;
    u.name = name;
    u.key.fill(key);
    u.contact = contact;
    u.first_seen = first_seen;
    return u;
}

// Users and sessions put, replaced and deleted out of name order, and an
// outbox entry (one of the operations the packed store hands to its MemStore).
std::vector<StoreOp> store_ops() {
    std::vector<StoreOp> ops;
    ops.push_back(store_op::PutUser{user("zoe", 1, false, 10)});
    ops.push_back(store_op::PutUser{user("adam", 2, true, 20)});
    ops.push_back(store_op::PutUser{user("mia", 3, false, 30)});
    ops.push_back(store_op::PutUser{user("adam", 2, false, 40)});  // replaced
    ops.push_back(store_op::PutSession{session("zoe", 9, 1, blob(1, 150))});
    ops.push_back(store_op::PutSession{session("adam", 7, 1, blob(2, 150))});
    ops.push_back(store_op::PutSession{session("adam", 3, 2, blob(3, 151))});
    ops.push_back(store_op::PutSession{session("mia", 5, 1, blob(4, 149))});
    ops.push_back(store_op::PutSession{session("zoe", 9, 3, blob(5, 150))});  // a newer declaration
    ops.push_back(store_op::DeleteSession{"mia", session("mia", 5, 1, {}).session});
    ops.push_back(store_op::DeleteSession{"nobody", session("x", 1, 1, {}).session});
    OutboxRecord o;
    o.id.fill(4);
    o.target = "zoe";
    o.msg = blob(6, 40);
    o.queued = 99;
    ops.push_back(store_op::PutOutbox{o});
    return ops;
}

void check_same(const Snapshot& a, const Snapshot& b) {
    REQUIRE(a.users.size() == b.users.size());
    for (std::size_t i = 0; i < a.users.size(); ++i) {
        CHECK(a.users[i].name == b.users[i].name);
        CHECK(a.users[i].key == b.users[i].key);
        CHECK(a.users[i].contact == b.users[i].contact);
        CHECK(a.users[i].first_seen == b.users[i].first_seen);
    }
    REQUIRE(a.sessions.size() == b.sessions.size());
    for (std::size_t i = 0; i < a.sessions.size(); ++i) {
        auto& x = a.sessions[i];
        auto& y = b.sessions[i];
        CHECK(x.user == y.user);
        CHECK(x.session == y.session);
        CHECK(x.decl == y.decl);
        CHECK(x.seq == y.seq);
        CHECK(x.addr == y.addr);
        CHECK(x.online == y.online);
        CHECK(x.last_seen == y.last_seen);
    }
    REQUIRE(a.outbox.size() == b.outbox.size());
    for (std::size_t i = 0; i < a.outbox.size(); ++i) {
        CHECK(a.outbox[i].id == b.outbox[i].id);
        CHECK(a.outbox[i].msg == b.outbox[i].msg);
    }
}

}  // namespace

TEST_CASE("the packed store gives the snapshot a MemStore gives, in the same order") {
    MemStore mem;
    sim::PackedStore packed;
    for (auto& op : store_ops()) {
        mem.apply(op);
        packed.apply(op);
    }
    auto want = mem.snapshot();
    auto got = packed.snapshot();
    REQUIRE(want.users.size() == 3);
    REQUIRE(want.sessions.size() == 3);
    CHECK(want.sessions[0].user == "adam");  // the order MemStore gives, not the order put
    check_same(got, want);
    CHECK(packed.users() == 3);
    CHECK(packed.sessions() == 3);
    CHECK(packed.rest().outbox.size() == 1);
    packed.clear();
    CHECK(packed.snapshot().users.empty());
    CHECK(packed.snapshot().sessions.empty());
    CHECK(packed.snapshot().outbox.empty());
}

TEST_CASE("the packed store keeps one copy of a declaration many stores hold, until the last lets it go") {
    auto pools = sim::StorePools::shared();
    const auto before = pools->decls.size();
    std::vector<sim::PackedStore> stores(5);
    auto d = blob(42, 200);
    for (auto& s : stores) s.apply(store_op::PutSession{session("carol", 1, 1, d)});
    CHECK(pools->decls.size() == before + 1);
    auto other = blob(43, 200);
    stores[0].apply(store_op::PutSession{session("carol", 1, 2, other)});  // replaces its own only
    CHECK(pools->decls.size() == before + 2);
    for (std::size_t i = 1; i < stores.size(); ++i) CHECK(stores[i].snapshot().sessions.at(0).decl == d);
    CHECK(stores[0].snapshot().sessions.at(0).decl == other);
    for (std::size_t i = 1; i < stores.size(); ++i) stores[i].clear();
    CHECK(pools->decls.size() == before + 1);
    stores[0].apply(store_op::DeleteSession{"carol", session("carol", 1, 1, {}).session});
    CHECK(pools->decls.size() == before);
    // Equal bodies with another signature are another blob.
    auto resigned = d;
    resigned.sig[0] ^= 1;
    stores[1].apply(store_op::PutSession{session("carol", 1, 1, d)});
    stores[2].apply(store_op::PutSession{session("carol", 1, 1, resigned)});
    CHECK(pools->decls.size() == before + 2);
    CHECK(stores[2].snapshot().sessions.at(0).decl == resigned);
}

TEST_CASE("interned values: one id per distinct value, ids dense and stable") {
    sim::Interned<std::string, std::string_view> names;
    CHECK(names.id("bob") == 0);
    CHECK(names.id("alice") == 1);
    CHECK(names.id("bob") == 0);
    for (int i = 0; i < 1000; ++i) names.id("u" + std::to_string(i));  // grows: earlier values stay put
    CHECK(names.id("alice") == 1);
    CHECK(names[1] == "alice");
    CHECK(names.size() == 1002);
}
