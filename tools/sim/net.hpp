// The one simulated network: a virtual clock, one queue of timed events, and a
// modelled IP network between stations (per-link latency and jitter, loss,
// partitions, datagrams and TCP streams), all random numbers and identities
// drawn from one seed. dcsim, the simulation tests, the core and roles unit
// tests and the fuzz harness all build their nodes on it.
//
// A station is one program on one port; the network drives it through an
// Endpoint shaped like the driver's machines (src/io/machine.hpp): packets and
// timer wakeups in, then its outputs drained in the driver's order (store
// operations into the station's in-memory store, events, packets), then one
// timer armed at poll_timeout(). Nothing reads a wall clock; events at the
// same virtual time run in the order they were queued, so a seed replays.
#pragma once

#include "core/rng.hpp"
#include "darkchat/core.hpp"
#include "sim/packed_store.hpp"
#include "support/mem_store.hpp"

#include <cstdint>
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

using dc::mix64;
using dc::Rng;
using StationId = std::uint32_t;
inline constexpr TimeMs kNever = std::numeric_limits<TimeMs>::max();
inline constexpr StationId kNoStation = std::numeric_limits<StationId>::max();

// What the network drives: one sans-IO program on one port. NodeStation below
// adapts a core::Node; sim::HostStation (host_station.hpp) a host::Host.
class Endpoint {
public:
    virtual ~Endpoint() = default;
    virtual void handle_datagram(TimeMs now, const Addr& from, ByteView data) = 0;
    // A packet framed over an inbound TCP connection.
    virtual void handle_frame(TimeMs now, const Addr& from, ByteView data) { handle_datagram(now, from, data); }
    virtual void handle_timeout(TimeMs now) = 0;
    virtual std::optional<TimeMs> poll_timeout() const = 0;
    virtual std::optional<StoreOp> poll_store() { return std::nullopt; }
    // The store refused ops (Station::store_fails): as Machine::handle_store_failed,
    // leave in ops what is still worth storing later; false holds back the
    // packets of this input.
    virtual bool handle_store_failed(TimeMs, std::vector<StoreOp>&) { return false; }
    // An endpoint that stores in batches, one transaction each, as the driver
    // stores a Host's, drains them here before poll_store(): each batch it
    // stores goes to keep() (the station's store); while its store refuses
    // writes it answers its machine itself, which holds back what must wait.
    virtual void store_batches(TimeMs, const std::function<void(const std::vector<StoreOp>&)>& keep) { (void)keep; }
    // Moves the events of the last input to wherever the test reads them.
    virtual void take_events(TimeMs) {}
    virtual std::optional<core::Transmit> poll_transmit() = 0;
    // Done (\quit): the station goes down once its packets are out.
    virtual bool quitting() const { return false; }
};

// Defaults of every link. One-way delay of a datagram from a to b:
//   latency + pair offset in [0, spread] (fixed per pair from the seed)
//   + uniform [0, jitter] + the extra delay of a slow end (Station::extra_delay)
// A packet of more than wire::kMaxDatagram bytes (or, with stream_on_request,
// one the sender asks to stream) goes over TCP: never lost to `loss`, delayed
// stream_legs one-way delays (handshake, then data) plus stream_delay.
struct NetModel {
    TimeMs latency = 10;
    TimeMs jitter = 0;
    TimeMs spread = 0;
    double loss = 0;             // probability that a datagram is lost
    std::size_t overhead = 28;   // bytes of IPv4 + UDP header counted per datagram
    std::size_t tcp_overhead = 40 * 4 + 4;  // a short TCP connection: SYN, SYN-ACK, ACK, FIN headers, frame length
    int stream_legs = 3;
    TimeMs stream_delay = 0;
    bool stream_on_request = false;   // Transmit::stream sends over TCP too
    bool stream_from_ephemeral = false;  // a frame arrives from an ephemeral port, as from a real TCP peer
};

// One direction of one pair, overriding NetModel's latency, jitter and loss.
struct Link {
    TimeMs latency = 5;
    TimeMs jitter = 0;
    double loss = 0;
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
    std::uint64_t lost = 0;  // sent, then lost to loss, extra_loss or a drop rule
};

struct Totals {
    std::uint64_t sent = 0;
    std::uint64_t delivered = 0;
    std::uint64_t lost = 0;            // NetModel::loss, extra_loss, links, drop rules
    std::uint64_t partitioned = 0;     // between groups, or refused at arrival
    std::uint64_t dead = 0;            // nobody up at that address
    std::uint64_t tcp = 0;             // sent over TCP
    std::uint64_t timers = 0;          // handle_timeout calls
    std::uint64_t events = 0;          // queue entries processed (incl. stale timers)
    std::uint64_t bytes = 0;
};

