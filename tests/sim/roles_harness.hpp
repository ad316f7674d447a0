// The role machines (roles.hpp) on the one simulated network (tools/sim/net.hpp):
// a directory, relays and users (room clients, or hosts running a node and a
// room client on one port as `darkchat --dir` does) in one process, one thread,
// virtual time jumping to the next packet or timer. Every link has a modelled one-way latency
// (plus jitter, so packets may be reordered) and a loss rate; a node can be killed
// (it neither sends nor receives, its timers stop) and brought back, fresh (a
// restart with the same identity) or as it was (a partition healing). Everything
// random comes from the seed; identities from the names (sim::identity_for).
//
// Used by tests/unit/roles_test.cpp (fixed seeds) and tests/sim/relocation_test.cpp
// (seeds printed on failure through sim_support.hpp's SIM_SEED).
#pragma once

#include "sim/crypto.hpp"
#include "sim/host_station.hpp"
#include "sim/net.hpp"
#include "support/mem_store.hpp"

#include "darkchat/crypto.hpp"
#include "darkchat/roles.hpp"
#include "darkchat/wire.hpp"

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace dc::rolesim {

// One way: latency, + uniform 0..jitter per packet, loss probability.
using sim::Link;
using sim::identity_for;

using AnyEvent = std::variant<roles::DirectoryEvent, roles::RelayEvent, roles::RoomEvent>;

// A directory, a relay or a user on its station (address, up, store: what a
// user stored, a restart starts from it). A user runs as `darkchat --dir` (or
// --relays) does: a host::Host with its node and its room client on one port
// (sim::HostStation). A test that must drive a room client without its node
// (it stands in for the node, or looks at what only the room client sees)
// turns World::users_as_hosts off before adding that user: a bare room client.
struct Node : sim::HostStation {
    std::unique_ptr<roles::Directory> dir;
    std::unique_ptr<roles::Relay> relay;
    std::unique_ptr<roles::RoomClient> bare;  // a room client without its node
    roles::RoomClient* client = nullptr;      // the host's room client, or bare
    roles::DirectoryConfig dir_cfg;
    roles::RelayConfig relay_cfg;
    roles::RoomClientConfig client_cfg;
    std::vector<std::pair<TimeMs, roles::RoomEvent>> room_events;
    std::vector<std::pair<TimeMs, roles::DirectoryEvent>> dir_events;
    std::vector<std::pair<TimeMs, roles::RelayEvent>> relay_events;
    std::uint64_t received = 0;
    std::uint64_t wakeups = 0;  // timers that fired
    const sim::Network* net = nullptr;
    bool verbose = false;

    bool hosted() const { return host && !dir && !relay && !bare; }

    void handle_datagram(TimeMs now, const Addr& from, ByteView data) override {
        ++received;
        if (dir) dir->handle_datagram(now, from, data);
        else if (relay) relay->handle_datagram(now, from, data);
        else if (bare) bare->handle_datagram(now, from, data);
        else host->handle_datagram(now, from, data);
    }
    void handle_frame(TimeMs now, const Addr& from, ByteView data) override {
        if (!hosted()) return handle_datagram(now, from, data);
        ++received;
        host->handle_frame(now, from, data);
    }
    void handle_timeout(TimeMs now) override {
        ++wakeups;
        if (dir) dir->handle_timeout(now);
        else if (relay) relay->handle_timeout(now);
        else if (bare) bare->handle_timeout(now);
        else host->handle_timeout(now);
    }
    // A bare machine's wakeup asked for now or earlier comes a millisecond
    // later, so that one that keeps asking cannot hold virtual time still. A
    // host is woken when it asks, as the driver wakes it (the network reports
    // one that never moves its wakeup on).
    std::optional<TimeMs> poll_timeout() const override {
        if (hosted()) return host->poll_timeout();
        std::optional<TimeMs> next;
        if (dir) next = dir->poll_timeout();
        else if (relay) next = relay->poll_timeout();
        else next = bare->poll_timeout();
        if (next && *next <= net->now()) return net->now() + 1;
        return next;
    }
    std::optional<StoreOp> poll_store() override { return bare ? bare->poll_store() : std::nullopt; }
    void store_batches(TimeMs now, const std::function<void(const std::vector<StoreOp>&)>& keep) override {
        if (hosted()) HostStation::store_batches(now, keep);
    }
    void take_events(TimeMs now) override {
        if (dir)
            while (auto e = dir->poll_event()) {
                log(now, roles::describe(*e));
                dir_events.emplace_back(now, std::move(*e));
            }
        if (relay)
            while (auto e = relay->poll_event()) {
                log(now, roles::describe(*e));
                relay_events.emplace_back(now, std::move(*e));
            }
        if (bare)
            while (auto e = bare->poll_event()) room_events.emplace_back(now, std::move(*e));
        if (hosted())
            while (auto e = host->poll_event()) {
                if (auto* r = std::get_if<roles::RoomEvent>(&*e)) room_events.emplace_back(now, std::move(*r));
                else if (auto* l = std::get_if<host::Line>(&*e)) log(now, l->text);
            }
    }
    std::optional<core::Transmit> poll_transmit() override {
        if (dir) return dir->poll_transmit();
        if (relay) return relay->poll_transmit();
        if (bare) return bare->poll_transmit();
        return host->poll_transmit();
    }
    bool quitting() const override { return hosted() && host->quitting(); }
    void log(TimeMs now, const std::string& what) const {
        if (verbose) std::fprintf(stderr, "[%8lld] %-8s %s\n", static_cast<long long>(now), name.c_str(), what.c_str());
    }
};

class World {
    sim::Network net_;  // first: the crypto's seed comes from it
    std::unique_ptr<core::Crypto> crypto_;

public:
    explicit World(std::uint64_t seed, Link default_link = {})
        : net_(seed, model(default_link), 1'000'000), crypto_(sim::make_crypto(sim::CryptoKind::real, seed)) {
        verbose_ = std::getenv("DARKCHAT_SIM_VERBOSE") != nullptr;
        net_.on_transmit = [this](const sim::Station& from, const core::Transmit& t) {
            if (!tap) return;
            if (auto* to = net_.at(t.to)) tap(static_cast<const Node&>(from), static_cast<const Node&>(*to), t.data);
        };
    }

    TimeMs now() const { return net_.now(); }
    std::size_t size() const { return nodes_.size(); }
    Node& node(std::size_t i) { return *nodes_[i]; }
    Node& node(const std::string& name) { return *nodes_[index(name)]; }
    std::size_t index(const std::string& name) const {
        for (std::size_t i = 0; i < nodes_.size(); ++i)
            if (nodes_[i]->name == name) return i;
        std::fprintf(stderr, "roles harness: no node %s\n", name.c_str());
        std::abort();
    }
    Addr addr(const std::string& name) const { return nodes_[index(name)]->addr; }
    sim::Network& network() { return net_; }

    std::size_t add_directory(const std::string& name, roles::DirectoryConfig cfg = {}) {
        auto& n = add(name);
        cfg.port = n.addr.port;
        n.dir_cfg = cfg;
        n.dir = std::make_unique<roles::Directory>(cfg, n.id, *crypto_, net_.next_seed());
        net_.bring_up(n, n);
        net_.resume(n);  // its first wakeup starts it
        return nodes_.size() - 1;
    }
    std::size_t add_relay(const std::string& name, roles::RelayConfig cfg = {}) {
        auto& n = add(name);
        cfg.port = n.addr.port;
        n.relay_cfg = cfg;
        n.relay = std::make_unique<roles::Relay>(cfg, n.id, *crypto_, net_.next_seed());
        net_.bring_up(n, n);
        net_.input(n, [&] { n.relay->handle_start(now()); });
        return nodes_.size() - 1;
    }
    // What a relay's driver would measure of its CPU use (Relay::handle_cpu): the
    // simulator has no CPU, so a test says how busy a relay is.
    void set_cpu(const std::string& name, roles::CpuUse use) {
        auto& n = node(name);
        net_.input(n, [&] { n.relay->handle_cpu(use); });
    }
    // Users added from now on run as hosts (see Node), as the programs run
    // them. Off: as bare room clients. A bare room client sees every packet
    // sent to its port; under a host, what is not a role packet (garbage
    // included) goes to the node, as in darkchat.
    bool users_as_hosts = true;

    // A user. As a host it is what `darkchat --dir` (or --relays) runs, which
    // gives its room client the defaults of RoomClientConfig but for the
    // directory and the relays, and answers `pinned` and `addresses` from its
    // node; a bare room client takes cfg as it is.
    std::size_t add_client(const std::string& name, roles::RoomClientConfig cfg = {}) {
        if (users_as_hosts && (cfg.pinned || cfg.addresses)) {
            std::fprintf(stderr, "roles harness: %s: a host's node answers pinned and addresses; add it bare\n",
                         name.c_str());
            std::abort();
        }
        auto& n = add(name);
        cfg.port = n.addr.port;
        n.client_cfg = cfg;
        if (!users_as_hosts) {
            n.bare = std::make_unique<roles::RoomClient>(cfg, n.id, *crypto_, net_.next_seed());
            n.client = n.bare.get();
        } else {
            n.config.roles.directory = cfg.directory;
            n.config.roles.relays = cfg.relays;
            n.create(*crypto_, net_.next_seed());
            n.client = n.host->room_client();
        }
        net_.bring_up(n, n);
        net_.input(n, [&] { start(n); });
        return nodes_.size() - 1;
    }

    // Link a<->b (both directions).
    void set_link(const std::string& a, const std::string& b, Link l) {
        net_.set_link(nodes_[index(a)]->index, nodes_[index(b)]->index, l);
        net_.set_link(nodes_[index(b)]->index, nodes_[index(a)]->index, l);
    }
    void set_latency(const std::string& a, const std::string& b, TimeMs one_way) {
        Link l = net_.link(nodes_[index(a)]->index, nodes_[index(b)]->index).value_or(default_link());
        l.latency = one_way;
        set_link(a, b, l);
    }
    void set_default_link(Link l) {
        net_.model().latency = l.latency;
        net_.model().jitter = l.jitter;
        net_.model().loss = l.loss;
    }

    // A killed node neither sends nor receives; packets in flight to it are lost.
    void kill(const std::string& name) {
        auto& n = node(name);
        net_.take_down(n, false);
        n.log(now(), "killed");
    }
    // Back as it was (a partition heals).
    void resume(const std::string& name) {
        auto& n = node(name);
        n.log(now(), "resumed");
        net_.resume(n);
    }
    // Back with a fresh machine and the same identity (a restart: its memory is gone,
    // a room client keeps what it stored unless wipe_store).
    void restart(const std::string& name, bool wipe_store = false) {
        auto& n = node(name);
        net_.bring_up(n, n);
        if (n.dir) n.dir = std::make_unique<roles::Directory>(n.dir_cfg, n.id, *crypto_, net_.next_seed());
        if (n.relay) n.relay = std::make_unique<roles::Relay>(n.relay_cfg, n.id, *crypto_, net_.next_seed());
        if (n.client) {
            if (wipe_store) n.store.clear();
            if (n.bare) {
                n.bare = std::make_unique<roles::RoomClient>(n.client_cfg, n.id, *crypto_, net_.next_seed(),
                                                             n.store.snapshot().rooms);
                n.client = n.bare.get();
            } else {
                n.create(*crypto_, net_.next_seed());
                n.client = n.host->room_client();
            }
        }
        n.log(now(), "restarted");
        net_.input(n, [&] {
            if (n.relay) n.relay->handle_start(now());
            if (n.client) start(n);
        });
    }

    // A room client leaves darkchat (\quit): what it says goes out, then it is down.
    void quit(const std::string& name) {
        auto& n = node(name);
        net_.input(n, [&] {
            if (n.bare) n.bare->handle_quit(now());
            else n.host->handle_quit(now());
        });
        kill(name);
    }

    void command(const std::string& name, const roles::RoomCommand& c) {
        input(name, [&](Node& n) { n.client->handle_command(now(), c); });
    }

    // A test's own input to a node (a command to its host, a file read answered), drained
    // as the driver drains one.
    void input(const std::string& name, const std::function<void(Node&)>& fn) {
        auto& n = node(name);
        net_.input(n, [&] { fn(n); });
    }

    // Hands raw bytes to a node as if they came from `from` (forged or malformed input).
    void inject(const std::string& to, const Addr& from, Bytes data) { net_.post(from, addr(to), std::move(data)); }

    void run_until_time(TimeMs t) { net_.run_until(t); }
    void run_for(TimeMs d) { net_.run_for(d); }
    // Runs until pred() holds (checked after every step) or max_ms pass; returns pred().
    bool run_until(const std::function<bool()>& pred, TimeMs max_ms) {
        return net_.run_until(pred, max_ms, 0).has_value();
    }

    // Sees every packet put on a link to a node: from, to, bytes.
    std::function<void(const Node&, const Node&, const Bytes&)> tap;

    std::uint64_t delivered() const { return net_.totals().delivered; }
    std::uint64_t lost() const { return net_.totals().lost + net_.totals().dead; }

private:
    // A user's start: its host's once the socket is bound, or its bare room client's.
    void start(Node& n) {
        if (n.bare) n.bare->handle_start(now());
        else n.host->handle_start(now(), n.addr);
    }

    // Links as the model; streams (too big for a datagram, or asked for) arrive
    // from an ephemeral port, as the real loop delivers them, one latency late.
    static sim::NetModel model(const Link& l) {
        sim::NetModel m;
        m.latency = l.latency;
        m.jitter = l.jitter;
        m.loss = l.loss;
        m.stream_legs = 1;
        m.stream_on_request = true;
        m.stream_from_ephemeral = true;
        return m;
    }
    Link default_link() const { return Link{net_.model().latency, net_.model().jitter, net_.model().loss}; }

    Node& add(const std::string& name) {
        auto n = std::make_unique<Node>();
        n->name = name;
        n->id = identity_for(name);
        n->net = &net_;
        n->verbose = verbose_;
        net_.attach(*n);
        nodes_.push_back(std::move(n));
        return *nodes_.back();
    }

    std::vector<std::unique_ptr<Node>> nodes_;
    bool verbose_ = false;
};

// ---- helpers for tests --------------------------------------------------------------

template <typename E>
std::vector<E> events_of(const Node& n) {
    std::vector<E> v;
    for (auto& [t, e] : n.room_events)
        if (auto* x = std::get_if<E>(&e)) v.push_back(*x);
    return v;
}

// The stages client `who` was shown for its requests to `user`, in order.
inline std::vector<roles::Stage> stages(const Node& who, const std::string& user) {
    std::vector<roles::Stage> v;
    for (auto& e : events_of<roles::room_ev::RequestStage>(who))
        if (e.user == user) v.push_back(e.stage);
    return v;
}

inline bool saw_stage(const Node& who, const std::string& user, roles::Stage s) {
    for (auto x : stages(who, user))
        if (x == s) return true;
    return false;
}

// Lines (author, text) delivered to who (not own echoes), in order.
inline std::vector<std::pair<std::string, std::string>> lines(const Node& who) {
    std::vector<std::pair<std::string, std::string>> v;
    for (auto& l : events_of<roles::room_ev::Line>(who))
        if (!l.outgoing) v.emplace_back(l.author, l.text);
    return v;
}

}  // namespace dc::rolesim
