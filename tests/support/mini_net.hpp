// A few real core::Node instances on the one simulated network
// (tools/sim/net.hpp): a fixed latency, nodes that can be cut off, killed and
// restarted from what they stored, packets that tests can tap, lose or forge.
// Identities, node seeds and the nodes' random numbers come from the seed.
// Used by the core unit tests.
#pragma once

#include "sim/crypto.hpp"
#include "sim/net.hpp"

#include "darkchat/core.hpp"
#include "support/mem_store.hpp"

#include <functional>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace dc::test {

using dc::MemStore;
// name, id, addr, config, store, node, events, up, store_fails (a store that
// refuses every write), unsaved.
using SimNode = sim::NodeStation;

class MiniNet {
    // First: the references to its model below bind to it.
    sim::Network net_;
    std::unique_ptr<core::Crypto> crypto_;

public:
    explicit MiniNet(std::uint64_t seed = 1)
        : net_(seed, model(), 1000000), crypto_(sim::make_crypto(sim::CryptoKind::real, seed)) {
        net_.on_transmit = [this](const sim::Station& s, const core::Transmit& t) {
            ++packets;
            if (tap) tap(s.addr, t.to, t.data, t.stream);
        };
        net_.drop = [this](const sim::Station& s, const core::Transmit& t) { return lose && lose(s.addr, t.to, t.data); };
        net_.refuse = [this](const sim::Station& from, const sim::Station& to) {
            return cut.count(from.name) || cut.count(to.name) || blocked.count({from.name, to.name});
        };
    }

    TimeMs now() const { return net_.now(); }
    TimeMs& latency = net_.model().latency;
    sim::Network& network() { return net_; }

    // Adds a user with its own identity (from the seed) at a fresh address.
    SimNode& add(const std::string& name, core::Config cfg = {}) {
        auto n = std::make_unique<SimNode>();
        n->name = name;
        n->id = net_.identity(name);
        n->config = cfg;
        net_.attach(*n);
        nodes_.push_back(std::move(n));
        return *nodes_.back();
    }

    // A second device of the same user: same keys, its own session.
    SimNode& add_device(SimNode& of, const std::string& label) {
        auto& n = add(label);
        const SessionId session = n.id.session;
        n.id = of.id;
        n.id.session = session;
        return n;
    }

    SimNode& operator[](const std::string& name) {
        for (auto& n : nodes_)
            if (n->name == name) return *n;
        throw std::runtime_error("no node " + name);
    }

    // The core type of a packet to `to`: for a session channel's packet its inner
    // type, peeked with the receiver's keys (none if it does not open).
    std::optional<wire::MsgType> type_of(const Addr& to, const Bytes& data) {
        for (auto& n : nodes_)
            if (n->addr == to && n->node) return n->node->inner_type(now(), data);
        return wire::peek_type(data);
    }
    bool is(const Addr& to, const Bytes& data, wire::MsgType t) { return type_of(to, data) == t; }

    void start(SimNode& n) { n.boot(net_, *crypto_, net_.next_seed()); }

    // kill -9: the node vanishes; what it stored stays.
    void kill(SimNode& n) {
        n.node.reset();
        n.unsaved.clear();
        net_.take_down(n);
    }

    void command(SimNode& n, const core::Command& c) {
        net_.input(n, [&] { n.node->handle_command(net_.now(), c); });
    }

    // Moves a node to a new port (a restart elsewhere).
    void move(SimNode& n, std::uint16_t port) {
        Addr a = n.addr;
        a.port = port;
        net_.readdress(n, a);
    }

    // Packets from or to a cut node are lost.
    std::set<std::string> cut;
    // (from, to) pairs of node names whose packets are lost, one way.
    std::set<std::pair<std::string, std::string>> blocked;

    void run_for(TimeMs duration) { run_until(net_.now() + duration); }
    void run_until(TimeMs t) {
        net_.run_until(t);
        if (!net_.problems().empty()) throw std::runtime_error("simulation did not settle: " + net_.problems().front());
    }

    // Delivers arbitrary bytes to a node, as if from `from`.
    void inject(SimNode& to, const Addr& from, const Bytes& data) { net_.deliver_now(to, from, data); }
    // The same, as a frame over a TCP connection from `from`.
    void inject_frame(SimNode& to, const Addr& from, const Bytes& data) { net_.deliver_now(to, from, data, true); }

    std::size_t packets = 0;
    // Extra delay of packets that go over TCP (too big for a datagram), so that
    // they arrive after small ones sent later, as they may on a real network.
    TimeMs& stream_delay = net_.model().stream_delay;
    // Decides, for each packet sent, whether it is lost.
    std::function<bool(const Addr& from, const Addr& to, const Bytes& data)> lose;
    // Sees every packet as it is sent (an eavesdropper, or a recorder for replays).
    // stream: the node asked for TCP although the packet is small.
    std::function<void(const Addr& from, const Addr& to, const Bytes& data, bool stream)> tap;

    template <typename E>
    std::vector<E> events_of(SimNode& n) const {
        return sim::events_of<E>(n);
    }

private:
    // One fixed latency, no jitter; a stream takes one latency more the
    // stream_delay, and arrives from an ephemeral port.
    static sim::NetModel model() {
        sim::NetModel m;
        m.latency = 5;
        m.stream_legs = 1;
        m.stream_on_request = true;
        m.stream_from_ephemeral = true;
        return m;
    }

    std::vector<std::unique_ptr<SimNode>> nodes_;
};

}  // namespace dc::test
