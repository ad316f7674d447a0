#include "sim/net.hpp"

#include "darkchat/crypto.hpp"
#include "darkchat/wire.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace dc::sim {

namespace {
std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

std::uint64_t hash_bytes(ByteView data, std::uint64_t key) {
    constexpr std::uint64_t k = 0x9e3779b97f4a7c15ULL;
    std::uint64_t h = mix64(key ^ (data.size() * k));
    const std::uint8_t* p = data.data();
    std::size_t n = data.size(), i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, p + i, 8);
        h = rotl(h ^ (w * k), 29) * 0xbf58476d1ce4e5b9ULL;
    }
    std::uint64_t tail = 0;
    for (std::size_t j = 0; i < n; ++i, ++j) tail |= std::uint64_t{p[i]} << (8 * j);
    h = rotl(h ^ (tail * k), 29) * 0xbf58476d1ce4e5b9ULL;
    return mix64(h);
}

Busy::Busy(bool on, Station& s) : on_(on), s_(s) {
    if (on_) t0_ = std::chrono::steady_clock::now().time_since_epoch().count();
}

Busy::~Busy() {
    if (!on_) return;
    ++s_.handled;
    const auto t1 = std::chrono::steady_clock::now().time_since_epoch().count();
    s_.busy_ns += static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::duration(t1 - t0_)).count());
}

Network::Network(std::uint64_t seed, NetModel model, TimeMs start)
    : seed_(seed),
      model_(model),
      node_rng_(mix64(seed ^ 0x4e4f444553ULL)),
      net_rng_(mix64(seed ^ 0x4e4554ULL)),
      scenario_rng_(mix64(seed ^ 0x5343454eULL)),
      start_(start),
      now_(start) {
    if (!crypto::init()) throw std::runtime_error("libsodium failed to initialise");
}

// ---- identities and addresses ----------------------------------------------------------

Identity Network::identity(const std::string& user) {
    std::array<std::uint8_t, 32> key_seed{};
    for (std::size_t w = 0; w < 4; ++w) {
        std::uint64_t r = node_rng_.next();
        std::memcpy(key_seed.data() + 8 * w, &r, 8);
    }
    auto kp = crypto::identity_from_seed(key_seed);
    Identity id;
    id.user = user;
    id.pk = kp.pk;
    id.sk = kp.sk;
    id.session = session();
    return id;
}

Identity identity_for(const std::string& user) {
    Rng rng(hash_bytes(ByteView(reinterpret_cast<const std::uint8_t*>(user.data()), user.size()), 0x4944454eULL));
    std::array<std::uint8_t, 32> key_seed{};
    rng.fill(key_seed.data(), key_seed.size());
    auto kp = crypto::identity_from_seed(key_seed);
    Identity id;
    id.user = user;
    id.pk = kp.pk;
    id.sk = kp.sk;
    rng.fill(id.session.data(), id.session.size());
    return id;
}

SessionId Network::session() {
    SessionId s{};
    std::uint64_t r = node_rng_.next();
    std::memcpy(s.data(), &r, std::min(s.size(), sizeof r));
    return s;
}

Addr Network::next_address() {
    std::uint32_t k = ++next_addr_;  // 10.0.0.1, 10.0.0.2, ...
    return Addr::v4(static_cast<std::uint8_t>(10 + (k >> 24)), static_cast<std::uint8_t>(k >> 16),
                    static_cast<std::uint8_t>(k >> 8), static_cast<std::uint8_t>(k), 7300);
}

std::uint64_t Network::addr_key(const Addr& a) {
    if (a.family != 4) return ~std::uint64_t{0};
    std::uint64_t ip = (std::uint64_t{a.ip[0]} << 24) | (std::uint64_t{a.ip[1]} << 16) |
                       (std::uint64_t{a.ip[2]} << 8) | a.ip[3];
    return (ip << 16) | a.port;
}

// ---- stations ------------------------------------------------------------------------------

