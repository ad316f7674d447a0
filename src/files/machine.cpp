// The transfer machine: offers and answers, the receiver's window of chunks asked for,
// each chunk checked on its own before it is written, the first chunk read back at the end,
// records to resume from.

#include "darkchat/files.hpp"

#include "core/queue.hpp"

#include <algorithm>
#include <bit>
#include <deque>
#include <limits>
#include <map>
#include <set>
#include <string_view>

namespace dc::files {

namespace {

constexpr std::string_view kChunkContext = "darkchat file chunk";
constexpr TimeMs kNever = std::numeric_limits<TimeMs>::max();
constexpr int kFindAsks = 10;  // an ask by name no member answered is given up after this many rounds

// "darkchat file chunk" || id || index (8 bytes, little endian)
Bytes chunk_ad(const FileId& id, std::uint32_t index) {
    Bytes ad(kChunkContext.size() + id.size() + 8);
    auto at = std::copy(kChunkContext.begin(), kChunkContext.end(), ad.begin());
    at = std::copy(id.begin(), id.end(), at);
    for (int i = 0; i < 8; ++i) *at++ = static_cast<std::uint8_t>(std::uint64_t{index} >> (8 * i));
    return ad;
}

// A transfer's place: one per file and side, and on the sending side of a file served
// to a group's members one per member (peer); peer is all zero otherwise.
struct Key {
    Side side = Side::sending;
    FileId id{};
    PublicKey peer{};
    auto operator<=>(const Key&) const = default;
};

bool zero(const GroupId& g) { return g == GroupId{}; }

struct Transfer {
    Side side = Side::sending;
    Phase phase = Phase::offered;
    wire::SignedBlob blob;
    Manifest m;
    FileKey key{};
    PublicKey peer{};
    std::string path;
    std::string final_path;
    Bytes sealed;
    std::uint64_t chunks = 0;

    // receiving
    Bytes have;
    std::uint64_t have_count = 0;
    std::map<std::uint32_t, TimeMs> asked;  // index -> when it is asked again
    std::set<std::uint32_t> again;          // asked before and not here: ask again
    std::uint32_t cursor = 0;               // every chunk below it is had, asked or in again
    std::size_t since_store = 0;
    bool unsynced = false;                  // written since the last io::Sync
    TimeMs stalled_until = 0;               // a write failed: nothing is asked for before then
    bool kick = false;                      // restored: go on at the next timeout
    std::optional<Image> image;

    // sending
    std::set<std::uint32_t> reading;
    TimeMs offer_due = kNever;
    int offer_tries = 0;

    // shared in a group (all zero between two)
    GroupId group{};
    TimeMs ask_due = kNever;   // receiving, asking: when to ask again
    int asks = 0;              // receiving: fileAsks sent since the last holder answered
    TimeMs heard = 0;          // receiving in a group: the last chunk from the holder

    Key place(const FileId& id) const {
        return {side, id, side == Side::sending && !zero(group) ? peer : PublicKey{}};
    }

    bool has(std::uint32_t i) const { return have[i / 8] >> (i % 8) & 1; }
    void set(std::uint32_t i) { have[i / 8] = static_cast<std::uint8_t>(have[i / 8] | 1u << (i % 8)); }
    void clear(std::uint32_t i) { have[i / 8] = static_cast<std::uint8_t>(have[i / 8] & ~(1u << (i % 8))); }
    std::uint64_t offset(std::uint32_t i) const { return std::uint64_t{i} * m.chunk_size; }
    std::uint32_t length(std::uint32_t i) const {
        return static_cast<std::uint32_t>(std::min<std::uint64_t>(m.chunk_size, m.size - offset(i)));
    }
    bool matches(std::uint32_t i, ByteView plain, Crypto& crypto) const {
        if (plain.size() != length(i)) return false;
        auto h = crypto.hasher();
        h->update(plain);
        const Hash got = h->finish();
        return std::equal(got.begin(), got.end(), m.chunk_hashes.begin() + std::ptrdiff_t{i} * 32);
    }
};



}  // namespace

// A file a member shared with a group we are in, not taken yet.
struct Announced {
    GroupId group{};
    wire::SignedBlob blob;
    Manifest m;
    PublicKey from{};
};

// An ask by name, waiting for a member's offer.
struct Find {
    std::string partial_path;
    std::string final_path;
    TimeMs due = 0;
    int asks = 0;
};

struct Machine::State {
    Config cfg;
    Self self;
    Crypto& crypto;
    Peers* peers;
    std::map<Key, Transfer> transfers;
    std::map<FileId, Announced> announced;
    std::deque<FileId> announced_order;  // oldest first, to keep at most max_announced
    std::map<std::pair<GroupId, std::string>, Find> finds;
    std::deque<IoOp> io;
    std::deque<StoreRecord> store;
    std::deque<Event> events;
    std::deque<Outgoing> out;
    Stats stats;

