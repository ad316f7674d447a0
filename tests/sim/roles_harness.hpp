// A small deterministic discrete-event harness for the role machines (roles.hpp): a
// directory, relays and room clients in one process, one thread, virtual time jumping
// to the next packet or timer. Every link has a modelled one-way latency (plus jitter,
// so packets may be reordered) and a loss rate; a node can be killed (it neither sends
// nor receives, its timers stop) and brought back, fresh (a restart with the same
// identity) or as it was (a partition healing). Everything random comes from the seed.
//
// Used by tests/unit/roles_test.cpp (fixed seeds) and tests/sim/relocation_test.cpp
// (seeds printed on failure through sim_support.hpp's SIM_SEED).
#pragma once

#include "darkchat/crypto.hpp"
#include "darkchat/mem_store.hpp"
#include "darkchat/roles.hpp"
#include "darkchat/wire.hpp"

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <variant>
#include <vector>

namespace dc::rolesim {

struct Link {
    TimeMs latency = 5;  // one way
    TimeMs jitter = 0;   // + uniform 0..jitter per packet
    double loss = 0;     // probability a packet is lost
};

using AnyEvent = std::variant<roles::DirectoryEvent, roles::RelayEvent, roles::RoomEvent>;

struct Node {
    std::string name;
    Addr addr;
    Identity id;
    bool up = true;
    std::unique_ptr<roles::Directory> dir;
    std::unique_ptr<roles::Relay> relay;
    std::unique_ptr<roles::RoomClient> client;
    roles::DirectoryConfig dir_cfg;
    roles::RelayConfig relay_cfg;
    roles::RoomClientConfig client_cfg;
    MemStore store;  // what a room client stored: a restart starts from it
    std::uint64_t timer_gen = 0;
    std::vector<std::pair<TimeMs, roles::RoomEvent>> room_events;
    std::vector<std::pair<TimeMs, roles::DirectoryEvent>> dir_events;
    std::vector<std::pair<TimeMs, roles::RelayEvent>> relay_events;
    std::uint64_t received = 0;
    std::uint64_t wakeups = 0;  // timers that fired
};

inline Identity identity_for(const std::string& name) {
    std::array<std::uint8_t, 32> seed{};
    const auto h = std::hash<std::string>{}(name);
    for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>((h >> (8 * (i % 8))) + i);
    for (std::size_t i = 0; i < name.size() && i < 16; ++i) seed[16 + i] ^= static_cast<std::uint8_t>(name[i]);
    auto kp = crypto::identity_from_seed(seed);
    Identity id;
    id.user = name;
    id.pk = kp.pk;
    id.sk = kp.sk;
    for (std::size_t i = 0; i < id.session.size(); ++i) id.session[i] = seed[i];
    return id;
}

class World {
public:
    explicit World(std::uint64_t seed, Link default_link = {}) : rng_(seed), default_(default_link) {
        (void)crypto::init();
        verbose_ = std::getenv("DARKCHAT_SIM_VERBOSE") != nullptr;
    }

    TimeMs now() const { return now_; }
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

    std::size_t add_directory(const std::string& name, roles::DirectoryConfig cfg = {}) {
        auto& n = add(name);
        cfg.port = n.addr.port;
        n.dir_cfg = cfg;
        n.dir = std::make_unique<roles::Directory>(cfg, n.id, roles_crypto(), rng_());
        kick(nodes_.size() - 1);
        return nodes_.size() - 1;
    }
    std::size_t add_relay(const std::string& name, roles::RelayConfig cfg = {}) {
        auto& n = add(name);
        cfg.port = n.addr.port;
        n.relay_cfg = cfg;
        n.relay = std::make_unique<roles::Relay>(cfg, n.id, roles_crypto(), rng_());
        n.relay->handle_start(now_);
        pump(nodes_.size() - 1);
        return nodes_.size() - 1;
    }
    std::size_t add_client(const std::string& name, roles::RoomClientConfig cfg = {}) {
        auto& n = add(name);
        cfg.port = n.addr.port;
        n.client_cfg = cfg;
        n.client = std::make_unique<roles::RoomClient>(cfg, n.id, roles_crypto(), rng_());
        n.client->handle_start(now_);
        pump(nodes_.size() - 1);
        return nodes_.size() - 1;
    }

