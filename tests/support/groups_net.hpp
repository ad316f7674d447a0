// A small deterministic world for group machines (darkchat/groups.hpp): N members
// exchanging messages through an in-memory network seeded from one number. It models
// the transport the node will give the machine: reliable and FIFO per pair while both
// ends live (a lost packet costs a retransmission's delay, not the message), random
// latency per message (so messages of different pairs overtake each other), duplicates,
// messages dropped when an end dies or a partition cuts the pair, and a liveness
// detector that reports lost and back after a delay. Every loop is bounded.
#pragma once

#include "darkchat/crypto.hpp"
#include "darkchat/groups.hpp"
#include "core/rng.hpp"
#include "support/seeded.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace dc::groups::test {

using SeededCrypto = dc::seeded::Seeded<SodiumCrypto>;

struct NetConfig {
    TimeMs min_latency = 2, max_latency = 40;
    double loss = 0.0;        // chance that a packet is lost and retransmitted once more
    TimeMs retransmit = 200;  // what each retransmission adds
    double duplicate = 0.0;   // chance that a message arrives twice
    double drop = 0.0;        // chance that a message is lost outright (beyond the transport's promise)
    TimeMs detect = 300;      // the liveness detector's delay for lost and back
};

class GroupsNet {
public:
    struct Station {
        Self self;
        std::unique_ptr<SeededCrypto> crypto;
        std::unique_ptr<Machine> m;
        std::map<GroupId, Bytes> store;
        std::vector<Event> events;  // everything it showed, across restarts
        std::deque<std::pair<std::size_t, Bytes>> recent;  // last messages it received
        bool alive = true;
        int side = 0;  // stations on different sides of a partition do not reach each other
        int boots = 0;
    };

    GroupsNet(std::size_t n, std::uint64_t seed, NetConfig net = {}, Config config = {})
        : net_(net), config_(config), rng_(seed), seed_(seed) {
        init_crypto();
        for (std::size_t i = 0; i < n; ++i) {
            Station s;
            const auto kp = dc::seeded::station_identity(seed, i);
            s.self = Self{"u" + std::to_string(i), kp.pk, kp.sk};
            st_.push_back(std::move(s));
            boot(i);
        }
    }

    static void init_crypto() { (void)crypto::init(); }

    std::size_t size() const { return st_.size(); }
    Station& at(std::size_t i) { return st_[i]; }
    Machine& m(std::size_t i) { return *st_[i].m; }
    const PublicKey& pk(std::size_t i) const { return st_[i].self.pk; }
    const std::string& name(std::size_t i) const { return st_[i].self.name; }
    TimeMs now() const { return now_; }
    std::size_t index_of(const PublicKey& pk) const {
        for (std::size_t i = 0; i < st_.size(); ++i)
            if (st_[i].self.pk == pk) return i;
        return st_.size();
    }

    void command(std::size_t i, const Command& c) {
        if (!st_[i].alive) return;
        st_[i].m->handle_command(now_, c);
        drain(i);
    }

    // Hands bytes to station i as if they came from `from` (forgeries, replays).
    // via_room: as if it came through the group's room (its tag checked by the room).
    void inject(std::size_t i, const PublicKey& from, const Bytes& bytes, bool via_room = false) {
        st_[i].m->handle_message(now_, from, bytes, via_room);
        drain(i);
    }

    // Runs until `until`, at most max_steps inputs.
    void run_until(TimeMs until, std::size_t max_steps = 5'000'000) {
        dc::seeded::run_world(
            st_, queue_, now_, until, max_steps,
            [&](std::size_t i) {
                st_[i].m->handle_timeout(now_);
                drain(i);
            },
            [&](Item& item) { deliver(item); });
    }
    void run_for(TimeMs d) { run_until(now_ + d); }

    // kill -9: what was in flight to or from it is gone; the others learn it is lost.
    void kill(std::size_t i) {
        Station& s = st_[i];
        if (!s.alive) return;
        s.alive = false;
        s.m.reset();
        std::erase_if(queue_, [&](const auto& q) {
            return q.second.kind == Item::message && (q.second.from == i || q.second.to == i);
        });
        for (std::size_t j = 0; j < st_.size(); ++j)
            if (j != i) schedule_liveness(j, i, false);
    }

    // Starts it again from its store; the transport then repeats what it last received.
    void restart(std::size_t i) {
        Station& s = st_[i];
        if (s.alive) return;
        boot(i);
        for (std::size_t j = 0; j < st_.size(); ++j)
            if (j != i && st_[j].alive && st_[j].side == s.side) {
                schedule_liveness(j, i, true);
                schedule_liveness(i, j, true);
            }
        for (const auto& [from, bytes] : s.recent) push(from, i, bytes, now_ + 1);
    }