    State(Config c, Self s, Crypto& cr, Peers* p) : cfg(c), self(s), crypto(cr), peers(p) {}

    void send(const PublicKey& to, const wire::FileMessage& m) { out.push_back({to, wire::encode_file(m)}); }

    void save(const FileId& id, Transfer& t) {
        // The record counts chunks written: their bytes are on disk first.
        if (t.unsynced) io.push_back(io::Sync{id, t.path});
        t.unsynced = false;
        wire::FileState s{t.blob, t.key, static_cast<std::uint8_t>(t.side), static_cast<std::uint8_t>(t.phase),
                          t.peer, t.path, t.final_path, t.have, t.sealed, t.group};
        const Key k = t.place(id);
        store.push_back({id, t.side, k.peer, wire::encode(s)});
        t.since_store = 0;
    }

    void forget(const Key& k) {
        store.push_back({k.id, k.side, k.peer, {}});
        transfers.erase(k);
    }

    // The transfer of id on side whose peer is from: a member's own place on the
    // sending side of a group's file, else the file's one place.
    Transfer* find(Side side, const FileId& id, const PublicKey& from) {
        auto it = transfers.find({side, id, from});
        if (it == transfers.end()) it = transfers.find({side, id, {}});
        if (it == transfers.end() || it->second.peer != from) {
            ++stats.refused;
            return nullptr;
        }
        return &it->second;
    }

    Transfer* at(Side side, const FileId& id) {
        auto it = transfers.find({side, id, {}});
        return it == transfers.end() ? nullptr : &it->second;
    }

    std::vector<PublicKey> members(const GroupId& g) {
        if (!peers || zero(g)) return {};
        return peers->members(g);
    }
    bool member(const GroupId& g, const PublicKey& pk) {
        auto ms = members(g);
        return std::find(ms.begin(), ms.end(), pk) != ms.end();
    }

    // ---- receiving

    // Tops the window up once half of it (or a chunk to ask again) is free, so that a
    // fileWant names many chunks rather than one per chunk that came.
    void fill(TimeMs now, const FileId& id, Transfer& t) {
        if (t.phase != Phase::transferring || now < t.stalled_until) return;
        if (t.again.empty() && t.asked.size() > cfg.window / 2) return;
        std::vector<std::uint32_t> ask;
        while (t.asked.size() < cfg.window && ask.size() < wire::kMaxFileWant) {
            std::uint32_t i = 0;
            if (!t.again.empty()) {
                i = *t.again.begin();
                t.again.erase(t.again.begin());
            } else {
                while (t.cursor < t.chunks && t.has(t.cursor)) ++t.cursor;
                if (t.cursor >= t.chunks) break;
                i = t.cursor++;
            }
            if (t.has(i) || t.asked.contains(i)) continue;
            t.asked[i] = now + cfg.request_timeout;
            ask.push_back(i);
        }
        if (!ask.empty()) send(t.peer, wire::FileWant{id, std::move(ask)});
    }

    void bad_chunk(TimeMs now, const FileId& id, Transfer& t, std::uint32_t index) {
        ++stats.bad_chunks;
        if (t.asked.erase(index) == 0) return;  // not asked for: nothing to ask again
        t.again.insert(index);
        fill(now, id, t);
    }

    void on_offer(TimeMs now, const PublicKey& from, const wire::FileOffer& o) {
        auto m = open_manifest(crypto, o.manifest, wire::kMaxFileSize);
        if (!m) {
            ++stats.malformed;
            events.push_back(ev::Refused{from, m.error()});
            return;
        }
        if (!zero(o.group)) return on_group_offer(now, from, o, std::move(*m));
        if (m->sender != from) {
            ++stats.refused;
            events.push_back(ev::Refused{from, "an offer signed by someone else"});
            return;
        }
        if (at(Side::receiving, m->id)) return;  // offered again: the user decides once
        if (too_large(from, *m)) {
            send(from, wire::FileAnswer{m->id, false});
            return;
        }
        auto key = crypto.open(o.key, self.kx_pk, self.kx_sk);
        if (!key || key->size() != sizeof(FileKey)) {
            ++stats.refused;
            events.push_back(ev::Refused{from, "the key of '" + m->name + "' does not open"});
            return;
        }
        if (transfers.size() >= cfg.max_transfers) {
            ++stats.refused;
            events.push_back(ev::Refused{from, "too many transfers at once"});
            return;
        }
        Transfer t;
        t.side = Side::receiving;
        t.blob = o.manifest;
        t.m = std::move(*m);
        std::copy(key->begin(), key->end(), t.key.begin());
        t.peer = from;
        t.chunks = wire::file_chunks(t.m.size, t.m.chunk_size);
        events.push_back(ev::Offered{t.m.id, from, t.m.name, t.m.size, t.m.media_type});
        transfers.emplace(Key{Side::receiving, t.m.id, {}}, std::move(t));
    }