    // Link a<->b (both directions).
    void set_link(const std::string& a, const std::string& b, Link l) {
        links_[{index(a), index(b)}] = l;
        links_[{index(b), index(a)}] = l;
    }
    void set_latency(const std::string& a, const std::string& b, TimeMs one_way) {
        Link l = link(index(a), index(b));
        l.latency = one_way;
        set_link(a, b, l);
    }
    void set_default_link(Link l) { default_ = l; }

    // A killed node neither sends nor receives; packets in flight to it are lost.
    void kill(const std::string& name) {
        auto& n = node(name);
        n.up = false;
        ++n.timer_gen;
        log(name, "killed");
    }
    // Back as it was (a partition heals).
    void resume(const std::string& name) {
        auto i = index(name);
        nodes_[i]->up = true;
        log(name, "resumed");
        kick(i);
    }
    // Back with a fresh machine and the same identity (a restart: its memory is gone,
    // a room client keeps what it stored unless wipe_store).
    void restart(const std::string& name, bool wipe_store = false) {
        auto i = index(name);
        auto& n = *nodes_[i];
        n.up = true;
        ++n.timer_gen;
        if (n.dir) n.dir = std::make_unique<roles::Directory>(n.dir_cfg, n.id, roles_crypto(), rng_());
        if (n.relay) {
            n.relay = std::make_unique<roles::Relay>(n.relay_cfg, n.id, roles_crypto(), rng_());
            n.relay->handle_start(now_);
        }
        if (n.client) {
            if (wipe_store) n.store.clear();
            n.client = std::make_unique<roles::RoomClient>(n.client_cfg, n.id, roles_crypto(), rng_(), n.store.snapshot().rooms);
            n.client->handle_start(now_);
        }
        log(name, "restarted");
        pump(i);
    }

    // A room client leaves darkchat (\quit): what it says goes out, then it is down.
    void quit(const std::string& name) {
        auto i = index(name);
        nodes_[i]->client->handle_quit(now_);
        pump(i);
        kill(name);
    }

    void command(const std::string& name, const roles::RoomCommand& c) {
        auto i = index(name);
        nodes_[i]->client->handle_command(now_, c);
        pump(i);
    }

    // Hands raw bytes to a node as if they came from `from` (forged or malformed input).
    void inject(const std::string& to, const Addr& from, Bytes data) {
        schedule({now_, seq_++, index(to), Kind::packet, std::move(data), from, 0});
    }

    void run_until_time(TimeMs t) {
        while (!queue_.empty() && queue_.top().at <= t) step();
        now_ = std::max(now_, t);
    }
    void run_for(TimeMs d) { run_until_time(now_ + d); }
    // Runs until pred() holds (checked after every step) or max_ms pass; returns pred().
    bool run_until(const std::function<bool()>& pred, TimeMs max_ms) {
        const TimeMs end = now_ + max_ms;
        while (!pred()) {
            if (queue_.empty() || queue_.top().at > end) {
                now_ = std::max(now_, end);
                return pred();
            }
            step();
        }
        return true;
    }

    // Sees every packet put on a link (after loss): from, to, bytes.
    std::function<void(const Node&, const Node&, const Bytes&)> tap;

    std::uint64_t delivered() const { return delivered_; }
    std::uint64_t lost() const { return lost_; }

    // Crypto for every machine in this world (real libsodium).
    static core::Crypto& roles_crypto() { return core::real_crypto(); }

private:
    enum class Kind { packet, timer };
    struct Item {
        TimeMs at;
        std::uint64_t seq;
        std::size_t to;
        Kind kind;
        Bytes data;
        Addr from;
        std::uint64_t gen;
        bool operator>(const Item& o) const { return at != o.at ? at > o.at : seq > o.seq; }
    };

    Node& add(const std::string& name) {
        auto n = std::make_unique<Node>();
        n->name = name;
        const auto i = static_cast<std::uint8_t>(nodes_.size() + 1);
        n->addr = Addr::v4(10, 0, i / 250, static_cast<std::uint8_t>(i % 250 + 1), 7300);
        n->id = identity_for(name);
        nodes_.push_back(std::move(n));
        return *nodes_.back();
    }

    Link link(std::size_t a, std::size_t b) const {
        auto it = links_.find({a, b});
        return it == links_.end() ? default_ : it->second;
    }

