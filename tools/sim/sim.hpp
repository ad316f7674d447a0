// A discrete-event simulator for darkchat: N users, each the very same
// host::Host that darkchat (or darkchatd, -s for a super-client) runs on its
// port, on the one simulated network (net.hpp: per-link latency and jitter,
// loss, partitions), plus what a run of users does to them: crash and
// restart, address changes, commands.
//
// Deterministic: identities, session ids, node RNG seeds, latency and loss all
// come from the seed; events are ordered by (virtual time, sequence number);
// there is no wall clock and no thread. The same seed gives the same run, and
// trace_hash() says so.
//
// Each host is driven as src/io/loop.cpp drives it (host_station.hpp): after
// every input its store batches, then its events, then its packets, then one
// timer for poll_timeout().
#pragma once

#include "sim/crypto.hpp"
#include "sim/host_station.hpp"
#include "sim/net.hpp"

#include "darkchat/core.hpp"
#include "support/mem_store.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace dc::sim {

using NodeId = StationId;

// A crashed node restarts from what it had stored (tests/support/mem_store.hpp).
using dc::MemStore;

// One simulated device: a user's identity and session, its address and its
// store, the Host it runs while up (HostStation), and how often it was started.
struct Peer : HostStation {
    std::uint32_t starts = 0;
};

struct Options {
    std::uint64_t seed = 1;
    CryptoKind crypto = CryptoKind::fast;
    NetModel net;
    core::Config node;         // configuration of every node unless add() is given one
    bool keep_events = true;   // record every event in Peer::events (tests)
    bool keep_store = true;    // apply StoreOps (off: restarts start empty; saves memory)
    bool pack_store = false;   // keep them in a PackedStore (Station::packed) rather than a MemStore
    bool trace = true;         // fold every datagram (time, ends, size; bytes too with fast crypto) into trace_hash()
    bool profile = false;      // measure the wall time each node's handle_*() and drain take (Peer::busy_ns)
    TimeMs start = 1'700'000'000'000;  // virtual epoch, in ms
};

class Simulator {
public:
    explicit Simulator(Options o);
    ~Simulator();
    Simulator(const Simulator&) = delete;
    Simulator& operator=(const Simulator&) = delete;

    const Options& options() const { return opts_; }
    NetModel& net() { return net_.model(); }  // the live model (Options::net was where it began)
    Network& network() { return net_; }
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
    core::Node& node(NodeId i);  // the user's node; must be up
    std::optional<NodeId> find(const std::string& name) const;

    // ---- network -------------------------------------------------------------
    // Cuts the listed nodes off from all others (group 1 against group 0).
    void partition(const std::vector<NodeId>& side);
    void set_group(NodeId i, int group) { peers_[i].group = group; }
    void heal();  // everyone back in group 0
    // A slow (but alive) node: extra delay and loss on every datagram from or to it.
    void set_slow(NodeId i, TimeMs extra_delay, double extra_loss);

    // ---- time ----------------------------------------------------------------
    TimeMs now() const { return net_.now(); }
    TimeMs elapsed() const { return net_.now() - opts_.start; }
    void run_until(TimeMs t) { net_.run_until(t); }
    void run_for(TimeMs d) { net_.run_for(d); }
    // Runs until pred() holds (checked every `step` ms) or `limit` ms have
    // passed; returns the virtual time it first held, if it did.
    std::optional<TimeMs> run_until(const std::function<bool()>& pred, TimeMs limit, TimeMs step = 10) {
        return net_.run_until(pred, limit, step);
    }
    // Runs fn at virtual time t (actions at the same time run in the order scheduled).
    void at(TimeMs t, std::function<void()> fn) { net_.at(t, std::move(fn)); }

    // ---- observation ---------------------------------------------------------
    std::function<void(NodeId, const core::Event&)> on_event;
    std::function<void(NodeId, const StoreOp&)> on_store;
    std::function<void(NodeId, const core::Transmit&)> on_transmit;  // every datagram a node sends
    const Totals& totals() const { return net_.totals(); }
    std::uint64_t trace_hash() const { return net_.trace_hash(); }
    std::uint64_t signs() const;
    std::uint64_t verifies() const;
    // Impossible states seen by the driver (a node whose wakeup never moves on).
    const std::vector<std::string>& problems() const { return net_.problems(); }
    Rng& rng() { return net_.rng(); }  // for scenarios: its own stream of the seed

private:
    void down(NodeId i);

    Options opts_;
    Network net_;
    std::unique_ptr<core::Crypto> crypto_;
    std::deque<Peer> peers_;
    std::unordered_map<std::string, NodeId> by_name_;
};

// Resident set size of this process, in bytes (/proc/self/statm).
std::size_t resident_bytes();

}  // namespace dc::sim
