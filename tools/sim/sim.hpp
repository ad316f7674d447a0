// A discrete-event simulator for darkchat: N instances of the very same
// core::Node, fed by one event loop over a modelled network (per-link latency
// and jitter, loss, partitions, crash and restart, address changes).
//
// Deterministic: identities, session ids, node RNG seeds, latency and loss all
// come from the seed; events are ordered by (virtual time, sequence number);
// there is no wall clock and no thread. The same seed gives the same run, and
// trace_hash() says so.
//
// The driver contract of include/darkchat/core.hpp is kept: after every
// handle_*() the simulator drains poll_store(), poll_event(), poll_transmit()
// in that order and arms one timer for poll_timeout().
#pragma once

#include "darkchat/core.hpp"
#include "darkchat/mem_store.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

namespace dc::sim {

using NodeId = std::uint32_t;
inline constexpr TimeMs kNever = std::numeric_limits<TimeMs>::max();

// xoshiro256** seeded through splitmix64: the same numbers on every platform
// (std::uniform_*_distribution is not portable across standard libraries).
class Rng {
public:
    explicit Rng(std::uint64_t seed);
    std::uint64_t next();
    std::uint64_t below(std::uint64_t n);  // uniform in [0, n); n > 0
    double unit();                          // uniform in [0, 1)
    bool chance(double p) { return p > 0 && unit() < p; }
    TimeMs between(TimeMs lo, TimeMs hi) {  // uniform in [lo, hi]
        return hi <= lo ? lo : lo + static_cast<TimeMs>(below(static_cast<std::uint64_t>(hi - lo + 1)));
    }
    template <typename T>
    void shuffle(std::vector<T>& v) {
        for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
    }

private:
    std::uint64_t s_[4];
};

std::uint64_t mix64(std::uint64_t x);
// A keyed, fast, non-cryptographic 64-bit hash.
std::uint64_t hash_bytes(ByteView data, std::uint64_t key);

// A cheap stand-in for libsodium in big runs. The "signature" is a keyed hash
// of the message under the public key (the second half of a libsodium secret
// key), so verify() recomputes it from the public key and the message; a
// "sealed box" is the message behind 48 bytes (crypto_box_seal's overhead)
// holding a hash keyed by the recipient's key. It catches corruption and
// wrong keys, not forgery: the simulated network has no adversary.
// random() comes from the seed, so runs replay.
class FastCrypto final : public core::Crypto {
public:
    explicit FastCrypto(std::uint64_t seed) : rng_(seed) {}
    Signature sign(const SecretKey& sk, ByteView msg) override;
    bool verify(const PublicKey& pk, ByteView msg, const Signature& sig) override;
    KxPublicKey kx_public(const KxSecretKey& sk) override;
    Bytes seal(ByteView msg, const KxPublicKey& to) override;
    std::optional<Bytes> open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk) override;
    void random(std::span<std::uint8_t> out) override;
    std::uint64_t signs = 0;
    std::uint64_t verifies = 0;
    std::uint64_t seals = 0;
    std::uint64_t opens = 0;

private:
    Rng rng_;
};

// libsodium (core::real_crypto()), counted; random() comes from the seed. The
// sealed boxes still use libsodium's own ephemeral keys, so their bytes (not
// the run) differ from one run to the next.
class CountingCrypto final : public core::Crypto {
public:
    explicit CountingCrypto(std::uint64_t seed) : rng_(seed) {}
    Signature sign(const SecretKey& sk, ByteView msg) override;
    bool verify(const PublicKey& pk, ByteView msg, const Signature& sig) override;
    Bytes seal(ByteView msg, const KxPublicKey& to) override;
    std::optional<Bytes> open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk) override;
    void random(std::span<std::uint8_t> out) override;
    std::uint64_t signs = 0;
    std::uint64_t verifies = 0;
    std::uint64_t seals = 0;
    std::uint64_t opens = 0;

private:
    Rng rng_;
};

enum class CryptoKind { fast, real };

// A crashed node restarts from what it had stored (include/darkchat/mem_store.hpp).
using dc::MemStore;