    bool too_large(const PublicKey& from, const Manifest& m) {
        if (m.size <= cfg.max_size) return false;
        events.push_back(ev::Refused{from, "'" + m.name + "' is " + std::to_string(m.size) +
                                               " bytes, above the limit of " + std::to_string(cfg.max_size)});
        return true;
    }

    bool usable(const FileId& id, const std::string& partial, const std::string& final_path) {
        if (!partial.empty() && !final_path.empty() && partial.size() <= wire::kMaxFilePath &&
            final_path.size() <= wire::kMaxFilePath)
            return true;
        events.push_back(ev::Failed{id, "no usable path"});
        return false;
    }

    // ---- files shared in groups, receiving

    // A receiving transfer of a group's file, asking its members before chunks move.
    Transfer& take(const Key& k, const wire::SignedBlob& blob, Manifest m, const GroupId& group,
                   const std::string& partial, const std::string& final_path) {
        Transfer t;
        t.side = Side::receiving;
        t.phase = Phase::asking;
        t.blob = blob;
        t.m = std::move(m);
        t.group = group;
        t.path = partial;
        t.final_path = final_path;
        t.chunks = wire::file_chunks(t.m.size, t.m.chunk_size);
        t.have.assign((t.chunks + 7) / 8, 0);
        return transfers.insert_or_assign(k, std::move(t)).first->second;
    }

    // Asks the members online for the file: its author first, then every other.
    void ask(TimeMs now, const FileId& id, Transfer& t) {
        auto ms = members(t.group);
        if (std::find(ms.begin(), ms.end(), self.pk) == ms.end()) {
            events.push_back(ev::Failed{id, "'" + t.m.name + "': not a member of its group any more"});
            io.push_back(io::Remove{id, t.path});
            return forget(t.place(id));
        }
        const bool author = t.asks == 0 && t.m.sender != self.pk &&
                            std::find(ms.begin(), ms.end(), t.m.sender) != ms.end() && peers->online(t.m.sender);
        for (const auto& pk : ms)
            if (pk != self.pk && (author ? pk == t.m.sender : peers->online(pk)))
                send(pk, wire::FileAsk{t.group, id, {}});
        ++t.asks;
        t.ask_due = now + cfg.ask_retry * std::min(t.asks, 10);
    }

    // The holder went quiet or stopped: the chunks stay, another member is asked.
    void reask(TimeMs now, const FileId& id, Transfer& t) {
        if (t.phase == Phase::transferring) send(t.peer, wire::FileCancel{id});
        t.phase = Phase::asking;
        t.peer = {};
        t.key = {};
        for (const auto& [i, due] : t.asked) t.again.insert(i);
        t.asked.clear();
        t.asks = std::max(t.asks, 1);  // every member this time
        save(id, t);
        ask(now, id, t);
    }

    void on_share(const PublicKey& from, const wire::FileShare& sh) {
        auto m = open_manifest(crypto, sh.manifest, wire::kMaxFileSize);
        if (!m) {
            ++stats.malformed;
            events.push_back(ev::Refused{from, m.error()});
            return;
        }
        if (m->sender != from || !member(sh.group, from) || !member(sh.group, self.pk)) {
            ++stats.refused;
            return;
        }
        if (at(Side::receiving, m->id) || at(Side::holding, m->id) || announced.contains(m->id)) return;  // told again
        if (too_large(from, *m)) return;
        if (announced.size() >= cfg.max_announced) {
            announced.erase(announced_order.front());
            announced_order.pop_front();
        }
        events.push_back(ev::Announced{m->id, sh.group, from, m->name, m->size, m->media_type});
        announced_order.push_back(m->id);
        const FileId id = m->id;
        announced.emplace(id, Announced{sh.group, sh.manifest, std::move(*m), from});
    }

    // A member's answer to our fileAsk, taken without asking the user again (they
    // accepted the file, or asked for it by name).
    void on_group_offer(TimeMs now, const PublicKey& from, const wire::FileOffer& o, Manifest m) {
        const FileId id = m.id;
        if (!member(o.group, from) || !member(o.group, self.pk)) {
            ++stats.refused;
            return;
        }
        Transfer* t = at(Side::receiving, id);
        if (!t) {
            auto f = finds.find({o.group, m.name});
            if (f == finds.end() || too_large(from, m) || transfers.size() >= cfg.max_transfers) {
                ++stats.refused;
                send(from, wire::FileAnswer{id, false});
                return;
            }
            t = &take({Side::receiving, id, {}}, o.manifest, std::move(m), o.group, f->second.partial_path,
                      f->second.final_path);
            finds.erase(f);
        }
        if (t->group != o.group || t->blob != o.manifest || t->phase != Phase::asking) {
            if (t->peer != from) send(from, wire::FileAnswer{id, false});  // another member serves it
            return;
        }
        auto key = crypto.open(o.key, self.kx_pk, self.kx_sk);
        if (!key || key->size() != sizeof(FileKey)) {
            ++stats.refused;
            return;
        }
        std::copy(key->begin(), key->end(), t->key.begin());
        t->peer = from;
        t->phase = Phase::transferring;
        t->asks = 0;
        t->ask_due = kNever;
        t->heard = now;
        send(from, wire::FileAnswer{id, true});
        if (t->chunks == 0) {
            io.push_back(io::Write{id, t->path, 0, {}});
            return start_verify(id, *t);
        }
        save(id, *t);
        fill(now, id, *t);
    }