void Network::attach(Station& s) {
    s.index = static_cast<StationId>(stations_.size());
    stations_.push_back(&s);
    if (s.addr.family == 0) s.addr = next_address();
    by_addr_[addr_key(s.addr)] = s.index;
}

Station* Network::at(const Addr& a) const {
    auto it = by_addr_.find(addr_key(a));
    return it == by_addr_.end() ? nullptr : stations_[it->second];
}

void Network::readdress(Station& s, const Addr& a) {
    auto it = by_addr_.find(addr_key(s.addr));
    if (it != by_addr_.end() && it->second == s.index) by_addr_.erase(it);
    s.addr = a;
    by_addr_[addr_key(s.addr)] = s.index;
}

void Network::bring_up(Station& s, Endpoint& ep) {
    s.endpoint = &ep;
    s.up = true;
    s.armed = kNever;
    ++s.timer_gen;
}

void Network::take_down(Station& s, bool forget) {
    if (forget) s.endpoint = nullptr;
    s.up = false;
    s.armed = kNever;
    ++s.timer_gen;
}

void Network::resume(Station& s) {
    if (!s.endpoint) return;
    s.up = true;
    s.armed = now_;
    ++s.timer_gen;
    push(now_, Kind::timer, s.index, s.timer_gen);
}

void Network::deliver_now(Station& s, const Addr& from, ByteView data, bool frame) {
    if (!s.up) return;
    input(s, [&] {
        if (frame) s.endpoint->handle_frame(now_, from, data);
        else s.endpoint->handle_datagram(now_, from, data);
    });
}

void Network::post(const Addr& from, const Addr& to, Bytes data, TimeMs delay) {
    push(now_ + std::max<TimeMs>(delay, 0), Kind::datagram, fly(kNoStation, from, to, std::move(data), false));
}

std::optional<Link> Network::link(StationId from, StationId to) const {
    if (links_.empty()) return std::nullopt;
    auto it = links_.find({from, to});
    if (it == links_.end()) return std::nullopt;
    return it->second;
}

void Network::partition(const std::vector<StationId>& side) {
    heal();
    for (auto i : side) stations_[i]->group = 1;
}

void Network::heal() {
    for (auto* s : stations_) s->group = 0;
}

void Network::at(TimeMs t, std::function<void()> fn) {
    std::uint32_t slot;
    if (!free_actions_.empty()) {
        slot = free_actions_.back();
        free_actions_.pop_back();
        actions_[slot] = std::move(fn);
    } else {
        slot = static_cast<std::uint32_t>(actions_.size());
        actions_.push_back(std::move(fn));
    }
    push(std::max(t, now_), Kind::action, slot);
}

void Network::push(TimeMs at, Kind k, std::uint32_t a, std::uint32_t b) {
    queue_.push(Entry{at, seq_++, a, b, k});
}

// ---- the driver contract ---------------------------------------------------------------------

void Network::store(Station& s, Endpoint& ep, bool& hold) {
    ep.store_batches(now_, [&](const std::vector<StoreOp>& ops) {
        for (auto& op : ops) {
            if (on_store) on_store(s, op);
            if (apply_store) s.keep(op);
        }
    });
    if (!s.store_fails && s.unsaved.empty()) {
        while (auto op = ep.poll_store()) {
            if (on_store) on_store(s, *op);
            if (apply_store) s.keep(*op);
        }
        return;
    }
    std::vector<StoreOp> ops = std::move(s.unsaved);
    s.unsaved.clear();
    while (auto op = ep.poll_store()) ops.push_back(std::move(*op));
    if (s.store_fails && !ops.empty()) {
        hold = !ep.handle_store_failed(now_, ops);
        s.unsaved = std::move(ops);
        return;
    }
    for (auto& op : ops) {
        if (on_store) on_store(s, op);
        if (apply_store) s.keep(op);
    }
}