// The network between every pair of nodes (an IP network: anyone can send to
// any address). One-way delay of a datagram from a to b:
//   latency + pair offset in [0, spread] (fixed per pair) + uniform [0, jitter]
//   + the extra delay of a slow end (Peer::extra_delay)
// Datagrams of more than wire::kMaxDatagram bytes go over TCP: never lost,
// three one-way delays (handshake, then data).
struct NetModel {
    TimeMs latency = 10;
    TimeMs jitter = 0;
    TimeMs spread = 0;
    double loss = 0;             // probability that a datagram is lost
    std::size_t overhead = 28;   // bytes of IPv4 + UDP header counted per datagram
    std::size_t tcp_overhead = 40 * 4 + 4;  // a short TCP connection: SYN, SYN-ACK, ACK, FIN headers, frame length
};

struct Traffic {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;  // including NetModel::overhead
    void add(std::size_t payload, std::size_t overhead) {
        ++packets;
        bytes += payload + overhead;
    }
};

struct PeerCounters {
    Traffic sent;
    Traffic received;
    std::uint64_t lost = 0;  // sent, then lost to NetModel::loss or extra_loss
};

// One simulated device: a user's identity and session, its address and its store.
struct Peer {
    NodeId index = 0;
    std::string name;
    Identity id;
    Addr addr;
    core::Config config;
    MemStore store;
    std::unique_ptr<core::Node> node;  // null while down
    std::vector<core::Event> events;   // every event of every run (Options::keep_events)
    bool up = false;
    int group = 0;           // partitions: datagrams pass only within a group
    TimeMs extra_delay = 0;  // a slow node: added to every datagram from or to it
    double extra_loss = 0;   // and lost with this extra probability
    PeerCounters counters;
    std::uint32_t starts = 0;
    std::uint64_t handled = 0;  // handle_*() calls (Options::profile)
    std::uint64_t busy_ns = 0;  // wall time in them and their drain (Options::profile)
    // Timer bookkeeping: the armed wakeup and its generation (stale entries are skipped).
    TimeMs armed = kNever;
    std::uint32_t timer_gen = 0;
    TimeMs spin_at = -1;
    std::uint32_t spins = 0;
};

struct Options {
    std::uint64_t seed = 1;
    CryptoKind crypto = CryptoKind::fast;
    NetModel net;
    core::Config node;         // configuration of every node unless add() is given one
    bool keep_events = true;   // record every event in Peer::events (tests)
    bool keep_store = true;    // apply StoreOps (off: restarts start empty; saves memory)
    bool trace = true;         // fold every datagram (time, ends, size; bytes too with fast crypto) into trace_hash()
    bool profile = false;      // measure the wall time each node's handle_*() and drain take (Peer::busy_ns)
    TimeMs start = 1'700'000'000'000;  // virtual epoch, in ms
};

struct Totals {
    std::uint64_t sent = 0;
    std::uint64_t delivered = 0;
    std::uint64_t lost = 0;            // NetModel::loss, extra_loss
    std::uint64_t partitioned = 0;     // between groups
    std::uint64_t dead = 0;            // nobody up at that address
    std::uint64_t tcp = 0;             // datagrams too big for UDP
    std::uint64_t timers = 0;          // handle_timeout calls
    std::uint64_t events = 0;          // queue entries processed (incl. stale timers)
    std::uint64_t bytes = 0;
};

class Simulator {
public:
    explicit Simulator(Options o);
    ~Simulator();
    Simulator(const Simulator&) = delete;
    Simulator& operator=(const Simulator&) = delete;

    const Options& options() const { return opts_; }
    NetModel& net() { return opts_.net; }
    std::uint64_t seed() const { return opts_.seed; }

    // ---- nodes ---------------------------------------------------------------
    // A user with its own identity (from the seed) and a fresh address. Not started.
    NodeId add(const std::string& name, std::optional<core::Config> cfg = std::nullopt);
    // A second device of the same user: same keys, its own session and address.
    NodeId add_device(NodeId of, const std::string& label);
    void start(NodeId i);
    // kill -9: the node vanishes at once; its store stays.
    void crash(NodeId i);
    // \quit: the node declares itself offline and exits.
    void quit(NodeId i);
    // Starts a down node again from its store, optionally at a new address.
    void restart(NodeId i, bool new_address = false);
    // Gives a node a new address (IP), as a laptop moving networks: the node
    // is restarted there if it was up (sockets are bound to the old address).
    void move(NodeId i);
    void command(NodeId i, const core::Command& c);