    // ---- files shared in groups, holding and serving

    std::size_t held() const {
        std::size_t n = 0;
        for (const auto& [k, t] : transfers) n += k.side == Side::holding;
        return n;
    }

    bool hold(const FileId& id, const Transfer& from, const std::string& path) {
        if (held() >= cfg.max_held) return false;
        Transfer h;
        h.side = Side::holding;
        h.phase = Phase::transferring;
        h.blob = from.blob;
        h.m = from.m;
        h.group = from.group;
        h.path = path;
        h.chunks = from.chunks;
        save(id, transfers.insert_or_assign(Key{Side::holding, id, {}}, std::move(h)).first->second);
        return true;
    }

    void on_ask(TimeMs now, const PublicKey& from, const wire::FileAsk& a) {
        if (!member(a.group, from) || !member(a.group, self.pk)) {
            ++stats.refused;
            return;
        }
        const Transfer* h = nullptr;
        FileId id = a.id;
        for (const auto& [k, t] : transfers)
            if (k.side == Side::holding && t.group == a.group &&
                (a.id == FileId{} ? t.m.name == a.name : k.id == a.id)) {
                h = &t;
                id = k.id;
            }
        if (!h) return;  // not held here: another member may
        const Key k{Side::sending, id, from};
        if (auto it = transfers.find(k); it != transfers.end()) {
            if (it->second.phase == Phase::offered) offer(now, it->second);
            return;
        }
        auto kx = peers->kx_of(from);
        if (!kx || transfers.size() >= cfg.max_transfers) {
            ++stats.refused;
            return;
        }
        Transfer t;
        t.side = Side::sending;
        t.blob = h->blob;
        t.m = h->m;
        t.group = h->group;
        t.path = h->path;
        t.chunks = h->chunks;
        crypto.random(t.key);
        t.sealed = crypto.seal(t.key, *kx);
        t.peer = from;
        Transfer& held = transfers.emplace(k, std::move(t)).first->second;
        save(id, held);
        offer(now, held);
    }

    void on_chunk(TimeMs now, const wire::FileChunk& c) {
        auto it = transfers.find({Side::receiving, c.id, {}});
        if (it == transfers.end() || it->second.phase != Phase::transferring) {
            ++stats.refused;
            return;
        }
        Transfer& t = it->second;
        if (c.index >= t.chunks) {
            ++stats.refused;
            return;
        }
        if (t.has(c.index)) {
            ++stats.duplicate;
            return;
        }
        const std::uint32_t len = t.length(c.index);
        if (c.data.size() != len + wire::kFileChunkTag) return bad_chunk(now, c.id, t, c.index);
        Bytes plain(len);
        if (!crypto.aead_open(plain.data(), c.data, chunk_ad(c.id, c.index), c.index, t.key) ||
            !t.matches(c.index, plain, crypto))
            return bad_chunk(now, c.id, t, c.index);
        t.set(c.index);
        ++t.have_count;
        t.heard = now;
        t.asked.erase(c.index);
        t.again.erase(c.index);
        io.push_back(io::Write{c.id, t.path, t.offset(c.index), std::move(plain), c.index});
        t.unsynced = true;
        if (t.have_count == t.chunks) return start_verify(c.id, t);
        if (++t.since_store >= cfg.store_every) save(c.id, t);
        fill(now, c.id, t);
    }

    // Every chunk matched its hash before it was written, and the manifest's whole hash
    // is the hash of those (open_manifest): the file is the one offered. Only the first
    // chunk is read back, to see that the disk kept it and whether it is an image.
    void start_verify(const FileId& id, Transfer& t) {
        t.phase = Phase::verifying;
        t.asked.clear();
        t.again.clear();
        t.image.reset();
        save(id, t);
        if (t.chunks == 0) return complete(id, t);
        io.push_back(io::Read{id, Side::receiving, t.path, 0, 0, t.length(0)});
    }

    void complete(const FileId& id, Transfer& t) {
        const Key k{Side::receiving, id, {}};
        io.push_back(io::Finish{id, t.path, t.final_path});
        events.push_back(ev::Completed{id, t.peer, t.final_path, t.m.size, t.image});
        send(t.peer, wire::FileDone{id, true});
        // A group's file: now one more member serves it to the others.
        if (!zero(t.group)) {
            const Transfer done = std::move(t);
            forget(k);
            hold(id, done, done.final_path);
            return;
        }
        forget(k);
    }

