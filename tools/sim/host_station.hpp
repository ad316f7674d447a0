// A host::Host as a station on the one simulated network: what `darkchat`,
// `darkchat --dir` or `--relays`, a directory or a relay runs on one port,
// driven as src/io/loop.cpp's Driver drives it. After every input the network
// drains it in the driver's order: each store batch is applied to the
// station's in-memory store in one go and answered with handle_store_applied
// (or, while the store refuses writes, handle_store_failed), then its events,
// then its packets, then one timer at poll_timeout().
#pragma once

#include "sim/net.hpp"

#include "darkchat/host.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace dc::sim {

struct HostStation : Station, Endpoint {
    Identity id;
    host::Config config;  // node.port and node.bind_addr follow the station's address
    std::unique_ptr<host::Host> host;  // kept after a quit or a crash until the next create()
    // While set the store refuses every batch with these words (Station::
    // store_fails alone: a transient fault).
    std::optional<host::StoreFailure> store_fault;
    std::vector<host::Event> events;  // every event of every run (keep_events)
    bool keep_events = true;
    std::function<void(const host::Event&)> on_event;
    // Every batch offered to the store, and whether it was stored.
    std::function<void(const std::vector<StoreOp>&, bool stored)> on_batch;

    // A fresh Host from snap (by default, from what the station stored);
    // throws on options no part accepts. A front end (a terminal session)
    // attaches to it between create() and start().
    void create(core::Crypto& crypto, std::uint64_t seed, std::optional<Snapshot> snap = std::nullopt);
    // Up on the network, the socket bound: handle_start, then the drain.
    void start(Network& net);
    void boot(Network& net, core::Crypto& crypto, std::uint64_t seed, std::optional<Snapshot> snap = std::nullopt) {
        create(crypto, seed, std::move(snap));
        start(net);
    }
    // \quit, SIGINT or the end of input: its goodbyes go out, then it is down.
    void quit(Network& net);
    // kill -9: down at once, what it stored stays.
    void crash(Network& net);

    void handle_datagram(TimeMs now, const Addr& from, ByteView data) override {
        host->handle_datagram(now, from, data);
    }
    void handle_frame(TimeMs now, const Addr& from, ByteView data) override { host->handle_frame(now, from, data); }
    void handle_timeout(TimeMs now) override { host->handle_timeout(now); }
    std::optional<TimeMs> poll_timeout() const override { return host->poll_timeout(); }
    void store_batches(TimeMs now, const std::function<void(const std::vector<StoreOp>&)>& keep) override;
    void take_events(TimeMs now) override;
    std::optional<core::Transmit> poll_transmit() override { return host->poll_transmit(); }
    bool quitting() const override { return host->quitting(); }
};

// Events of one type the host's node showed.
template <typename E>
std::vector<E> events_of(const HostStation& h) {
    std::vector<E> out;
    for (auto& e : h.events)
        if (auto* ce = std::get_if<core::Event>(&e))
            if (auto* x = std::get_if<E>(ce)) out.push_back(*x);
    return out;
}

}  // namespace dc::sim
