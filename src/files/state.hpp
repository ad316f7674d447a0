// The transfer machine's state (machine.cpp: transfers between two; groups.cpp: files
// shared in groups), shared by the files that hold its parts. Internal to dc_files.
#pragma once

#include "darkchat/files.hpp"

#include <algorithm>
#include <deque>
#include <limits>
#include <map>
#include <set>
#include <string_view>
#include <utility>

namespace dc::files {

constexpr std::string_view kChunkContext = "darkchat file chunk";
constexpr TimeMs kNever = std::numeric_limits<TimeMs>::max();
constexpr int kFindAsks = 10;  // an ask by name no member answered is given up after this many rounds
constexpr std::size_t kMaxClosedOffers = 256;  // offers ended, remembered to answer late devices

// "darkchat file chunk" || id || index (8 bytes, little endian)
inline Bytes chunk_ad(const FileId& id, std::uint32_t index) {
    Bytes ad(kChunkContext.size() + id.size() + 8);
    auto at = std::copy(kChunkContext.begin(), kChunkContext.end(), ad.begin());
    at = std::copy(id.begin(), id.end(), at);
    for (int i = 0; i < 8; ++i) *at++ = static_cast<std::uint8_t>(std::uint64_t{index} >> (8 * i));
    return ad;
}

// A transfer's place: one per file and side; on the sending side of a file served to a
// group's members one per member (peer), and of a file to a contact one per session of
// the receiver that took it (session) beside the offer itself; all zero otherwise.
struct Key {
    Side side = Side::sending;
    FileId id{};
    PublicKey peer{};
    SessionId session{};
    auto operator<=>(const Key&) const = default;
};

inline bool zero(const GroupId& g) { return g == GroupId{}; }

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
    std::set<std::uint32_t> opening;        // handed to the driver to open (io::Open), not answered yet

    // sending
    std::set<std::uint32_t> reading;
    TimeMs offer_due = kNever;
    int offer_tries = 0;

    // shared in a group (all zero between two)
    GroupId group{};
    TimeMs ask_due = kNever;   // receiving, asking: when to ask again

    // sending to a contact: the session this transfer goes to (all zero: the offer, which
    // stays open to each session in replies until that one answered, and is not sent
    // again once any answered)
    SessionId session{};
    bool answered = false;
    std::vector<wire::FileSessionReply> replies;  // the offer: at most wire::kMaxOfferSessions
    int asks = 0;              // receiving: fileAsks sent since the last holder answered
    TimeMs heard = 0;          // receiving in a group: the last chunk from the holder

    Key place(const FileId& id) const {
        if (side != Side::sending) return {side, id, {}, {}};
        return {side, id, zero(group) ? PublicKey{} : peer, session};
    }
    // The offer of a file to a contact, open to its sessions.
    bool offer_to_sessions() const { return side == Side::sending && zero(group) && session == SessionId{}; }
    // The offer's entry for a session; a new one (waiting) when add and there is room.
    wire::FileSessionReply* reply_of(const SessionId& s, bool add) {
        for (auto& r : replies)
            if (r.session == s) return &r;
        if (!add || replies.size() >= wire::kMaxOfferSessions) return nullptr;
        return &replies.emplace_back(wire::FileSessionReply{s, 0});
    }
    // Every session the offer keeps has answered and is done: nothing is open any more.
    bool settled() const {
        return !replies.empty() && std::all_of(replies.begin(), replies.end(), [](const auto& r) {
            return r.reply != static_cast<std::uint8_t>(wire::Reply::waiting) &&
                   r.reply != static_cast<std::uint8_t>(wire::Reply::receiving);
        });
    }

    // A new sending transfer of this file: its manifest, source, chunks and group.
    Transfer sending_copy() const {
        Transfer c;
        c.side = Side::sending;
        c.blob = blob;
        c.m = m;
        c.group = group;
        c.path = path;
        c.chunks = chunks;
        return c;
    }

    bool has(std::uint32_t i) const { return have[i / 8] >> (i % 8) & 1; }
    void set(std::uint32_t i) { have[i / 8] = static_cast<std::uint8_t>(have[i / 8] | 1u << (i % 8)); }
    void clear(std::uint32_t i) { have[i / 8] = static_cast<std::uint8_t>(have[i / 8] & ~(1u << (i % 8))); }
    std::uint64_t offset(std::uint32_t i) const { return std::uint64_t{i} * m.chunk_size; }
    std::uint32_t length(std::uint32_t i) const {
        return static_cast<std::uint32_t>(std::min<std::uint64_t>(m.chunk_size, m.size - offset(i)));
    }
    Hash chunk_hash(std::uint32_t i) const {
        Hash h{};
        std::copy_n(m.chunk_hashes.begin() + std::ptrdiff_t{i} * 32, h.size(), h.begin());
        return h;
    }
    bool matches(std::uint32_t i, ByteView plain, Crypto& crypto) const {
        return plain.size() == length(i) && hash_of(crypto, plain) == chunk_hash(i);
    }
};