    void verified_chunk(TimeMs now, const FileId& id, Transfer& t, std::uint32_t index, ByteView bytes) {
        if (t.phase != Phase::verifying || index != 0) return;
        if (!t.matches(index, bytes, crypto)) {  // the disk lost it: fetch it again
            ++stats.bad_chunks;
            t.clear(index);
            --t.have_count;
            t.phase = Phase::transferring;
            t.again.insert(index);
            save(id, t);
            fill(now, id, t);
            return;
        }
        t.image = sniff_image(bytes);
        complete(id, t);
    }

    // ---- sending

    void offer(TimeMs now, Transfer& t) {
        send(t.peer, wire::FileOffer{t.blob, t.sealed, t.group});
        ++t.offer_tries;
        t.offer_due = t.offer_tries < cfg.offer_attempts ? now + cfg.offer_retry : kNever;
    }

    void accepted(const FileId& id, Transfer& t) {
        if (t.phase != Phase::offered) return;
        t.phase = Phase::transferring;
        t.offer_due = kNever;
        events.push_back(ev::Accepted{id, t.peer});
        save(id, t);
    }

    void on_want(const PublicKey& from, const wire::FileWant& w) {
        Transfer* t = find(Side::sending, w.id, from);
        if (!t) return;
        accepted(w.id, *t);
        for (std::uint32_t i : w.chunks) {
            if (i >= t->chunks || t->reading.contains(i)) continue;
            if (t->reading.size() >= cfg.max_reads) break;  // asked again after its timeout
            t->reading.insert(i);
            io.push_back(io::Read{w.id, Side::sending, t->path, i, t->offset(i), t->length(i), t->place(w.id).peer});
        }
    }

    void served_chunk(const FileId& id, Transfer& t, std::uint32_t index, ByteView bytes) {
        if (t.reading.erase(index) == 0) return;
        if (!t.matches(index, bytes, crypto)) {
            events.push_back(ev::Failed{id, "'" + t.m.name + "' changed since it was offered"});
            send(t.peer, wire::FileCancel{id});
            forget(t.place(id));
            return;
        }
        wire::FileChunk c{id, index, Bytes(bytes.size() + wire::kFileChunkTag)};
        crypto.aead_seal(c.data.data(), bytes, chunk_ad(id, index), index, t.key);
        send(t.peer, c);
    }

    // ---- commands

    void command(TimeMs now, const cmd::Offer& c) {
        auto m = open_manifest(crypto, c.manifest, wire::kMaxFileSize);
        if (!m || m->sender != self.pk) {
            events.push_back(ev::Failed{m ? m->id : FileId{}, "not a manifest of ours"});
            return;
        }
        const Key k{Side::sending, m->id, {}};
        if (transfers.contains(k)) {
            events.push_back(ev::Failed{m->id, "'" + m->name + "' is already offered"});
            return;
        }
        if (transfers.size() >= cfg.max_transfers || c.path.empty() || c.path.size() > wire::kMaxFilePath) {
            events.push_back(ev::Failed{m->id, transfers.size() >= cfg.max_transfers ? "too many transfers at once"
                                                                                      : "no usable path"});
            return;
        }
        Transfer t;
        t.side = Side::sending;
        t.blob = c.manifest;
        t.m = std::move(*m);
        crypto.random(t.key);
        t.sealed = crypto.seal(t.key, c.to_kx);
        t.peer = c.to;
        t.path = c.path;
        t.chunks = wire::file_chunks(t.m.size, t.m.chunk_size);
        Transfer& held = transfers.emplace(k, std::move(t)).first->second;
        save(k.id, held);
        offer(now, held);
    }

    void command(TimeMs now, const cmd::Accept& c) {
        auto it = transfers.find({Side::receiving, c.id, {}});
        if (it == transfers.end()) return accept_shared(now, c);
        if (it->second.phase != Phase::offered) return;
        if (!usable(c.id, c.partial_path, c.final_path)) return;
        Transfer& t = it->second;
        t.phase = Phase::transferring;
        t.path = c.partial_path;
        t.final_path = c.final_path;
        t.have.assign((t.chunks + 7) / 8, 0);
        send(t.peer, wire::FileAnswer{c.id, true});
        if (t.chunks == 0) {  // an empty file: make it, then check it
            io.push_back(io::Write{c.id, t.path, 0, {}});
            return start_verify(c.id, t);
        }
        save(c.id, t);
        fill(now, c.id, t);
    }

    // A file shared in a group we heard of: asked of its members.
    void accept_shared(TimeMs now, const cmd::Accept& c) {
        auto a = announced.find(c.id);
        if (a == announced.end() || !usable(c.id, c.partial_path, c.final_path)) return;
        if (transfers.size() >= cfg.max_transfers) {
            events.push_back(ev::Failed{c.id, "too many transfers at once"});
            return;
        }
        Transfer& t = take({Side::receiving, c.id, {}}, a->second.blob, std::move(a->second.m), a->second.group,
                           c.partial_path, c.final_path);
        announced.erase(a);
        std::erase(announced_order, c.id);
        save(c.id, t);
        ask(now, c.id, t);
    }

