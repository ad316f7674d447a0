// A small deterministic world for file machines (darkchat/files.hpp): stations with an
// in-memory disk and store, exchanging messages through an in-memory network seeded from
// one number, with random latency so that chunks overtake each other. It does what the
// driver will do: applies the part's file operations to the disk (answering reads at
// once), then its store records, keeps its events and sends its messages. A test may
// change or drop any message on its way (tamper), change the disk before a read is
// answered (before_read), and kill and restart a station from what it stored. Every loop
// is bounded. A station may be another device of another's user (same_user): the same
// keys, its own session; a message to a user reaches each of its stations (or the one
// session it names), as chat reaches each online session of a user.
#pragma once

#include "darkchat/crypto.hpp"
#include "darkchat/files.hpp"
#include "core/rng.hpp"
#include "support/seeded.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <tuple>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace dc::files::test {

using SeededCrypto = dc::seeded::Seeded<SodiumCrypto>;

// n bytes that differ from seed to seed, the same every run.
inline Bytes pattern(std::size_t n, std::uint8_t seed = 1) {
    Bytes b(n);
    std::uint32_t x = seed;
    for (auto& c : b) {
        x = x * 1103515245 + 12345;
        c = static_cast<std::uint8_t>(x >> 16);
    }
    return b;
}

class FilesNet {
public:
    struct Station {
        Self self;
        std::unique_ptr<SeededCrypto> crypto;
        std::unique_ptr<Machine> m;
        std::map<std::string, Bytes> disk;
        SessionId session{};
        std::map<std::tuple<Side, FileId, PublicKey, SessionId>, Bytes> store;
        std::unique_ptr<Peers> peers;
        std::vector<Event> events;           // everything it showed, across restarts
        std::vector<wire::FileMessage> sent;  // everything it sent, decoded
        std::size_t writes = 0;               // io::Write operations applied
        bool disk_full = false;               // every io::Write fails, as on a full disk
        bool alive = true;
        int boots = 0;
        std::vector<io::Open> held;           // io::Open not answered yet (opens_held)
    };
    struct Message {
        std::size_t from = 0, to = 0;
        Bytes bytes;
    };
    // Sees every message before it leaves; false drops it.
    std::function<bool(Message&)> tamper;
    // Called with every message as it reaches a live station (in arrival order).
    std::function<void(const Message&)> delivered;
    // Called before a read of station i is answered (to change what is on its disk).
    std::function<void(std::size_t, const io::Read&)> before_read;
    // The chunks a station hands out to open (io::Open) are answered after its messages,
    // at once in order; or (opens_held) held until it has 8 or no message is on its way to
    // it, then answered last first, as a pool of threads may.
    bool opens_held = false;
    std::size_t opens = 0;  // io::Open answered, all stations
    // The groups every station sees (station indices, the first the coordinator); a
    // station sees another online while it is alive.
    std::map<GroupId, std::vector<std::size_t>> groups;

    FilesNet(std::size_t n, std::uint64_t seed, Config config = {}) : config_(config), rng_(seed), seed_(seed) {
        (void)crypto::init();
        for (std::size_t i = 0; i < n; ++i) {
            Station s;
            const auto kp = dc::seeded::station_identity(seed, i);
            std::uint64_t x = seed * 1000003 + i + 1;
            for (auto& b : s.self.kx_sk) b = static_cast<std::uint8_t>(splitmix64(x));
            s.self.pk = kp.pk;
            s.self.sk = kp.sk;
            s.self.kx_pk = crypto::kx_public(s.self.kx_sk);
            s.session.fill(static_cast<std::uint8_t>(i + 1));
            st_.push_back(std::move(s));
            (void)boot(i);
        }
    }

    // Station i becomes another device of station of's user: its keys, its own session.
    void same_user(std::size_t i, std::size_t of) {
        st_[i].self = st_[of].self;
        (void)boot(i);
    }

    Station& at(std::size_t i) { return st_[i]; }
    Machine& m(std::size_t i) { return *st_[i].m; }
    const Self& self(std::size_t i) const { return st_[i].self; }
    TimeMs now() const { return now_; }

    // A signed manifest of data, made as the driver would: chunk by chunk.
    wire::SignedBlob manifest(std::size_t i, const std::string& name, const Bytes& data, std::uint32_t chunk) {
        ManifestBuilder b(*st_[i].crypto, name, data.size(), media_type_of(data), chunk);
        for (std::size_t at = 0; at < data.size(); at += chunk) {
            const std::size_t len = std::min<std::size_t>(chunk, data.size() - at);
            if (!b.add(ByteView(data).subspan(at, len))) return {};
        }
        auto blob = b.finish(st_[i].self);
        return blob ? *blob : wire::SignedBlob{};
    }