    // The stations in `side_b` stop reaching the others (and they it).
    void partition(const std::set<std::size_t>& side_b) {
        for (std::size_t i = 0; i < st_.size(); ++i) st_[i].side = side_b.count(i) ? 1 : 0;
        std::erase_if(queue_, [&](const auto& q) {
            return q.second.kind == Item::message && st_[q.second.from].side != st_[q.second.to].side;
        });
        for (std::size_t i = 0; i < st_.size(); ++i)
            for (std::size_t j = 0; j < st_.size(); ++j)
                if (i != j && st_[i].side != st_[j].side) schedule_liveness(i, j, false);
    }

    void heal() {
        std::vector<std::pair<std::size_t, std::size_t>> across;
        for (std::size_t i = 0; i < st_.size(); ++i)
            for (std::size_t j = 0; j < st_.size(); ++j)
                if (i != j && st_[i].side != st_[j].side) across.emplace_back(i, j);
        for (auto& s : st_) s.side = 0;
        for (auto [i, j] : across) schedule_liveness(i, j, true);
    }

    // The next message from one station to another is lost (as in a crash of the transport).
    void drop_next(std::size_t from, std::size_t to) { drops_.insert({from, to}); }

    NetConfig& net() { return net_; }
    std::uint64_t seed() const { return seed_; }
    Rng& rng() { return rng_; }
    std::uint64_t messages() const { return messages_; }

private:
    struct Item {
        enum Kind { message, lost, back } kind = message;
        std::size_t from = 0, to = 0;
        Bytes bytes;
    };

    void boot(std::size_t i) {
        Station& s = st_[i];
        s.crypto = std::make_unique<SeededCrypto>(mix64(seed_ ^ (i * 7919 + 1) ^ (std::uint64_t(s.boots) << 40)));
        s.m = std::make_unique<Machine>(config_, s.self, *s.crypto);
        for (const auto& [id, bytes] : s.store) (void)s.m->restore(id, bytes);
        s.alive = true;
        ++s.boots;
    }

    void schedule_liveness(std::size_t at, std::size_t about, bool back) {
        Item it;
        it.kind = back ? Item::back : Item::lost;
        it.from = about;
        it.to = at;
        queue_.emplace(std::make_pair(now_ + net_.detect, order_++), std::move(it));
    }

    void push(std::size_t from, std::size_t to, const Bytes& bytes, TimeMs at) {
        TimeMs& last = last_[{from, to}];
        at = std::max(at, last);  // FIFO per pair
        last = at;
        Item it;
        it.from = from;
        it.to = to;
        it.bytes = bytes;
        queue_.emplace(std::make_pair(at, order_++), std::move(it));
    }

    void deliver(const Item& item) {
        Station& to = st_[item.to];
        if (!to.alive) return;
        if (item.kind == Item::lost) {
            to.m->handle_lost(now_, st_[item.from].self.pk);
        } else if (item.kind == Item::back) {
            const Station& about = st_[item.from];
            if (!about.alive || about.side != to.side) return;
            to.m->handle_back(now_, about.self.pk);
        } else {
            if (!st_[item.from].alive || st_[item.from].side != to.side) return;
            to.recent.emplace_back(item.from, item.bytes);
            if (to.recent.size() > 4) to.recent.pop_front();
            ++messages_;
            to.m->handle_message(now_, st_[item.from].self.pk, item.bytes);
        }
        drain(item.to);
    }

    void drain(std::size_t i) {
        Station& s = st_[i];
        while (auto r = s.m->poll_store()) {
            if (r->state.empty()) s.store.erase(r->group);
            else s.store[r->group] = r->state;
        }
        while (auto e = s.m->poll_event()) s.events.push_back(std::move(*e));
        while (auto o = s.m->poll_message()) {
            const std::size_t to = index_of(o->to);
            if (to == st_.size() || !st_[to].alive || st_[to].side != s.side) continue;
            if (drops_.erase({i, to})) continue;
            if (rng_.chance(net_.drop)) continue;
            TimeMs lat = net_.min_latency +
                         static_cast<TimeMs>(rng_.below(static_cast<std::uint64_t>(net_.max_latency - net_.min_latency + 1)));
            for (int k = 0; k < 8 && rng_.unit() < net_.loss; ++k) lat += net_.retransmit;
            push(i, to, o->bytes, now_ + lat);
            if (rng_.unit() < net_.duplicate) push(i, to, o->bytes, now_ + lat);
        }
    }

    NetConfig net_;
    Config config_;
    Rng rng_;
    std::uint64_t seed_;
    TimeMs now_ = 0;
    std::vector<Station> st_;
    std::multimap<std::pair<TimeMs, std::uint64_t>, Item> queue_;
    std::map<std::pair<std::size_t, std::size_t>, TimeMs> last_;
    std::set<std::pair<std::size_t, std::size_t>> drops_;
    std::uint64_t order_ = 0;
    std::uint64_t messages_ = 0;
};

}  // namespace dc::groups::test