    void command(TimeMs now, const cmd::Share& c) {
        auto m = open_manifest(crypto, c.manifest, wire::kMaxFileSize);
        if (!m || m->sender != self.pk) {
            events.push_back(ev::Failed{m ? m->id : FileId{}, "not a manifest of ours"});
            return;
        }
        const FileId id = m->id;
        auto ms = members(c.group);
        std::string why;
        if (std::find(ms.begin(), ms.end(), self.pk) == ms.end()) why = "not a member of that group";
        else if (at(Side::holding, id)) why = "'" + m->name + "' is already shared";
        else if (c.path.empty() || c.path.size() > wire::kMaxFilePath) why = "no usable path";
        else if (held() >= cfg.max_held) why = "already holding " + std::to_string(cfg.max_held) + " files for groups";
        if (!why.empty()) {
            events.push_back(ev::Failed{id, why});
            return;
        }
        Transfer t;
        t.blob = c.manifest;
        t.m = std::move(*m);
        t.group = c.group;
        t.chunks = wire::file_chunks(t.m.size, t.m.chunk_size);
        hold(id, t, c.path);
        std::size_t n = 0;
        for (const auto& pk : ms)
            if (pk != self.pk) {
                send(pk, wire::FileShare{c.group, c.manifest});
                ++n;
            }
        events.push_back(ev::Shared{id, c.group, t.m.name, t.m.size, n});
        (void)now;
    }

    void command(TimeMs now, const cmd::Fetch& c) {
        std::string why;
        if (!member(c.group, self.pk)) why = "not a member of that group";
        else if (finds.size() >= cfg.max_finds) why = "too many files asked for by name at once";
        else if (c.name.empty() || c.name.size() > wire::kMaxFileName) why = "no usable name";
        if (why.empty() && !usable(FileId{}, c.partial_path, c.final_path)) return;
        if (!why.empty()) {
            events.push_back(ev::Failed{FileId{}, why});
            return;
        }
        Find& f = finds[{c.group, c.name}];
        f = Find{c.partial_path, c.final_path, now, 0};
        ask_by_name(now, c.group, c.name, f);
    }

    void ask_by_name(TimeMs now, const GroupId& group, const std::string& name, Find& f) {
        for (const auto& pk : members(group))
            if (pk != self.pk && peers->online(pk)) send(pk, wire::FileAsk{group, FileId{}, name});
        ++f.asks;
        f.due = now + cfg.ask_retry;
    }

    void command(TimeMs, const cmd::Unhold& c) {
        if (at(Side::holding, c.id)) forget({Side::holding, c.id, {}});
    }

    void command(TimeMs, const cmd::Decline& c) {
        if (announced.erase(c.id)) {
            std::erase(announced_order, c.id);
            return;
        }
        auto it = transfers.find({Side::receiving, c.id, {}});
        if (it == transfers.end() || it->second.phase != Phase::offered) return;
        send(it->second.peer, wire::FileAnswer{c.id, false});
        transfers.erase(it);
    }

    void command(TimeMs, const cmd::Cancel& c) {
        std::vector<Key> keys;
        for (const auto& [k, t] : transfers)
            if (k.side == c.side && k.id == c.id) keys.push_back(k);
        for (const Key& k : keys) {
            auto it = transfers.find(k);
            Transfer& t = it->second;
            if (t.side == Side::receiving && t.phase == Phase::offered) {
                send(t.peer, wire::FileAnswer{c.id, false});
                transfers.erase(it);
                continue;
            }
            if (t.phase != Phase::asking) send(t.peer, wire::FileCancel{c.id});
            if (t.side == Side::receiving) io.push_back(io::Remove{c.id, t.path});
            events.push_back(ev::Cancelled{c.id, self.pk});
            forget(k);
        }
    }

    void on_cancel(TimeMs now, const PublicKey& from, const wire::FileCancel& c) {
        bool any = false;
        for (Key k : {Key{Side::sending, c.id, from}, Key{Side::sending, c.id, {}}, Key{Side::receiving, c.id, {}}}) {
            auto it = transfers.find(k);
            if (it == transfers.end() || it->second.peer != from) continue;
            any = true;
            Transfer& t = it->second;
            // A member serving a group's file stopped: another may serve the rest.
            if (k.side == Side::receiving && !zero(t.group) && t.phase == Phase::transferring) {
                t.phase = Phase::asking;  // no fileCancel back
                reask(now, c.id, t);
                continue;
            }
            const bool stored = !(k.side == Side::receiving && t.phase == Phase::offered);
            if (k.side == Side::receiving && stored) io.push_back(io::Remove{c.id, t.path});
            events.push_back(ev::Cancelled{c.id, from});
            if (stored) forget(it->first);
            else transfers.erase(it);
        }
        if (!any) ++stats.refused;
    }