    // Station `from` offers data (put on its disk as path) to station `to`; the file id.
    FileId offer(std::size_t from, std::size_t to, const std::string& path, const Bytes& data,
                 std::uint32_t chunk = 1024) {
        st_[from].disk[path] = data;
        const auto blob = manifest(from, path, data, chunk);
        command(from, cmd::Offer{st_[to].self.pk, st_[to].self.kx_pk, blob, path, sessions_of(to)});
        auto m = wire::decode_file_manifest(blob.body);
        return m ? m->id : FileId{};
    }

    // The sessions of station i's user that are up (as the node knows those online).
    std::vector<SessionId> sessions_of(std::size_t i) const {
        std::vector<SessionId> v;
        for (const auto& s : st_)
            if (s.alive && s.self.pk == st_[i].self.pk) v.push_back(s.session);
        return v;
    }

    void command(std::size_t i, const Command& c) {
        if (!st_[i].alive) return;
        st_[i].m->handle_command(now_, c);
        drain(i);
    }

    void inject(std::size_t i, const PublicKey& from, const Bytes& bytes, const SessionId& session = {}) {
        if (!st_[i].alive) return;
        st_[i].m->handle_message(now_, from, bytes, session);
        drain(i);
    }

    // Runs until `until`, at most max_steps inputs.
    void run_until(TimeMs until, std::size_t max_steps = 1'000'000) {
        dc::seeded::run_world(
            st_, queue_, now_, until, max_steps,
            [&](std::size_t i) {
                st_[i].m->handle_timeout(now_);
                drain(i);
            },
            [&](Message& msg) {
                if (!st_[msg.to].alive) return;
                if (delivered) delivered(msg);
                inject(msg.to, st_[msg.from].self.pk, msg.bytes, st_[msg.from].session);
            });
    }
    void run_for(TimeMs d) { run_until(now_ + d); }
    // Delivers at most n more messages or timers.
    void steps(std::size_t n) { run_until(now_ + 3'600'000, n); }

    // kill -9: the machine and every message to or from it are gone; disk and store stay.
    void kill(std::size_t i) {
        st_[i].alive = false;
        st_[i].m.reset();
        st_[i].held.clear();
        std::erase_if(queue_, [&](const auto& q) { return q.second.from == i || q.second.to == i; });
    }
    // A new machine from what the station stored; false when a record did not restore.
    bool restart(std::size_t i) {
        st_[i].alive = true;
        const bool ok = boot(i);
        st_[i].m->handle_timeout(now_);
        drain(i);
        return ok;
    }

    template <typename T>
    std::vector<T> events_of(std::size_t i) const {
        std::vector<T> out;
        for (const auto& e : st_[i].events)
            if (auto* v = std::get_if<T>(&e)) out.push_back(*v);
        return out;
    }
    template <typename T>
    std::vector<T> sent_of(std::size_t i) const {
        std::vector<T> out;
        for (const auto& e : st_[i].sent)
            if (auto* v = std::get_if<T>(&e)) out.push_back(*v);
        return out;
    }

private:
    bool boot(std::size_t i) {
        Station& s = st_[i];
        s.crypto = std::make_unique<SeededCrypto>(seed_ * 7919 + i * 104729 + static_cast<std::uint64_t>(s.boots++));
        s.peers = std::make_unique<NetPeers>(*this);
        s.m = std::make_unique<Machine>(config_, s.self, *s.crypto, s.peers.get());
        bool ok = true;
        for (const auto& [k, state] : s.store) ok = s.m->restore(state) && ok;
        return ok;
    }

    struct NetPeers final : Peers {
        explicit NetPeers(FilesNet& n) : net(n) {}
        std::vector<PublicKey> members(const GroupId& g) override {
            std::vector<PublicKey> out;
            if (auto it = net.groups.find(g); it != net.groups.end())
                for (std::size_t i : it->second) out.push_back(net.st_[i].self.pk);
            return out;
        }
        std::optional<KxPublicKey> kx_of(const PublicKey& pk) override {
            const std::size_t i = net.index_of(pk);
            if (i >= net.st_.size()) return std::nullopt;
            return net.st_[i].self.kx_pk;
        }
        bool online(const GroupId&, const PublicKey& pk) override {
            const std::size_t i = net.index_of(pk);
            return i < net.st_.size() && net.st_[i].alive;
        }
        FilesNet& net;
    };

