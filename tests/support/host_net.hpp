// Hosts and terminal sessions driven as src/io/loop.cpp drives them, on a
// deterministic network in virtual time: no process, no socket, stores in
// memory. A user's host runs its node and (with relays or a directory) its room
// client on one address; a relay or a directory runs alone on its own.
#pragma once

#include "darkchat/crypto.hpp"
#include "darkchat/host.hpp"
#include "darkchat/mem_store.hpp"
#include "darkchat/session.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <queue>
#include <stdexcept>
#include <string>
#include <vector>

namespace dc::test {

struct HostPeer {
    std::string name;
    Identity id;
    Addr addr;
    host::Config config;
    MemStore store;
    std::unique_ptr<host::Host> host;
    std::unique_ptr<cli::Session> session;
    std::vector<std::string> lines;  // every line shown, in order
    // The store refuses writes while set (the words of the fault, and whether
    // it may pass).
    std::optional<host::StoreFailure> store_fault;
    std::size_t batches = 0;          // batches the driver applied
    std::vector<StoreOp> last_batch;  // the last batch offered, applied or not
    std::vector<std::string> batch_order;  // "store", "line", "send" as the driver met them
    std::size_t sent = 0;
    bool up = false;

    std::size_t mark() const { return lines.size(); }
    // Lines shown since mark.
    std::vector<std::string> since(std::size_t m) const { return {lines.begin() + static_cast<long>(m), lines.end()}; }
    bool shown(const std::string& line, std::size_t from = 0) const {
        return std::find(lines.begin() + static_cast<long>(from), lines.end(), line) != lines.end();
    }
    bool shown_prefix(const std::string& prefix, std::size_t from = 0) const {
        return std::any_of(lines.begin() + static_cast<long>(from), lines.end(),
                           [&](const std::string& l) { return l.rfind(prefix, 0) == 0; });
    }
};

inline host::RoleOptions relay_role(std::optional<Addr> directory = std::nullopt) {
    host::RoleOptions r;
    r.role = host::Role::relay;
    r.directory = directory;
    return r;
}

inline host::RoleOptions directory_role() {
    host::RoleOptions r;
    r.role = host::Role::directory;
    return r;
}

// A user's room client, with the relays (client-side round robin) or the directory given.
inline host::RoleOptions using_relays(const Addr& relay) {
    host::RoleOptions r;
    r.relays = {relay};
    return r;
}

inline host::RoleOptions using_directory(const Addr& directory) {
    host::RoleOptions r;
    r.directory = directory;
    return r;
}

class HostNet {
public:
    explicit HostNet(std::uint64_t seed = 7) : seed_(seed) { (void)crypto::init(); }

    TimeMs now() const { return now_; }
    TimeMs latency = 5;
    // Host names \ping resolves (anything else: "unknown host").
    std::map<std::string, Addr> names;

    HostPeer& add(const std::string& name, host::RoleOptions roles = {}, core::Config node = {}) {
        auto p = std::make_unique<HostPeer>();
        p->name = name;
        auto kp = crypto::generate_identity();
        p->id.user = name;
        p->id.pk = kp.pk;
        p->id.sk = kp.sk;
        crypto::random_bytes(p->id.session);
        p->addr = Addr::v4(127, 0, 0, static_cast<std::uint8_t>(1 + peers_.size()), 7300);
        p->config.node = node;
        p->config.node.port = p->addr.port;
        p->config.node.bind_addr = p->addr;
        p->config.roles = roles;
        peers_.push_back(std::move(p));
        return *peers_.back();
    }

    HostPeer& operator[](const std::string& name) {
        for (auto& p : peers_)
            if (p->name == name) return *p;
        throw std::runtime_error("no peer " + name);
    }

    void start(HostPeer& p) {
        auto h = host::Host::create(p.config, p.id, p.store.snapshot(), core::real_crypto(), seed_ + counter_++);
        if (!h) throw std::runtime_error(h.error());
        p.host = std::move(h).value();
        p.session = std::make_unique<cli::Session>(*p.host);
        p.up = true;
        p.host->handle_start(now_, p.addr);
        pump(p);
    }

    // kill -9: what was stored stays.
    void kill(HostPeer& p) {
        p.session.reset();
        p.host.reset();
        p.up = false;
    }

    // One line typed at p's terminal, as the driver hands it on.
    void type(HostPeer& p, const std::string& line) {
        p.session->handle_line(now_, line);
        show(p);
        while (auto r = p.session->poll_resolve()) {
            auto it = names.find(r->host);
            if (it == names.end()) p.session->handle_resolved(now_, *r, err("unknown host"));
            else p.session->handle_resolved(now_, *r, it->second);
        }
        show(p);
        pump(p);
    }