    void on_message(TimeMs now, const PublicKey& from, ByteView bytes) {
        auto msg = wire::decode_file(bytes);
        if (!msg) {
            ++stats.malformed;
            return;
        }
        if (auto* o = std::get_if<wire::FileOffer>(&*msg)) return on_offer(now, from, *o);
        if (auto* sh = std::get_if<wire::FileShare>(&*msg)) return on_share(from, *sh);
        if (auto* a = std::get_if<wire::FileAsk>(&*msg)) return on_ask(now, from, *a);
        if (auto* c = std::get_if<wire::FileChunk>(&*msg)) return on_chunk(now, *c);
        if (auto* w = std::get_if<wire::FileWant>(&*msg)) return on_want(from, *w);
        if (auto* c = std::get_if<wire::FileCancel>(&*msg)) return on_cancel(now, from, *c);
        if (auto* a = std::get_if<wire::FileAnswer>(&*msg)) {
            Transfer* t = find(Side::sending, a->id, from);
            if (!t) return;
            if (a->accept) return accepted(a->id, *t);
            if (t->phase != Phase::offered) return;
            if (zero(t->group)) events.push_back(ev::Declined{a->id, from});  // in a group: another member served it
            return forget(t->place(a->id));
        }
        if (auto* d = std::get_if<wire::FileDone>(&*msg)) {
            Transfer* t = find(Side::sending, d->id, from);
            if (!t) return;
            if (d->ok) events.push_back(ev::Delivered{d->id, from});
            else events.push_back(ev::Failed{d->id, "the receiver could not check '" + t->m.name + "'"});
            forget(t->place(d->id));
        }
    }

    Result<void> restore(ByteView bytes) {
        auto s = wire::decode_file_state(bytes);
        if (!s) return err(s.error());
        auto m = open_manifest(crypto, s->manifest, wire::kMaxFileSize);
        if (!m) return err(m.error());
        if (s->side > 2 || s->phase > 3) return err("fileState: bad side or phase");
        Transfer t;
        t.side = static_cast<Side>(s->side);
        t.phase = static_cast<Phase>(s->phase);
        t.blob = std::move(s->manifest);
        t.m = std::move(*m);
        t.key = s->key;
        t.peer = s->peer;
        t.path = std::move(s->path);
        t.final_path = std::move(s->final_path);
        t.sealed = std::move(s->sealed);
        t.group = s->group;
        t.chunks = wire::file_chunks(t.m.size, t.m.chunk_size);
        if (t.path.empty()) return err("fileState: no path");
        if (t.phase == Phase::asking && (t.side != Side::receiving || zero(t.group)))
            return err("fileState: only a group's file is asked for");
        if (t.side == Side::holding) {
            if (zero(t.group)) return err("fileState: a file held for no group");
        } else if (t.side == Side::receiving) {
            if (t.phase == Phase::offered || t.final_path.empty()) return err("fileState: an offer is not stored");
            if (s->have.size() != (t.chunks + 7) / 8) return err("fileState: chunk bits do not match the manifest");
            t.have = std::move(s->have);
            for (std::uint64_t i = t.chunks; i < t.have.size() * 8; ++i) t.clear(static_cast<std::uint32_t>(i));
            for (auto b : t.have) t.have_count += static_cast<std::uint64_t>(std::popcount(b));
            t.kick = true;
        } else if (t.phase == Phase::offered) {
            if (t.sealed.empty()) return err("fileState: no sealed key to offer again");
            t.offer_due = 0;
        } else if (t.phase == Phase::verifying) {
            return err("fileState: a sender does not verify");
        }
        const Key k = t.place(t.m.id);
        if (transfers.contains(k)) return err("fileState: stored twice");
        transfers.emplace(k, std::move(t));
        return {};
    }