    std::size_t index_of(const PublicKey& pk) const {
        for (std::size_t i = 0; i < st_.size(); ++i)
            if (st_[i].self.pk == pk) return i;
        return st_.size();
    }

    void apply(std::size_t i, IoOp& op, std::vector<io::Read>& reads, std::vector<io::Open>& to_open) {
        Station& s = st_[i];
        if (auto* o = std::get_if<io::Open>(&op)) return to_open.push_back(std::move(*o));
        if (auto* w = std::get_if<io::Write>(&op)) {
            if (s.disk_full) return s.m->handle_write_failed(now_, w->id, w->index);
            ++s.writes;
            Bytes& f = s.disk[w->path];
            if (f.size() < w->offset + w->bytes.size()) f.resize(w->offset + w->bytes.size());
            std::copy(w->bytes.begin(), w->bytes.end(), f.begin() + static_cast<std::ptrdiff_t>(w->offset));
        } else if (auto* r = std::get_if<io::Read>(&op)) {
            reads.push_back(*r);
        } else if (auto* f = std::get_if<io::Finish>(&op)) {
            auto it = s.disk.find(f->path);
            if (it == s.disk.end()) return;
            s.disk[f->final_path] = std::move(it->second);
            s.disk.erase(f->path);
        } else if (auto* d = std::get_if<io::Remove>(&op)) {
            s.disk.erase(d->path);
        }
    }

    // The driver's turn: file operations, store, events, messages; then the reads it
    // was asked for, answered (which may start another turn). Bounded.
    void drain(std::size_t i) {
        for (int turn = 0; turn < 100000; ++turn) {
            Station& s = st_[i];
            std::vector<io::Read> reads;
            std::vector<io::Open>& to_open = s.held;
            while (auto op = s.m->poll_io()) apply(i, *op, reads, to_open);
            while (auto r = s.m->poll_store()) {
                if (r->state.empty()) s.store.erase({r->side, r->id, r->peer, r->session});
                else s.store[{r->side, r->id, r->peer, r->session}] = r->state;
            }
            while (auto e = s.m->poll_event()) s.events.push_back(std::move(*e));
            while (auto o = s.m->poll_message()) {
                if (auto d = wire::decode_file(o->bytes)) s.sent.push_back(*d);
                for (std::size_t j = 0; j < st_.size(); ++j) {
                    if (j == i || st_[j].self.pk != o->to) continue;
                    if (o->session != SessionId{} && st_[j].session != o->session) continue;
                    Message msg{i, j, o->bytes};
                    if (tamper && !tamper(msg)) continue;
                    const TimeMs at = now_ + rng_.between(1, 30);
                    queue_.emplace(std::make_pair(at, order_++), std::move(msg));
                }
            }
            const bool hold = opens_held && to_open.size() < 8 && on_its_way_to(i);
            if (reads.empty() && (to_open.empty() || hold)) return;
            if (opens_held) std::reverse(to_open.begin(), to_open.end());
            for (const auto& o : std::exchange(to_open, {})) {
                Bytes plain;
                const Opened r = open_chunk(*s.crypto, o, plain);
                ++opens;
                s.m->handle_opened(now_, o.id, o.index, r, std::move(plain));
            }
            for (const auto& r : reads) {
                if (before_read) before_read(i, r);
                auto it = s.disk.find(r.path);
                if (it == s.disk.end() || it->second.size() < r.offset + r.length) {
                    s.m->handle_read_failed(now_, r.id, r.side, "no such bytes", r.peer, r.session);
                    continue;
                }
                const ByteView bytes = ByteView(it->second).subspan(r.offset, r.length);
                s.m->handle_read(now_, r.id, r.side, r.index, bytes, r.peer, r.session);
            }
        }
    }

    bool on_its_way_to(std::size_t i) const {
        return std::any_of(queue_.begin(), queue_.end(), [&](const auto& q) { return q.second.to == i; });
    }

    Config config_;
    Rng rng_;
    std::uint64_t seed_;
    std::vector<Station> st_;
    std::map<std::pair<TimeMs, std::uint64_t>, Message> queue_;
    std::uint64_t order_ = 0;
    TimeMs now_ = 0;
};

}  // namespace dc::files::test
