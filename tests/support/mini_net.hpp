// A small deterministic network for driving real core::Node instances in one
// process: virtual time, per-packet latency, nodes that can be cut off, killed
// and restarted from what they stored. Used by the core unit tests.
#pragma once

#include "darkchat/core.hpp"
#include "darkchat/crypto.hpp"
#include "darkchat/mem_store.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace dc::test {

using dc::MemStore;

struct SimNode {
    std::string name;
    Identity id;
    Addr addr;
    core::Config config;
    MemStore store;
    std::unique_ptr<core::Node> node;
    std::vector<core::Event> events;
    bool up = false;
    // A store that refuses every write (a full or broken disk): what the node
    // could not store is kept and tried again once this is false.
    bool store_fails = false;
    std::vector<StoreOp> unsaved;
};

class MiniNet {
public:
    explicit MiniNet(std::uint64_t seed = 1) : seed_(seed) { (void)crypto::init(); }

    TimeMs now() const { return now_; }
    TimeMs latency = 5;

    // Adds a user with its own identity at 10.0.0.<n>:7300.
    SimNode& add(const std::string& name, core::Config cfg = {}) {
        auto n = std::make_unique<SimNode>();
        n->name = name;
        auto kp = crypto::generate_identity();
        n->id.user = name;
        n->id.pk = kp.pk;
        n->id.sk = kp.sk;
        crypto::random_bytes(n->id.session);
        n->addr = Addr::v4(10, 0, static_cast<std::uint8_t>(nodes_.size() / 250), static_cast<std::uint8_t>(1 + nodes_.size() % 250), 7300);
        n->config = cfg;
        nodes_.push_back(std::move(n));
        return *nodes_.back();
    }

    // A second device of the same user: same keys, its own session.
    SimNode& add_device(SimNode& of, const std::string& label) {
        auto& n = add(label);
        n.id = of.id;
        crypto::random_bytes(n.id.session);
        return n;
    }

    SimNode& operator[](const std::string& name) {
        for (auto& n : nodes_)
            if (n->name == name) return *n;
        throw std::runtime_error("no node " + name);
    }

    void start(SimNode& n) {
        core::Config c = n.config;
        c.port = n.addr.port;
        c.bind_addr = n.addr;
        n.node = std::make_unique<core::Node>(c, n.id, n.store.snapshot(), core::real_crypto(), seed_ + counter_++);
        n.up = true;
        n.node->handle_start(now_);
        drain(n);
    }

    // kill -9: the node vanishes; what it stored stays.
    void kill(SimNode& n) {
        n.node.reset();
        n.up = false;
        n.unsaved.clear();
    }

    void command(SimNode& n, const core::Command& c) {
        n.node->handle_command(now_, c);
        drain(n);
    }

    // Moves a node to a new port (a restart elsewhere).
    void move(SimNode& n, std::uint16_t port) { n.addr.port = port; }

    // Packets from or to a cut node are lost.
    std::set<std::string> cut;
    // (from, to) pairs of node names whose packets are lost, one way.
    std::set<std::pair<std::string, std::string>> blocked;

    void run_for(TimeMs duration) { run_until(now_ + duration); }

    void run_until(TimeMs t) {
        for (int guard = 0; guard < 10000000; ++guard) {
            TimeMs next = t;
            if (!queue_.empty()) next = std::min(next, queue_.top().at);
            for (auto& n : nodes_)
                if (n->up)
                    if (auto w = n->node->poll_timeout()) next = std::min(next, std::max(*w, now_));
            if (next >= t && (queue_.empty() || queue_.top().at > t)) {
                now_ = t;
                return;
            }
            now_ = next;
            while (!queue_.empty() && queue_.top().at <= now_) {
                auto p = queue_.top();
                queue_.pop();
                deliver(p);
            }
            for (auto& n : nodes_)
                if (n->up)
                    if (auto w = n->node->poll_timeout(); w && *w <= now_) {
                        n->node->handle_timeout(now_);
                        drain(*n);
                    }
        }
        std::string why = "simulation did not settle at " + std::to_string(now_) + ":";
        for (auto& n : nodes_)
            if (n->up)
                if (auto w = n->node->poll_timeout()) why += " " + n->name + " wakes at " + std::to_string(*w);
        throw std::runtime_error(why);
    }