// A device on the network: its address, its state on the network and its
// disk. Owned by the test or tool (usually as the base of its own record); the
// network keeps a pointer from attach() on, so it must not move.
struct Station {
    StationId index = kNoStation;
    std::string name;
    Addr addr;
    Endpoint* endpoint = nullptr;  // set while up
    bool up = false;
    int group = 0;           // partitions: datagrams pass only within a group
    TimeMs extra_delay = 0;  // a slow node: added to every datagram from or to it
    double extra_loss = 0;   // and lost with this extra probability
    MemStore store;          // what it stored: a restart starts from it
    // Or, when pack is set (large runs: dcsim), there instead, packed.
    bool pack = false;
    PackedStore packed;
    void keep(const StoreOp& op) { pack ? packed.apply(op) : store.apply(op); }
    Snapshot stored() const { return pack ? packed.snapshot() : store.snapshot(); }
    void forget_stored() {
        store.clear();
        packed.clear();
    }
    // A store that refuses every write (a full or broken disk): what could not
    // be stored is kept in unsaved and tried again once this is false.
    bool store_fails = false;
    std::vector<StoreOp> unsaved;
    PeerCounters counters;
    std::uint64_t handled = 0;  // handle_*() calls (Network::profile)
    std::uint64_t busy_ns = 0;  // wall time in them and their drain (Network::profile)
    // The network's timer bookkeeping: the armed wakeup and its generation.
    TimeMs armed = kNever;
    std::uint32_t timer_gen = 0;
    TimeMs spin_at = -1;
    std::uint32_t spins = 0;
};

// Wall time of one input and its drain, for Network::profile only: it is
// observed, never fed back, so runs stay deterministic.
class Busy {
public:
    Busy(bool on, Station& s);
    ~Busy();
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;

private:
    bool on_;
    Station& s_;
    std::int64_t t0_ = 0;
};

class Network {
public:
    // The streams of the seed: identities and node seeds, the network (jitter,
    // loss), and one for the caller's scenario; each is its own, so adding a
    // packet does not move the identities of nodes added later.
    explicit Network(std::uint64_t seed, NetModel model = {}, TimeMs start = 1'700'000'000'000);
    Network(const Network&) = delete;
    Network& operator=(const Network&) = delete;

    std::uint64_t seed() const { return seed_; }
    NetModel& model() { return model_; }
    const NetModel& model() const { return model_; }

    // ---- identities and addresses ---------------------------------------------
    // A fresh identity from the seed: Ed25519 keys and a session (each call
    // the next; see also identity_for()).
    Identity identity(const std::string& user);
    SessionId session();
    std::uint64_t next_seed() { return node_rng_.next(); }  // a node's own generator
    Rng& rng() { return scenario_rng_; }                     // the caller's stream
    // 10.0.0.1, 10.0.0.2, ... port 7300.
    Addr next_address();

    // ---- stations ----------------------------------------------------------------
    // Registers s (index, a fresh address unless it has one); it starts down.
    void attach(Station& s);
    std::size_t size() const { return stations_.size(); }
    Station& station(StationId i) { return *stations_[i]; }
    Station* at(const Addr& a) const;  // the station bound to a, up or down
    // Gives s another address (a restart elsewhere, a laptop moving).
    void readdress(Station& s, const Addr& a);
    // s comes up with ep; the caller then gives it its start input and drain(s).
    void bring_up(Station& s, Endpoint& ep);
    // s goes down: nothing is delivered to it, its timers stop, and it keeps
    // its endpoint unless forget (a crash) clears it.
    void take_down(Station& s, bool forget = true);
    // Up again with the same endpoint (a partition healing), woken now.
    void resume(Station& s);
    // After every input the caller gives an endpoint itself (start, a command).
    void drain(Station& s);
    // input() given to s now, then drain(s), profiled.
    template <typename F>
    void input(Station& s, F&& f) {
        Busy busy(profile, s);
        f();
        drain(s);
    }
    // Bytes handed to s at once, as if from `from` (forged or replayed input).
    void deliver_now(Station& s, const Addr& from, ByteView data, bool frame = false);
    // Bytes from `from` (no station: no partition applies) put on the wire to
    // `to` now, arriving after `delay`.
    void post(const Addr& from, const Addr& to, Bytes data, TimeMs delay = 0);

    // ---- the network ---------------------------------------------------------------
    void set_link(StationId from, StationId to, Link l) { links_[{from, to}] = l; }
    std::optional<Link> link(StationId from, StationId to) const;
    // Cuts side off from all others (group 1 against group 0); heal() undoes it.
    void partition(const std::vector<StationId>& side);
    void heal();
    // Decides, for each packet sent, whether it is lost (before the modelled loss).
    std::function<bool(const Station& from, const core::Transmit& t)> drop;
    // Decides, at arrival, whether a packet between two stations is refused (a cut).
    std::function<bool(const Station& from, const Station& to)> refuse;

    // ---- time ------------------------------------------------------------------------
    TimeMs now() const { return now_; }
    TimeMs start_time() const { return start_; }
    void run_until(TimeMs t);
    void run_for(TimeMs d) { run_until(now_ + d); }
    // Runs until pred() holds or `limit` ms have passed, checking every `step`
    // ms (0: after every event); returns the virtual time it first held.
    std::optional<TimeMs> run_until(const std::function<bool()>& pred, TimeMs limit, TimeMs step = 10);
    // Runs fn at virtual time t (actions at the same time run in the order scheduled).
    void at(TimeMs t, std::function<void()> fn);