    void timeout(TimeMs now) {
        // A transfer may end (and leave the map) while it is handled: walk a copy of the keys.
        std::vector<Key> keys;
        keys.reserve(transfers.size());
        for (const auto& [k, t] : transfers) keys.push_back(k);
        for (const Key& k : keys) {
            auto it = transfers.find(k);
            if (it == transfers.end()) continue;
            Transfer& t = it->second;
            if (t.side == Side::holding) continue;
            if (t.side == Side::sending) {
                if (t.phase == Phase::offered && t.offer_due <= now) offer(now, t);
                continue;
            }
            if (t.kick) {
                t.kick = false;
                t.heard = now;
                if (t.phase == Phase::verifying || t.have_count == t.chunks) {
                    start_verify(k.id, t);
                    continue;
                }
                if (t.phase == Phase::asking) t.ask_due = now;
            }
            if (t.phase == Phase::asking) {
                if (t.ask_due <= now) ask(now, k.id, t);
                continue;
            }
            if (t.phase != Phase::transferring) continue;
            if (!zero(t.group) && now - t.heard >= cfg.holder_timeout) {
                reask(now, k.id, t);
                continue;
            }
            if (t.stalled_until != 0 && t.stalled_until <= now) t.stalled_until = 0;
            for (auto a = t.asked.begin(); a != t.asked.end();) {
                if (a->second <= now) {
                    t.again.insert(a->first);
                    a = t.asked.erase(a);
                } else {
                    ++a;
                }
            }
            fill(now, k.id, t);
        }
        for (auto f = finds.begin(); f != finds.end();) {
            if (f->second.due > now) {
                ++f;
            } else if (f->second.asks >= kFindAsks) {
                events.push_back(ev::Failed{FileId{}, "no member of the group holds '" + f->first.second + "'"});
                io.push_back(io::Remove{FileId{}, f->second.partial_path});
                f = finds.erase(f);
            } else {
                ask_by_name(now, f->first.first, f->first.second, f->second);
                ++f;
            }
        }
    }

    std::optional<TimeMs> next_timeout() const {
        TimeMs next = kNever;
        for (const auto& [k, t] : transfers) {
            if (t.kick) return 0;
            if (t.side == Side::sending && t.phase == Phase::offered) next = std::min(next, t.offer_due);
            if (t.side == Side::receiving && t.phase == Phase::asking) next = std::min(next, t.ask_due);
            if (t.side == Side::receiving && t.phase == Phase::transferring && !zero(t.group))
                next = std::min(next, t.heard + cfg.holder_timeout);
            for (const auto& [i, due] : t.asked) next = std::min(next, due);
            if (t.phase == Phase::transferring && t.stalled_until > 0) next = std::min(next, t.stalled_until);
        }
        for (const auto& [k, f] : finds) next = std::min(next, f.due);
        if (next == kNever) return std::nullopt;
        return next;
    }
};

void Machine::handle_write_failed(TimeMs now, const FileId& id, std::uint32_t index) {
    auto it = s_->transfers.find({Side::receiving, id, {}});
    if (it == s_->transfers.end()) return;
    Transfer& t = it->second;
    if (t.phase == Phase::offered || index >= t.chunks || !t.has(index)) return;
    ++s_->stats.write_failed;
    if (t.phase == Phase::verifying) t.phase = Phase::transferring;  // it was the last chunk: the read-back waits
    t.clear(index);
    --t.have_count;
    t.again.insert(index);
    t.stalled_until = now + s_->cfg.write_retry;
    s_->save(id, t);  // after any record of this turn that counted it
}

Machine::Machine(Config config, Self self, Crypto& crypto, Peers* peers)
    : s_(std::make_unique<State>(config, self, crypto, peers)) {}
Machine::~Machine() = default;

Result<void> Machine::restore(ByteView state) { return s_->restore(state); }

void Machine::handle_message(TimeMs now, const PublicKey& from, ByteView bytes) { s_->on_message(now, from, bytes); }

void Machine::handle_command(TimeMs now, const Command& command) {
    std::visit([&](const auto& c) { s_->command(now, c); }, command);
}

void Machine::handle_read(TimeMs now, const FileId& id, Side side, std::uint32_t index, ByteView bytes,
                          const PublicKey& peer) {
    auto it = s_->transfers.find({side, id, peer});
    if (it == s_->transfers.end()) return;
    if (side == Side::sending) s_->served_chunk(id, it->second, index, bytes);
    else s_->verified_chunk(now, id, it->second, index, bytes);
}

void Machine::handle_read_failed(TimeMs, const FileId& id, Side side, const std::string& why, const PublicKey& peer) {
    auto it = s_->transfers.find({side, id, peer});
    if (it == s_->transfers.end()) return;
    Transfer& t = it->second;
    s_->events.push_back(ev::Failed{id, "cannot read '" + t.path + "': " + why});
    s_->send(t.peer, wire::FileCancel{id});
    s_->forget(it->first);
}

void Machine::handle_timeout(TimeMs now) { s_->timeout(now); }

std::optional<IoOp> Machine::poll_io() { return pop_front(s_->io); }
std::optional<StoreRecord> Machine::poll_store() { return pop_front(s_->store); }
std::optional<Event> Machine::poll_event() { return pop_front(s_->events); }
std::optional<Outgoing> Machine::poll_message() { return pop_front(s_->out); }
std::optional<TimeMs> Machine::poll_timeout() const { return s_->next_timeout(); }

std::vector<TransferView> Machine::transfers() const {
    std::vector<TransferView> v;
    for (const auto& [k, t] : s_->transfers)
        v.push_back(
            {k.id, t.side, t.phase, t.peer, t.m.name, t.m.size, t.chunks, t.have_count, t.asked.size(), t.group});
    return v;
}

const Stats& Machine::stats() const { return s_->stats; }

}  // namespace dc::files