    std::optional<std::size_t> by_addr(const Addr& a) const {
        for (std::size_t i = 0; i < nodes_.size(); ++i)
            if (nodes_[i]->addr == a) return i;
        return std::nullopt;
    }

    void schedule(Item it) { queue_.push(std::move(it)); }

    void kick(std::size_t i) {
        auto& n = *nodes_[i];
        ++n.timer_gen;
        schedule({now_, seq_++, i, Kind::timer, {}, {}, n.timer_gen});
    }

    void log(const std::string& who, const std::string& what) {
        if (verbose_) std::fprintf(stderr, "[%8lld] %-8s %s\n", static_cast<long long>(now_), who.c_str(), what.c_str());
    }

    // Drains a node's outputs after an input, in the core's order: store ops into its
    // store, transmits onto links, events into its log, and its next timer.
    void pump(std::size_t i) {
        auto& n = *nodes_[i];
        if (n.client && n.up)
            while (auto op = n.client->poll_store()) n.store.apply(*op);
        for (;;) {
            std::optional<core::Transmit> t;
            if (n.dir) t = n.dir->poll_transmit();
            else if (n.relay) t = n.relay->poll_transmit();
            else t = n.client->poll_transmit();
            if (!t) break;
            if (!n.up) continue;
            auto to = by_addr(t->to);
            if (!to) continue;
            const Link l = link(i, *to);
            if (l.loss > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < l.loss) {
                ++lost_;
                continue;
            }
            if (tap) tap(n, *nodes_[*to], t->data);
            const TimeMs jitter = l.jitter > 0 ? std::uniform_int_distribution<TimeMs>(0, l.jitter)(rng_) : 0;
            // As the real loop does: too big for a datagram (or asked for), it goes over
            // TCP and arrives from an ephemeral port, not the sender's listening one.
            Addr from = n.addr;
            if (t->stream || t->data.size() > wire::kMaxDatagram) from.port = static_cast<std::uint16_t>(40000 + seq_ % 20000);
            schedule({now_ + l.latency + jitter, seq_++, *to, Kind::packet, std::move(t->data), from, 0});
        }
        if (n.dir)
            while (auto e = n.dir->poll_event()) {
                log(n.name, roles::describe(*e));
                n.dir_events.emplace_back(now_, std::move(*e));
            }
        if (n.relay)
            while (auto e = n.relay->poll_event()) {
                log(n.name, roles::describe(*e));
                n.relay_events.emplace_back(now_, std::move(*e));
            }
        if (n.client)
            while (auto e = n.client->poll_event()) n.room_events.emplace_back(now_, std::move(*e));
        std::optional<TimeMs> next;
        if (n.dir) next = n.dir->poll_timeout();
        else if (n.relay) next = n.relay->poll_timeout();
        else next = n.client->poll_timeout();
        ++n.timer_gen;
        if (next && n.up) schedule({std::max(*next, now_ + (*next <= now_ ? 1 : 0)), seq_++, i, Kind::timer, {}, {}, n.timer_gen});
    }

    void step() {
        Item it = queue_.top();
        queue_.pop();
        now_ = std::max(now_, it.at);
        auto& n = *nodes_[it.to];
        if (!n.up) {
            if (it.kind == Kind::packet) ++lost_;
            return;
        }
        if (it.kind == Kind::timer) {
            if (it.gen != n.timer_gen) return;
            ++n.wakeups;
            if (n.dir) n.dir->handle_timeout(now_);
            else if (n.relay) n.relay->handle_timeout(now_);
            else n.client->handle_timeout(now_);
        } else {
            ++delivered_;
            ++n.received;
            if (n.dir) n.dir->handle_datagram(now_, it.from, it.data);
            else if (n.relay) n.relay->handle_datagram(now_, it.from, it.data);
            else n.client->handle_datagram(now_, it.from, it.data);
        }
        pump(it.to);
    }

    std::vector<std::unique_ptr<Node>> nodes_;
    std::map<std::pair<std::size_t, std::size_t>, Link> links_;
    std::priority_queue<Item, std::vector<Item>, std::greater<Item>> queue_;
    std::mt19937_64 rng_;
    Link default_;
    TimeMs now_ = 1'000'000;  // virtual time starts away from zero
    std::uint64_t seq_ = 0;
    std::uint64_t delivered_ = 0, lost_ = 0;
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
