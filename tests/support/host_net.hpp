// Hosts and terminal sessions on the one simulated network (tools/sim/net.hpp),
// each host a sim::HostStation driven as src/io/loop.cpp drives it: no process,
// no socket, stores in memory, virtual time. A user's host runs its node and
// (with relays or a directory) its room client on one address; a relay or a
// directory runs alone on its own. The session reads the host's events as the
// driver hands them on, and its lines are kept in order.
#pragma once

#include "sim/host_station.hpp"
#include "sim/net.hpp"

#include "darkchat/crypto.hpp"
#include "darkchat/host.hpp"
#include "darkchat/session.hpp"

#include <algorithm>
#include <regex>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace dc::test {

struct HostPeer : sim::HostStation {
    std::unique_ptr<cli::Session> session;
    std::vector<std::string> lines;  // every line shown, in order
    std::size_t batches = 0;          // batches the driver applied
    std::vector<StoreOp> last_batch;  // the last batch offered, applied or not
    std::vector<std::string> batch_order;  // "store", "line", "send" as the driver met them
    std::size_t sent = 0;
    std::vector<groups::Event> group_events;  // every group event, in order

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
    void show() {
        while (auto l = session->poll_line()) lines.push_back(std::move(*l));
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

// The lines joined, one per line, for failure messages.
inline std::string joined(const std::vector<std::string>& lines) {
    std::string s;
    for (auto& l : lines) s += l + "\n";
    return s;
}

// The lines p showed since m, for failure messages.
#define LINES(p, m) INFO((p).name << " showed:\n" << dc::test::joined((p).since(m)))

// How many of lines match pattern (a whole-line regex).
inline std::size_t count_matching(const std::vector<std::string>& lines, const std::string& pattern) {
    std::regex re(pattern);
    return static_cast<std::size_t>(
        std::count_if(lines.begin(), lines.end(), [&](const std::string& l) { return std::regex_match(l, re); }));
}

// The group events of type E that p's host gave, in order.
template <typename E>
std::vector<E> events_of(const HostPeer& p) {
    std::vector<E> out;
    for (auto& e : p.group_events)
        if (auto* x = std::get_if<E>(&e)) out.push_back(*x);
    return out;
}

class HostNet {
public:
    // Every packet takes 5 ms; peers sit at 127.0.0.1, 127.0.0.2, ... port 7300.
    explicit HostNet(std::uint64_t seed = 7) : HostNet(seed, model()) {}
    // On a network of that model (latency, loss, ...).
    HostNet(std::uint64_t seed, sim::NetModel m) : net_(seed, m, 1'000'000) {
        net_.on_transmit = [this](const sim::Station& s, const core::Transmit&) {
            auto& p = *peers_.at(s.index);  // every station here is a peer, attached in order
            p.batch_order.push_back("send");
            ++p.sent;
        };
    }

    TimeMs now() const { return net_.now(); }
    sim::Network& network() { return net_; }
    // Host names \ping resolves (anything else: "unknown host").
    std::map<std::string, Addr> names;

    HostPeer& add(const std::string& name, host::RoleOptions roles = {}, core::Config node = {}) {
        auto p = std::make_unique<HostPeer>();
        p->name = name;
        p->id = net_.identity(name);
        p->addr = Addr::v4(127, 0, 0, static_cast<std::uint8_t>(1 + peers_.size()), 7300);
        p->config.node = node;
        p->config.roles = roles;
        HostPeer& r = *p;
        r.on_batch = [&r](const std::vector<StoreOp>& ops, bool stored) {
            r.batch_order.push_back("store");
            r.last_batch = ops;
            if (stored) ++r.batches;
        };
        r.on_event = [&r](const host::Event& e) {
            r.batch_order.push_back("line");
            if (auto* g = std::get_if<groups::Event>(&e)) r.group_events.push_back(*g);
            r.session->handle_event(e);
            r.show();
        };
        r.keep_events = false;
        net_.attach(r);
        peers_.push_back(std::move(p));
        return r;
    }

    HostPeer& operator[](const std::string& name) {
        for (auto& p : peers_)
            if (p->name == name) return *p;
        throw std::runtime_error("no peer " + name);
    }

    // A fresh host from what p stored, its terminal attached, then started.
    void start(HostPeer& p) {
        p.session.reset();
        p.create(core::real_crypto(), net_.next_seed());
        p.session = std::make_unique<cli::Session>(*p.host);
        p.start(net_);
    }

    // A user's host added and started, with no roles.
    HostPeer& started(const std::string& name) {
        HostPeer& p = add(name);
        start(p);
        return p;
    }

    // kill -9: what was stored stays.
    void kill(HostPeer& p) {
        p.crash(net_);
        p.session.reset();
        p.host.reset();
    }

    // One line typed at p's terminal, as the driver hands it on.
    void type(HostPeer& p, const std::string& line) {
        net_.input(p, [&] {
            p.session->handle_line(now(), line);
            p.show();
            while (auto r = p.session->poll_resolve()) {
                auto it = names.find(r->host);
                if (it == names.end()) p.session->handle_resolved(now(), *r, err("unknown host"));
                else p.session->handle_resolved(now(), *r, it->second);
            }
            while (auto h = p.session->poll_history()) {
                if (h->conversation) p.session->handle_lines(*h, p.store.conversation_lines(*h->conversation, h->count));
                else p.session->handle_history(*h, p.store.peer_history(h->user, h->count));
            }
            p.show();
        });
    }

    // A command to p's group machine, as the session hands it on in a turn.
    void group(HostPeer& p, const groups::Command& c) {
        net_.input(p, [&] { p.host->handle_group_command(now(), c); });
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

    void quit(HostPeer& p) { p.quit(net_); }

    // Bytes to p's port from `from`, as a datagram.
    void inject(HostPeer& p, const Addr& from, ByteView data) { net_.deliver_now(p, from, data); }

    void run_for(TimeMs d) { net_.run_for(d); }
    // Runs until pred() holds or `limit` ms have passed; whether it held.
    bool run_until(const std::function<bool()>& pred, TimeMs limit, TimeMs step = 100) {
        return net_.run_until(pred, limit, step).has_value();
    }
    // Peers in the order added.
    const std::vector<std::unique_ptr<HostPeer>>& peers() const { return peers_; }
    void run_until(TimeMs t) { net_.run_until(t); }

private:
    static sim::NetModel model() {
        sim::NetModel m;
        m.latency = 5;
        return m;
    }

    sim::Network net_;
    std::vector<std::unique_ptr<HostPeer>> peers_;
};

}  // namespace dc::test
