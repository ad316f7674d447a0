#include "sim/sim.hpp"

#include "darkchat/crypto.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <unistd.h>

namespace dc::sim {

// ---- randomness and hashing ------------------------------------------------------

namespace {
std::uint64_t splitmix(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(std::uint64_t seed) {
    for (auto& s : s_) s = splitmix(seed);
}

std::uint64_t Rng::next() {
    std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

std::uint64_t Rng::below(std::uint64_t n) {
    __extension__ using u128 = unsigned __int128;
    return static_cast<std::uint64_t>((static_cast<u128>(next()) * n) >> 64);
}

double Rng::unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

std::uint64_t mix64(std::uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

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

// ---- crypto ----------------------------------------------------------------------------

namespace {
Signature fast_signature(ByteView pk, ByteView msg) {
    std::uint64_t h = hash_bytes(msg, hash_bytes(pk, 0x5349474e));
    Signature sig{};
    for (std::size_t w = 0; w < 8; ++w) {
        std::uint64_t v = mix64(h + w * 0x9e3779b97f4a7c15ULL);
        std::memcpy(sig.data() + 8 * w, &v, 8);
    }
    return sig;
}
}  // namespace

Signature FastCrypto::sign(const SecretKey& sk, ByteView msg) {
    ++signs;
    // A libsodium Ed25519 secret key is seed || public key.
    return fast_signature(ByteView(sk.data() + 32, 32), msg);
}

bool FastCrypto::verify(const PublicKey& pk, ByteView msg, const Signature& sig) {
    ++verifies;
    return fast_signature(pk, msg) == sig;
}

KxPublicKey FastCrypto::kx_public(const KxSecretKey& sk) {
    std::uint64_t h = hash_bytes(sk, 0x4b58);
    KxPublicKey pk{};
    for (std::size_t w = 0; w < 4; ++w) {
        std::uint64_t v = mix64(h + w * 0x9e3779b97f4a7c15ULL);
        std::memcpy(pk.data() + 8 * w, &v, 8);
    }
    return pk;
}

namespace {
constexpr std::size_t kFastSealOverhead = 48;
void seal_tag(ByteView msg, const KxPublicKey& to, std::uint8_t* out) {
    std::uint64_t h = hash_bytes(msg, hash_bytes(to, 0x5345414c));
    for (std::size_t w = 0; w < kFastSealOverhead / 8; ++w) {
        std::uint64_t v = mix64(h + w * 0x9e3779b97f4a7c15ULL);
        std::memcpy(out + 8 * w, &v, 8);
    }
}
}  // namespace

Bytes FastCrypto::seal(ByteView msg, const KxPublicKey& to) {
    ++seals;
    Bytes out(kFastSealOverhead + msg.size());
    seal_tag(msg, to, out.data());
    std::copy(msg.begin(), msg.end(), out.begin() + kFastSealOverhead);
    return out;
}

std::optional<Bytes> FastCrypto::open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk) {
    ++opens;
    if (sealed.size() < kFastSealOverhead || kx_public(sk) != pk) return std::nullopt;
    ByteView msg = sealed.subspan(kFastSealOverhead);
    std::uint8_t tag[kFastSealOverhead];
    seal_tag(msg, pk, tag);
    if (std::memcmp(tag, sealed.data(), kFastSealOverhead) != 0) return std::nullopt;
    return Bytes(msg.begin(), msg.end());
}

namespace {
void fill(Rng& rng, std::span<std::uint8_t> out) {
    for (std::size_t i = 0; i < out.size(); i += 8) {
        std::uint64_t r = rng.next();
        std::memcpy(out.data() + i, &r, std::min<std::size_t>(8, out.size() - i));
    }
}
}  // namespace

void FastCrypto::random(std::span<std::uint8_t> out) { fill(rng_, out); }

Signature CountingCrypto::sign(const SecretKey& sk, ByteView msg) {
    ++signs;
    return core::real_crypto().sign(sk, msg);
}

bool CountingCrypto::verify(const PublicKey& pk, ByteView msg, const Signature& sig) {
    ++verifies;
    return core::real_crypto().verify(pk, msg, sig);
}

Bytes CountingCrypto::seal(ByteView msg, const KxPublicKey& to) {
    ++seals;
    return core::real_crypto().seal(msg, to);
}

std::optional<Bytes> CountingCrypto::open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk) {
    ++opens;
    return core::real_crypto().open(sealed, pk, sk);
}

void CountingCrypto::random(std::span<std::uint8_t> out) { fill(rng_, out); }

// ---- the simulator ---------------------------------------------------------------------

namespace {
// Wall time of one handle_*() and its drain, for Options::profile only: it
// is observed, never fed back, so runs stay deterministic.
class Busy {
public:
    Busy(bool on, Peer& p) : on_(on), p_(p) {
        if (on_) t0_ = std::chrono::steady_clock::now();
    }
    ~Busy() {
        if (!on_) return;
        ++p_.handled;
        p_.busy_ns += static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0_).count());
    }
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;

private:
    bool on_;
    Peer& p_;
    std::chrono::steady_clock::time_point t0_{};
};
}  // namespace

Simulator::Simulator(Options o)
    : opts_(std::move(o)),
      node_rng_(mix64(opts_.seed ^ 0x4e4f444553ULL)),
      net_rng_(mix64(opts_.seed ^ 0x4e4554ULL)),
      scenario_rng_(mix64(opts_.seed ^ 0x5343454eULL)),
      now_(opts_.start) {
    if (!crypto::init()) throw std::runtime_error("libsodium failed to initialise");
    if (opts_.crypto == CryptoKind::fast) {
        auto c = std::make_unique<FastCrypto>(mix64(opts_.seed ^ 0x43525950ULL));
        fast_ = c.get();
        crypto_ = std::move(c);
    } else {
        auto c = std::make_unique<CountingCrypto>(mix64(opts_.seed ^ 0x43525950ULL));
        counting_ = c.get();
        crypto_ = std::move(c);
    }
}

Simulator::~Simulator() = default;

std::uint64_t Simulator::signs() const { return fast_ ? fast_->signs : counting_->signs; }
std::uint64_t Simulator::verifies() const { return fast_ ? fast_->verifies : counting_->verifies; }

Addr Simulator::next_address() {
    std::uint32_t k = ++next_addr_;  // 10.0.0.1, 10.0.0.2, ...
    return Addr::v4(static_cast<std::uint8_t>(10 + (k >> 24)), static_cast<std::uint8_t>(k >> 16),
                    static_cast<std::uint8_t>(k >> 8), static_cast<std::uint8_t>(k), 7300);
}

std::uint64_t Simulator::addr_key(const Addr& a) {
    if (a.family != 4) return ~std::uint64_t{0};
    std::uint64_t ip = (std::uint64_t{a.ip[0]} << 24) | (std::uint64_t{a.ip[1]} << 16) |
                       (std::uint64_t{a.ip[2]} << 8) | a.ip[3];
    return (ip << 16) | a.port;
}

void Simulator::bind(NodeId i) { by_addr_[addr_key(peers_[i].addr)] = i; }

void Simulator::unbind(NodeId i) {
    auto it = by_addr_.find(addr_key(peers_[i].addr));
    if (it != by_addr_.end() && it->second == i) by_addr_.erase(it);
}

NodeId Simulator::add(const std::string& name, std::optional<core::Config> cfg) {
    auto i = static_cast<NodeId>(peers_.size());
    Peer& p = peers_.emplace_back();
    p.index = i;
    p.name = name;
    std::array<std::uint8_t, 32> key_seed{};
    for (std::size_t w = 0; w < 4; ++w) {
        std::uint64_t r = node_rng_.next();
        std::memcpy(key_seed.data() + 8 * w, &r, 8);
    }
    auto kp = crypto::identity_from_seed(key_seed);
    p.id.user = name;
    p.id.pk = kp.pk;
    p.id.sk = kp.sk;
    std::uint64_t s = node_rng_.next();
    std::memcpy(p.id.session.data(), &s, 8);
    p.addr = next_address();
    p.config = cfg ? *cfg : opts_.node;
    by_name_.emplace(name, i);
    bind(i);
    return i;
}

NodeId Simulator::add_device(NodeId of, const std::string& label) {
    Identity id = peers_[of].id;
    core::Config cfg = peers_[of].config;
    NodeId i = add(label, cfg);
    Peer& p = peers_[i];
    SessionId session = p.id.session;
    p.id = id;
    p.id.session = session;
    return i;
}

core::Node& Simulator::node(NodeId i) {
    Peer& p = peers_[i];
    if (!p.node) throw std::logic_error("node " + p.name + " is down");
    return *p.node;
}

std::optional<NodeId> Simulator::find(const std::string& name) const {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return std::nullopt;
    return it->second;
}

void Simulator::start(NodeId i) {
    Peer& p = peers_[i];
    if (p.up) return;
    core::Config c = p.config;
    c.port = p.addr.port;
    c.bind_addr = p.addr;
    p.node = std::make_unique<core::Node>(c, p.id, opts_.keep_store ? p.store.snapshot() : Snapshot{}, *crypto_,
                                          node_rng_.next());
    p.up = true;
    ++p.starts;
    p.armed = kNever;
    ++p.timer_gen;
    p.node->handle_start(now_);
    drain(i);
}

void Simulator::down(NodeId i) {
    Peer& p = peers_[i];
    p.node.reset();
    p.up = false;
    p.armed = kNever;
    ++p.timer_gen;
}

void Simulator::crash(NodeId i) {
    if (peers_[i].up) down(i);
}

void Simulator::quit(NodeId i) {
    if (peers_[i].up) command(i, core::cmd::Quit{});
}

void Simulator::restart(NodeId i, bool new_address) {
    crash(i);
    if (new_address) {
        unbind(i);
        peers_[i].addr = next_address();
        bind(i);
    }
    start(i);
}

void Simulator::move(NodeId i) {
    bool was_up = peers_[i].up;
    crash(i);
    unbind(i);
    peers_[i].addr = next_address();
    bind(i);
    if (was_up) start(i);
}

void Simulator::command(NodeId i, const core::Command& c) {
    Peer& p = peers_[i];
    if (!p.up) return;
    Busy busy(opts_.profile, p);
    p.node->handle_command(now_, c);
    drain(i);
}

void Simulator::partition(const std::vector<NodeId>& side) {
    heal();
    for (auto i : side) peers_[i].group = 1;
}

void Simulator::heal() {
    for (auto& p : peers_) p.group = 0;
}

void Simulator::set_slow(NodeId i, TimeMs extra_delay, double extra_loss) {
    peers_[i].extra_delay = extra_delay;
    peers_[i].extra_loss = extra_loss;
}

void Simulator::at(TimeMs t, std::function<void()> fn) {
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

void Simulator::push(TimeMs at, Kind k, std::uint32_t a, std::uint32_t b) {
    queue_.push(Entry{at, seq_++, a, b, k});
}

// ---- the driver contract ----------------------------------------------------------------

void Simulator::drain(NodeId i) {
    Peer& p = peers_[i];
    if (!p.node) return;
    while (auto op = p.node->poll_store()) {
        if (on_store) on_store(i, *op);
        if (opts_.keep_store) p.store.apply(*op);
    }
    while (auto e = p.node->poll_event()) {
        if (on_event) on_event(i, *e);
        if (opts_.keep_events) p.events.push_back(std::move(*e));
    }
    while (auto t = p.node->poll_transmit()) transmit(i, std::move(*t));
    if (p.node->quitting()) {
        down(i);  // the driver exits once the transmits are out
        return;
    }
    rearm(i);
}

void Simulator::rearm(NodeId i) {
    Peer& p = peers_[i];
    auto w = p.node->poll_timeout();
    TimeMs t = w ? std::max(*w, now_) : kNever;
    if (t == p.armed) return;
    p.armed = t;
    ++p.timer_gen;
    if (t != kNever) push(t, Kind::timer, i, p.timer_gen);
}

TimeMs Simulator::pair_offset(NodeId a, NodeId b) const {
    if (a > b) std::swap(a, b);
    return static_cast<TimeMs>(mix64(opts_.seed ^ ((std::uint64_t{a} << 32) | b)) %
                               static_cast<std::uint64_t>(opts_.net.spread + 1));
}

void Simulator::transmit(NodeId i, core::Transmit&& t) {
    Peer& p = peers_[i];
    const NetModel& net = opts_.net;
    if (on_transmit) on_transmit(i, t);
    bool tcp = t.data.size() > wire::kMaxDatagram;
    p.counters.sent.add(t.data.size(), tcp ? net.tcp_overhead : net.overhead);
    ++totals_.sent;
    totals_.bytes += t.data.size() + (tcp ? net.tcp_overhead : net.overhead);
    if (tcp) ++totals_.tcp;
    if (opts_.trace)
        trace_ = mix64(trace_ ^ mix64(static_cast<std::uint64_t>(now_) * 31 + i) ^ (addr_key(t.to) * 0x9e3779b97f4a7c15ULL) ^
                       (fast_ ? hash_bytes(t.data, t.data.size()) : t.data.size()));
    auto dst_it = by_addr_.find(addr_key(t.to));
    const Peer* dst = dst_it == by_addr_.end() ? nullptr : &peers_[dst_it->second];
    if (!tcp) {
        double keep = (1 - net.loss) * (1 - p.extra_loss) * (dst ? 1 - dst->extra_loss : 1.0);
        if (keep < 1 && net_rng_.chance(1 - keep)) {
            ++p.counters.lost;
            ++totals_.lost;
            return;
        }
    }
    TimeMs d = net.latency + p.extra_delay;
    if (dst) {
        d += dst->extra_delay;
        if (net.spread > 0) d += pair_offset(i, dst->index);
    }
    if (net.jitter > 0) d += net_rng_.between(0, net.jitter);
    if (tcp) d *= 3;
    std::uint32_t slot;
    if (!free_flights_.empty()) {
        slot = free_flights_.back();
        free_flights_.pop_back();
    } else {
        slot = static_cast<std::uint32_t>(flights_.size());
        flights_.emplace_back();
    }
    Flight& f = flights_[slot];
    f.src = i;
    f.from = p.addr;
    f.to = t.to;
    f.data = std::move(t.data);
    push(now_ + std::max<TimeMs>(d, 1), Kind::datagram, slot);
}

void Simulator::on_datagram(std::uint32_t slot) {
    Flight f = std::move(flights_[slot]);
    flights_[slot].data = Bytes{};
    free_flights_.push_back(slot);
    auto it = by_addr_.find(addr_key(f.to));
    if (it == by_addr_.end() || !peers_[it->second].up) {
        ++totals_.dead;
        return;
    }
    Peer& dst = peers_[it->second];
    if (dst.group != peers_[f.src].group) {
        ++totals_.partitioned;
        return;
    }
    ++totals_.delivered;
    bool tcp = f.data.size() > wire::kMaxDatagram;
    dst.counters.received.add(f.data.size(), tcp ? opts_.net.tcp_overhead : opts_.net.overhead);
    Busy busy(opts_.profile, dst);
    if (tcp) dst.node->handle_frame(now_, f.from, f.data);
    else dst.node->handle_datagram(now_, f.from, f.data);
    drain(dst.index);
}

void Simulator::on_timer(NodeId i, std::uint32_t gen) {
    Peer& p = peers_[i];
    if (!p.up || gen != p.timer_gen) return;
    p.armed = kNever;
    if (p.spin_at == now_) {
        ++p.spins;
    } else {
        p.spin_at = now_;
        p.spins = 0;
    }
    ++totals_.timers;
    {
        Busy busy(opts_.profile, p);
        p.node->handle_timeout(now_);
        drain(i);
    }
    if (p.up && p.spins >= 1000 && p.armed <= now_) {
        if (p.spins == 1000)
            problems_.push_back("node " + p.name + " asked to be woken at " + std::to_string(now_ - opts_.start) +
                                " ms a thousand times without moving its wakeup on");
        p.armed = now_ + 1;
        ++p.timer_gen;
        push(p.armed, Kind::timer, i, p.timer_gen);
    }
}

void Simulator::run_until(TimeMs t) {
    while (!queue_.empty() && queue_.top().at <= t) {
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
    }
    now_ = std::max(now_, t);
}

std::optional<TimeMs> Simulator::run_until(const std::function<bool()>& pred, TimeMs limit, TimeMs step) {
    TimeMs end = now_ + limit;
    for (;;) {
        if (pred()) return now_;
        if (now_ >= end) return std::nullopt;
        run_until(std::min(end, now_ + step));
    }
}

std::size_t resident_bytes() {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, resident = 0;
    int n = std::fscanf(f, "%lu %lu", &size, &resident);
    std::fclose(f);
    if (n != 2) return 0;
    return static_cast<std::size_t>(resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace dc::sim