    // ---- observation -------------------------------------------------------------------
    std::function<void(const Station&, const core::Transmit&)> on_transmit;  // every packet as sent
    std::function<void(const Station&, const StoreOp&)> on_store;
    std::function<void(Station&)> on_quit;  // an endpoint said it is done; the station is down
    bool apply_store = true;   // off: store operations are seen, not kept (saves memory)
    bool trace = true;         // fold every packet sent (time, ends, size) into trace_hash()
    bool trace_bytes = false;  // fold packet bytes (not only sizes) into trace_hash()
    bool profile = false;      // measure the wall time of each input and its drain
    const Totals& totals() const { return totals_; }
    std::uint64_t trace_hash() const { return trace_; }
    // Impossible states seen (a station whose wakeup never moves on).
    const std::vector<std::string>& problems() const { return problems_; }
    static std::uint64_t addr_key(const Addr& a);

private:
    enum class Kind : std::uint8_t { timer, datagram, action };
    struct Entry {
        TimeMs at;
        std::uint64_t seq;
        std::uint32_t a;  // timer: station; datagram, action: slot
        std::uint32_t b;  // timer: generation
        Kind kind;
        bool operator>(const Entry& o) const { return at != o.at ? at > o.at : seq > o.seq; }
    };
    struct Flight {
        StationId src = kNoStation;
        Addr from;
        Addr to;
        Bytes data;
        bool stream = false;
    };

    void push(TimeMs at, Kind k, std::uint32_t a, std::uint32_t b = 0);
    bool step(TimeMs until);
    void rearm(Station& s);
    void transmit(Station& s, core::Transmit&& t);
    std::uint32_t fly(StationId src, const Addr& from, const Addr& to, Bytes&& data, bool stream);
    void on_timer(StationId i, std::uint32_t gen);
    void on_datagram(std::uint32_t slot);
    void store(Station& s, Endpoint& ep, bool& hold);
    TimeMs pair_offset(StationId a, StationId b) const;

    std::uint64_t seed_;
    NetModel model_;
    Rng node_rng_;      // identities, sessions, node seeds
    Rng net_rng_;       // jitter and loss
    Rng scenario_rng_;  // for the caller
    std::vector<Station*> stations_;
    std::unordered_map<std::uint64_t, StationId> by_addr_;
    std::map<std::pair<StationId, StationId>, Link> links_;
    std::uint32_t next_addr_ = 0;

    std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue_;
    std::uint64_t seq_ = 0;
    std::vector<Flight> flights_;
    std::vector<std::uint32_t> free_flights_;
    std::vector<std::function<void()>> actions_;
    std::vector<std::uint32_t> free_actions_;

    TimeMs start_;
    TimeMs now_;
    Totals totals_;
    std::uint64_t trace_ = 0;
    std::vector<std::string> problems_;
};

// A keyed, fast, non-cryptographic 64-bit hash.
std::uint64_t hash_bytes(ByteView data, std::uint64_t key);

// An identity fixed by the name alone, the same in every run and on every
// platform: for tests that forge the packets of a user they name. Stations
// built from a seed take Network::identity() instead.
Identity identity_for(const std::string& user);

// A bare core::Node as a station: it adapts the node to the Endpoint and keeps
// every event it showed. For the tests of the node alone (the core unit tests'
// MiniNet, the fuzz node harness); a user as the programs run it is a
// HostStation.
struct NodeStation : Station, Endpoint {
    Identity id;
    core::Config config;
    std::unique_ptr<core::Node> node;  // null while down
    std::vector<core::Event> events;   // every event of every run (keep_events)
    bool keep_events = true;
    std::function<void(const core::Event&)> on_event;

    // Starts a node on this station's address from snap (by default, from
    // what the station stored).
    void boot(Network& net, core::Crypto& crypto, std::uint64_t seed, std::optional<Snapshot> snap = std::nullopt);

    void handle_datagram(TimeMs now, const Addr& from, ByteView data) override {
        node->handle_datagram(now, from, data);
    }
    void handle_frame(TimeMs now, const Addr& from, ByteView data) override { node->handle_frame(now, from, data); }
    void handle_timeout(TimeMs now) override { node->handle_timeout(now); }
    std::optional<TimeMs> poll_timeout() const override { return node->poll_timeout(); }
    std::optional<StoreOp> poll_store() override { return node->poll_store(); }
    bool handle_store_failed(TimeMs now, std::vector<StoreOp>& ops) override {
        ops = node->handle_store_failed(now, std::move(ops));
        return true;
    }
    void take_events(TimeMs) override;
    std::optional<core::Transmit> poll_transmit() override { return node->poll_transmit(); }
    bool quitting() const override { return node->quitting(); }
};

// Events of one type a node showed.
template <typename E>
std::vector<E> events_of(const NodeStation& n) {
    std::vector<E> out;
    for (auto& e : n.events)
        if (auto* x = std::get_if<E>(&e)) out.push_back(*x);
    return out;
}

}  // namespace dc::sim