    // a pings b, and each adds the other.
    void link(HostPeer& a, HostPeer& b) {
        type(a, "\\ping " + b.addr.to_string());
        run_for(200);
        type(a, "\\add " + b.name);
        type(b, "\\add " + a.name);
        run_for(500);
    }

    // Users alice and bob started and linked, alice chatting with bob.
    std::pair<HostPeer&, HostPeer&> chatting_pair(host::RoleOptions roles = {}) {
        auto& a = add("alice", roles);
        auto& b = add("bob", roles);
        start(a);
        start(b);
        link(a, b);
        type(a, "\\chat bob");
        return {a, b};
    }

    // A relay, and alice and bob linked, each with a room client that has
    // measured the relay (no directory).
    struct OnRelay {
        HostPeer& relay;
        HostPeer& alice;
        HostPeer& bob;
    };
    OnRelay pair_on_relay() {
        auto& relay = add("relay", relay_role());
        auto& a = add("alice", using_relays(relay.addr));
        auto& b = add("bob", using_relays(relay.addr));
        start(relay);
        start(a);
        start(b);
        link(a, b);
        run_for(1500);
        return {relay, a, b};
    }

    // a asks b for a room and b accepts; the room's id as lines show it, or
    // empty when no room came of it.
    std::string open_room(HostPeer& a, HostPeer& b) {
        type(a, "\\request " + b.name);
        run_for(500);
        type(b, "\\accept " + a.name);
        run_for(1000);
        auto rooms = a.host->room_client()->rooms();
        if (rooms.size() != 1 || !rooms.front().joined) return {};
        return roles::short_id(rooms.front().room);
    }

    void quit(HostPeer& p) {
        p.host->handle_quit(now_);
        pump(p);
    }

    // The driver's pump: store batches, then events shown, then packets sent.
    void pump(HostPeer& p) {
        while (auto* ops = p.host->poll_store()) {
            p.batch_order.push_back("store");
            p.last_batch = *ops;
            if (p.store_fault) {
                p.host->handle_store_failed(now_, *p.store_fault);
                continue;
            }
            for (auto& op : *ops) p.store.apply(op);
            ++p.batches;
            p.host->handle_store_applied(now_);
        }
        while (auto e = p.host->poll_event()) {
            p.batch_order.push_back("line");
            p.session->handle_event(*e);
            show(p);
        }
        while (auto t = p.host->poll_transmit()) {
            p.batch_order.push_back("send");
            ++p.sent;
            for (auto& q : peers_)
                if (q->addr == t->to) queue_.push({now_ + latency, seq_++, p.addr, q.get(), std::move(t->data)});
        }
        if (p.host->quitting()) p.up = false;
    }

    // Bytes to p's port from `from`, as a datagram.
    void inject(HostPeer& p, const Addr& from, ByteView data) {
        p.host->handle_datagram(now_, from, data);
        pump(p);
    }

    void run_for(TimeMs d) { run_until(now_ + d); }

    void run_until(TimeMs t) {
        for (int guard = 0; guard < 1000000; ++guard) {
            TimeMs next = t;
            if (!queue_.empty()) next = std::min(next, queue_.top().at);
            for (auto& p : peers_)
                if (p->up)
                    if (auto w = p->host->poll_timeout()) next = std::min(next, std::max(*w, now_));
            if (next >= t && (queue_.empty() || queue_.top().at > t)) {
                now_ = t;
                return;
            }
            now_ = next;
            while (!queue_.empty() && queue_.top().at <= now_) {
                auto pk = queue_.top();
                queue_.pop();
                if (!pk.to->up) continue;
                pk.to->host->handle_datagram(now_, pk.from, pk.data);
                pump(*pk.to);
            }
            for (auto& p : peers_)
                if (p->up)
                    if (auto w = p->host->poll_timeout(); w && *w <= now_) {
                        p->host->handle_timeout(now_);
                        pump(*p);
                    }
        }
        throw std::runtime_error("the network did not settle");
    }

private:
    void show(HostPeer& p) {
        while (auto l = p.session->poll_line()) p.lines.push_back(std::move(*l));
    }

    struct Packet {
        TimeMs at;
        std::uint64_t seq;
        Addr from;
        HostPeer* to;
        Bytes data;
        bool operator>(const Packet& o) const { return at != o.at ? at > o.at : seq > o.seq; }
    };
    std::priority_queue<Packet, std::vector<Packet>, std::greater<Packet>> queue_;
    std::vector<std::unique_ptr<HostPeer>> peers_;
    std::uint64_t seed_;
    std::uint64_t counter_ = 0;
    std::uint64_t seq_ = 0;
    TimeMs now_ = 1000000;
};

}  // namespace dc::test