void Network::drain(Station& s) {
    Endpoint* ep = s.endpoint;
    if (!ep) return;
    if (!s.up) {
        // A machine cut off (not crashed) still runs; what it says goes nowhere.
        ep->store_batches(now_, [](const std::vector<StoreOp>&) {});
        while (ep->poll_store()) {
        }
        ep->take_events(now_);
        while (ep->poll_transmit()) {
        }
        return;
    }
    bool hold = false;
    store(s, *ep, hold);
    ep->take_events(now_);
    while (auto t = ep->poll_transmit())
        if (!hold) transmit(s, std::move(*t));
    if (ep->quitting()) {
        take_down(s);  // the driver exits once the packets are out
        if (on_quit) on_quit(s);
        return;
    }
    rearm(s);
}

void Network::rearm(Station& s) {
    auto w = s.endpoint->poll_timeout();
    TimeMs t = w ? std::max(*w, now_) : kNever;
    if (t == s.armed) return;
    s.armed = t;
    ++s.timer_gen;
    if (t != kNever) push(t, Kind::timer, s.index, s.timer_gen);
}

TimeMs Network::pair_offset(StationId a, StationId b) const {
    if (a > b) std::swap(a, b);
    return static_cast<TimeMs>(mix64(seed_ ^ ((std::uint64_t{a} << 32) | b)) %
                               static_cast<std::uint64_t>(model_.spread + 1));
}

std::uint32_t Network::fly(StationId src, const Addr& from, const Addr& to, Bytes&& data, bool stream) {
    std::uint32_t slot;
    if (!free_flights_.empty()) {
        slot = free_flights_.back();
        free_flights_.pop_back();
    } else {
        slot = static_cast<std::uint32_t>(flights_.size());
        flights_.emplace_back();
    }
    Flight& f = flights_[slot];
    f.src = src;
    f.from = from;
    f.to = to;
    f.data = std::move(data);
    f.stream = stream;
    return slot;
}

void Network::transmit(Station& s, core::Transmit&& t) {
    const NetModel& net = model_;
    if (on_transmit) on_transmit(s, t);
    const bool tcp = t.data.size() > wire::kMaxDatagram || (net.stream_on_request && t.stream);
    const std::size_t overhead = tcp ? net.tcp_overhead : net.overhead;
    s.counters.sent.add(t.data.size(), overhead);
    ++totals_.sent;
    totals_.bytes += t.data.size() + overhead;
    if (tcp) ++totals_.tcp;
    if (trace)
        trace_ = mix64(trace_ ^ mix64(static_cast<std::uint64_t>(now_) * 31 + s.index) ^
                       (addr_key(t.to) * 0x9e3779b97f4a7c15ULL) ^
                       (trace_bytes ? hash_bytes(t.data, t.data.size()) : t.data.size()));
    auto dst_it = by_addr_.find(addr_key(t.to));
    const Station* dst = dst_it == by_addr_.end() ? nullptr : stations_[dst_it->second];
    const std::optional<Link> l = dst ? link(s.index, dst->index) : std::nullopt;
    const TimeMs latency = l ? l->latency : net.latency;
    const TimeMs jitter = l ? l->jitter : net.jitter;
    const double loss = l ? l->loss : net.loss;
    // A stream gets through loss (TCP sends again), not through a dead path.
    bool lost = (drop && drop(s, t)) || (tcp && loss >= 1);
    if (!lost && !tcp) {
        double keep = (1 - loss) * (1 - s.extra_loss) * (dst ? 1 - dst->extra_loss : 1.0);
        lost = keep < 1 && net_rng_.chance(1 - keep);
    }
    if (lost) {
        ++s.counters.lost;
        ++totals_.lost;
        return;
    }
    TimeMs d = latency + s.extra_delay;
    if (dst) {
        d += dst->extra_delay;
        if (net.spread > 0) d += pair_offset(s.index, dst->index);
    }
    if (jitter > 0) d += net_rng_.between(0, jitter);
    if (tcp) d = d * net.stream_legs + net.stream_delay;
    Addr from = s.addr;
    // As over a real TCP connection: the peer's port is not its listening one.
    if (tcp && net.stream_from_ephemeral) from.port = static_cast<std::uint16_t>(40000 + seq_ % 20000);
    const std::uint32_t slot = fly(s.index, from, t.to, std::move(t.data), tcp);
    push(now_ + std::max<TimeMs>(d, 1), Kind::datagram, slot);
}