    // Delivers arbitrary bytes to a node, as if from `from`.
    void inject(SimNode& to, const Addr& from, const Bytes& data) {
        to.node->handle_datagram(now_, from, data);
        drain(to);
    }
    // The same, as a frame over a TCP connection from `from`.
    void inject_frame(SimNode& to, const Addr& from, const Bytes& data) {
        to.node->handle_frame(now_, from, data);
        drain(to);
    }

    std::size_t packets = 0;
    // Extra delay of packets that go over TCP (too big for a datagram), so that
    // they arrive after small ones sent later, as they may on a real network.
    TimeMs stream_delay = 0;
    // Decides, for each packet sent, whether it is lost.
    std::function<bool(const Addr& from, const Addr& to, const Bytes& data)> lose;
    // Sees every packet as it is sent (an eavesdropper, or a recorder for replays).
    // stream: the node asked for TCP although the packet is small.
    std::function<void(const Addr& from, const Addr& to, const Bytes& data, bool stream)> tap;

    template <typename E>
    std::vector<E> events_of(SimNode& n) const {
        std::vector<E> out;
        for (auto& e : n.events)
            if (auto* x = std::get_if<E>(&e)) out.push_back(*x);
        return out;
    }

private:
    struct InFlight {
        TimeMs at;
        std::uint64_t order;
        Addr from;
        Addr to;
        Bytes data;
        bool stream = false;  // goes over TCP: arrives from an ephemeral port
        bool operator<(const InFlight& o) const { return at != o.at ? at > o.at : order > o.order; }
    };

    SimNode* at(const Addr& a) {
        for (auto& n : nodes_)
            if (n->up && n->addr == a) return n.get();
        return nullptr;
    }

    SimNode* by_addr_any(const Addr& a) {
        for (auto& n : nodes_)
            if (n->addr == a) return n.get();
        return nullptr;
    }

    void deliver(const InFlight& p) {
        SimNode* n = at(p.to);
        if (!n) return;
        SimNode* src = by_addr_any(p.from);
        if (cut.count(n->name) || (src && cut.count(src->name))) return;
        if (src && blocked.count({src->name, n->name})) return;
        if (p.stream) {
            // As over a real TCP connection: the peer's port is not its listening one.
            Addr peer = p.from;
            peer.port = static_cast<std::uint16_t>(40000 + p.order % 20000);
            n->node->handle_frame(now_, peer, p.data);
        } else {
            n->node->handle_datagram(now_, p.from, p.data);
        }
        drain(*n);
    }

    void drain(SimNode& n) {
        if (!n.node) return;
        std::vector<StoreOp> ops = std::move(n.unsaved);
        n.unsaved.clear();
        while (auto op = n.node->poll_store()) ops.push_back(std::move(*op));
        if (n.store_fails && !ops.empty()) {
            n.unsaved = n.node->handle_store_failed(now_, std::move(ops));
        } else {
            for (auto& op : ops) n.store.apply(op);
        }
        while (auto e = n.node->poll_event()) n.events.push_back(std::move(*e));
        while (auto t = n.node->poll_transmit()) {
            ++packets;
            if (tap) tap(n.addr, t->to, t->data, t->stream);
            bool stream = t->stream || t->data.size() > wire::kMaxDatagram;
            if (lose && lose(n.addr, t->to, t->data)) continue;
            queue_.push(InFlight{now_ + latency + (stream ? stream_delay : 0), order_++, n.addr, t->to,
                                 std::move(t->data), stream});
        }
    }

    std::uint64_t seed_;
    std::uint64_t counter_ = 0;
    std::uint64_t order_ = 0;
    TimeMs now_ = 1000000;
    std::vector<std::unique_ptr<SimNode>> nodes_;
    std::priority_queue<InFlight> queue_;
};

}  // namespace dc::test