// A file a member shared with a group we are in, not taken yet.
struct Announced {
    GroupId group{};
    wire::SignedBlob blob;
    Manifest m;  // its sender is the member who shared it
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
    // Offers to a contact that ended here, newest last (at most kMaxClosedOffers, in memory):
    // a session that answers one of them later is told it is not offered any more. Only
    // the device that made an offer says so: chat to our user reaches our other devices too.
    std::deque<FileId> closed;
    std::deque<IoOp> io;
    std::size_t opening = 0;  // io::Open handed out and not answered (handle_opened), all transfers
    std::deque<StoreRecord> store;
    std::deque<Event> events;
    std::deque<Outgoing> out;
    Stats stats;

    State(Config c, Self s, Crypto& cr, Peers* p) : cfg(c), self(s), crypto(cr), peers(p) {}

    void send(const PublicKey& to, const wire::FileMessage& m) { out.push_back({to, wire::encode_file(m), {}}); }
    // To the peer of a transfer: to its session alone when it has one.
    void send(const Transfer& t, const wire::FileMessage& m) { out.push_back({t.peer, wire::encode_file(m), t.session}); }
    void send(const PublicKey& to, const SessionId& session, const wire::FileMessage& m) {
        out.push_back({to, wire::encode_file(m), session});
    }

    // machine.cpp: records, lookups, transfers between two
    void save(const FileId& id, Transfer& t);
    void forget(const Key& k);
    Transfer* find(Side side, const FileId& id, const PublicKey& from, const SessionId& session = {});
    Transfer* answering(const FileId& id, const PublicKey& from, const SessionId& session);
    void mark_answered(const FileId& id, Transfer& offer);
    void replied(const FileId& id, const SessionId& session, wire::Reply reply);
    void not_offered(const FileId& id, const PublicKey& from, const SessionId& session, wire::CancelReason why);
    void unservable(const FileId& id, Transfer& t, const std::string& why);
    Transfer* at(Side side, const FileId& id);
    // max_transfers reached: counts transfers under way, not the files held for groups.
    bool full() const;
    bool too_large(const PublicKey& from, const Manifest& m);
    bool usable(const FileId& id, const std::string& partial, const std::string& final_path);
    void fill(TimeMs now, const FileId& id, Transfer& t);
    void bad_chunk(TimeMs now, const FileId& id, Transfer& t, std::uint32_t index);
    void changed_at_sender(const FileId& id, Transfer& t, std::uint32_t index);
    void on_offer(TimeMs now, const PublicKey& from, const wire::FileOffer& o);
    void on_chunk(TimeMs now, wire::FileChunk&& c);
    void opened(TimeMs now, const FileId& id, std::uint32_t index, Opened result, Bytes plain);
    void start_verify(const FileId& id, Transfer& t);
    void complete(const FileId& id, Transfer& t);
    void verified_chunk(TimeMs now, const FileId& id, Transfer& t, std::uint32_t index, ByteView bytes);
    void offer(TimeMs now, Transfer& t);
    void accepted(const FileId& id, Transfer& t);
    void on_want(const PublicKey& from, const SessionId& session, const wire::FileWant& w);
    void served_chunk(const FileId& id, Transfer& t, std::uint32_t index, ByteView bytes);
    void command(TimeMs now, const cmd::Offer& c);
    void command(TimeMs now, const cmd::Accept& c);
    void command(TimeMs, const cmd::Decline& c);
    void command(TimeMs, const cmd::Cancel& c);
    void on_cancel(TimeMs now, const PublicKey& from, const SessionId& session, const wire::FileCancel& c);
    void on_message(TimeMs now, const PublicKey& from, const SessionId& session, ByteView bytes);
    Result<void> restore(ByteView bytes);
    void timeout(TimeMs now);
    std::optional<TimeMs> next_timeout() const;

    // groups.cpp: files shared in groups
    std::vector<PublicKey> members(const GroupId& g);
    bool member(const GroupId& g, const PublicKey& pk);
    Transfer& take(const Key& k, const wire::SignedBlob& blob, Manifest m, const GroupId& group,
                   const std::string& partial, const std::string& final_path);
    void ask(TimeMs now, const FileId& id, Transfer& t);
    void reask(TimeMs now, const FileId& id, Transfer& t);
    void on_share(const PublicKey& from, const wire::FileShare& sh);
    void on_group_offer(TimeMs now, const PublicKey& from, const wire::FileOffer& o, Manifest m);
    std::size_t held() const;
    bool hold(const FileId& id, const Transfer& from, const std::string& path);
    void on_ask(TimeMs now, const PublicKey& from, const wire::FileAsk& a);
    void accept_shared(TimeMs now, const cmd::Accept& c);
    void command(TimeMs, const cmd::Share& c);
    void command(TimeMs now, const cmd::Fetch& c);
    void ask_by_name(TimeMs now, const GroupId& group, const std::string& name, Find& f);
    void command(TimeMs, const cmd::Unhold& c);
};

}  // namespace dc::files