void Network::on_datagram(std::uint32_t slot) {
    Flight f = std::move(flights_[slot]);
    flights_[slot].data = Bytes{};
    free_flights_.push_back(slot);
    auto it = by_addr_.find(addr_key(f.to));
    if (it == by_addr_.end() || !stations_[it->second]->up) {
        ++totals_.dead;
        return;
    }
    Station& dst = *stations_[it->second];
    if (f.src != kNoStation) {
        const Station& src = *stations_[f.src];
        if (dst.group != src.group || (refuse && refuse(src, dst))) {
            ++totals_.partitioned;
            return;
        }
    }
    ++totals_.delivered;
    dst.counters.received.add(f.data.size(), f.stream ? model_.tcp_overhead : model_.overhead);
    input(dst, [&] {
        if (f.stream) dst.endpoint->handle_frame(now_, f.from, f.data);
        else dst.endpoint->handle_datagram(now_, f.from, f.data);
    });
}

void Network::on_timer(StationId i, std::uint32_t gen) {
    Station& s = *stations_[i];
    if (!s.up || gen != s.timer_gen) return;
    s.armed = kNever;
    if (s.spin_at == now_) {
        ++s.spins;
    } else {
        s.spin_at = now_;
        s.spins = 0;
    }
    ++totals_.timers;
    input(s, [&] { s.endpoint->handle_timeout(now_); });
    if (s.up && s.spins >= 1000 && s.armed <= now_) {
        if (s.spins == 1000)
            problems_.push_back("node " + s.name + " asked to be woken at " +
                                std::to_string(now_ - start_) + " ms a thousand times without moving its wakeup on");
        s.armed = now_ + 1;
        ++s.timer_gen;
        push(s.armed, Kind::timer, i, s.timer_gen);
    }
}

bool Network::step(TimeMs until) {
    if (queue_.empty() || queue_.top().at > until) return false;
    Entry e = queue_.top();
    queue_.pop();
    now_ = e.at;
    ++totals_.events;
    switch (e.kind) {
        case Kind::timer: on_timer(e.a, e.b); break;
        case Kind::datagram: on_datagram(e.a); break;
        case Kind::action: {
            auto fn = std::move(actions_[e.a]);
            actions_[e.a] = nullptr;
            free_actions_.push_back(e.a);
            fn();
            break;
        }
    }
    return true;
}

void Network::run_until(TimeMs t) {
    while (step(t)) {
    }
    now_ = std::max(now_, t);
}

std::optional<TimeMs> Network::run_until(const std::function<bool()>& pred, TimeMs limit, TimeMs step_ms) {
    const TimeMs end = now_ + limit;
    if (step_ms <= 0) {
        while (!pred()) {
            if (!step(end)) {
                now_ = std::max(now_, end);
                return pred() ? std::optional<TimeMs>(now_) : std::nullopt;
            }
        }
        return now_;
    }
    for (;;) {
        if (pred()) return now_;
        if (now_ >= end) return std::nullopt;
        run_until(std::min(end, now_ + step_ms));
    }
}

// ---- a user's node ----------------------------------------------------------------------------

void NodeStation::boot(Network& net, core::Crypto& crypto, std::uint64_t seed, std::optional<Snapshot> snap) {
    core::Config c = config;
    c.port = addr.port;
    c.bind_addr = addr;
    node = std::make_unique<core::Node>(c, id, snap ? std::move(*snap) : stored(), crypto, seed);
    net.bring_up(*this, *this);
    node->handle_start(net.now());
    net.drain(*this);
}

void NodeStation::take_events(TimeMs) {
    while (auto e = node->poll_event()) {
        if (on_event) on_event(*e);
        if (keep_events) events.push_back(std::move(*e));
    }
}

}  // namespace dc::sim