    std::size_t size() const { return peers_.size(); }
    Peer& peer(NodeId i) { return peers_[i]; }
    const Peer& peer(NodeId i) const { return peers_[i]; }
    core::Node& node(NodeId i);  // must be up
    std::optional<NodeId> find(const std::string& name) const;

    // ---- network -------------------------------------------------------------
    // Cuts the listed nodes off from all others (group 1 against group 0).
    void partition(const std::vector<NodeId>& side);
    void set_group(NodeId i, int group) { peers_[i].group = group; }
    void heal();  // everyone back in group 0
    // A slow (but alive) node: extra delay and loss on every datagram from or to it.
    void set_slow(NodeId i, TimeMs extra_delay, double extra_loss);

    // ---- time ----------------------------------------------------------------
    TimeMs now() const { return now_; }
    TimeMs elapsed() const { return now_ - opts_.start; }
    void run_until(TimeMs t);
    void run_for(TimeMs d) { run_until(now_ + d); }
    // Runs until pred() holds (checked every `step` ms) or `limit` ms have
    // passed; returns the virtual time it first held, if it did.
    std::optional<TimeMs> run_until(const std::function<bool()>& pred, TimeMs limit, TimeMs step = 10);
    // Runs fn at virtual time t (actions at the same time run in the order scheduled).
    void at(TimeMs t, std::function<void()> fn);

    // ---- observation ---------------------------------------------------------
    std::function<void(NodeId, const core::Event&)> on_event;
    std::function<void(NodeId, const StoreOp&)> on_store;
    std::function<void(NodeId, const core::Transmit&)> on_transmit;  // every datagram a node sends
    const Totals& totals() const { return totals_; }
    std::uint64_t trace_hash() const { return trace_; }
    std::uint64_t signs() const;
    std::uint64_t verifies() const;
    // Impossible states seen by the driver (a node whose wakeup never moves on).
    const std::vector<std::string>& problems() const { return problems_; }
    Rng& rng() { return scenario_rng_; }  // for scenarios: its own stream of the seed

private:
    enum class Kind : std::uint8_t { timer, datagram, action };
    struct Entry {
        TimeMs at;
        std::uint64_t seq;
        std::uint32_t a;  // timer: node; datagram, action: slot
        std::uint32_t b;  // timer: generation
        Kind kind;
        bool operator>(const Entry& o) const { return at != o.at ? at > o.at : seq > o.seq; }
    };
    struct Flight {
        NodeId src = 0;
        Addr from;
        Addr to;
        Bytes data;
    };

    void push(TimeMs at, Kind k, std::uint32_t a, std::uint32_t b = 0);
    void drain(NodeId i);
    void rearm(NodeId i);
    void transmit(NodeId i, core::Transmit&& t);
    void on_timer(NodeId i, std::uint32_t gen);
    void on_datagram(std::uint32_t slot);
    void down(NodeId i);
    Addr next_address();
    static std::uint64_t addr_key(const Addr& a);
    void bind(NodeId i);
    void unbind(NodeId i);
    TimeMs pair_offset(NodeId a, NodeId b) const;

    Options opts_;
    std::unique_ptr<core::Crypto> crypto_;
    FastCrypto* fast_ = nullptr;
    CountingCrypto* counting_ = nullptr;
    Rng node_rng_;      // identities, sessions, node seeds
    Rng net_rng_;       // jitter and loss
    Rng scenario_rng_;  // for the caller
    std::deque<Peer> peers_;
    std::unordered_map<std::string, NodeId> by_name_;
    std::unordered_map<std::uint64_t, NodeId> by_addr_;
    std::uint32_t next_addr_ = 0;

    std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue_;
    std::uint64_t seq_ = 0;
    std::vector<Flight> flights_;
    std::vector<std::uint32_t> free_flights_;
    std::vector<std::function<void()>> actions_;
    std::vector<std::uint32_t> free_actions_;

    TimeMs now_;
    Totals totals_;
    std::uint64_t trace_ = 0;
    std::vector<std::string> problems_;
};

// Events of one type that a peer saw (Options::keep_events).
template <typename E>
std::vector<E> events_of(const Peer& p) {
    std::vector<E> out;
    for (auto& e : p.events)
        if (auto* x = std::get_if<E>(&e)) out.push_back(*x);
    return out;
}

// Resident set size of this process, in bytes (/proc/self/statm).
std::size_t resident_bytes();

}  // namespace dc::sim
