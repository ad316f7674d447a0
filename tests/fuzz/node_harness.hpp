// fuzz_node's input format and the node it drives, shared with make_corpus (which
// runs the same node to learn the nonces and keys its seed packets must carry).
//
// Input: [flags][record][record]... with each record [kind][dt][length: 2, big-endian][data].
// Before a record, virtual time moves on by dt * 16 ms (running the node's timers on
// the way); then, by kind % 16:
//    0..9   data arrives as a datagram from kSources[kind % 4]
//    10     data arrives as a TCP frame from kSources[data[0] % 4], another port
//    11     \trust kNames[data[0] % 4] with the fingerprint of kPeople[data[1] % 4]'s key
//    12     \add kNames[data[0] % 4]
//    13     \chat to kNames[data[0] % 4], the rest of data as text
//    14     \ping kSources[data[0] % 4]
//    15     \explode
// flags (see Flag) choose the node's configuration and what it remembers at start.
#pragma once

#include "fuzz_common.hpp"

#include "sim/net.hpp"

#include "darkchat/core.hpp"

#include <memory>

namespace dc::fuzz {

enum Flag : std::uint8_t {
    kSuperClient = 1,   // config: -s
    kAliceContact = 2,  // the snapshot holds alice as a contact, key pinned
    kBobServer = 4,     // config: bob is a server (declared to and asked at start)
    kStoredRows = 8,    // the data of the first two records becomes a stored session
                        // declaration (alice's) and a stored outbox message (for alice)
    kTrusting = 16,     // every signature verifies and sealing is the identity: reaches deep
                        // core logic with random bytes (the signed-only check is then off)
    kSmallLimits = 32,  // config: 2 sessions per user, 4 users, 2 outbox messages per peer
};

inline constexpr TimeMs kKxRotation = 40000;  // short, so that fuzzed runs rotate sealing keys

inline const Addr kStranger = Addr::v4(192, 0, 2, 9, 40000);
inline const Addr kSources[] = {kAlice.addr, kBob.addr, kCarol.addr, kStranger};
inline const std::string kNames[] = {"alice", "bob", "carol", std::string(kDave)};

inline constexpr TimeMs kStart = 1000000;
inline constexpr TimeMs kTick = 16;
inline constexpr std::size_t kMaxRecords = 64;

struct Record {
    std::uint8_t kind = 0;
    std::uint8_t dt = 0;
    Bytes data;
};

inline Bytes write_node_input(std::uint8_t flags, const std::vector<Record>& records) {
    Bytes out{flags};
    for (const auto& r : records) {
        out.push_back(r.kind);
        out.push_back(r.dt);
        out.push_back(static_cast<std::uint8_t>(r.data.size() >> 8));
        out.push_back(static_cast<std::uint8_t>(r.data.size()));
        out.insert(out.end(), r.data.begin(), r.data.end());
    }
    return out;
}

inline std::vector<Record> read_records(Reader& r) {
    std::vector<Record> v;
    while (!r.empty() && v.size() < kMaxRecords) {
        Record rec;
        rec.kind = r.u8();
        rec.dt = r.u8();
        const ByteView data = r.bytes(r.u16());
        rec.data.assign(data.begin(), data.end());
        v.push_back(std::move(rec));
    }
    return v;
}

// Deterministic randomness (nonces, message ids, sealing keys), so that a run
// depends on its input only; real Ed25519 unless trusting.
class FuzzCrypto : public core::Crypto {
public:
    bool trusting = false;

    Signature sign(const SecretKey& sk, ByteView msg) override {
        return trusting ? Signature{} : crypto::sign(sk, msg);
    }
    bool verify(const PublicKey& pk, ByteView msg, const Signature& sig) override {
        return trusting || crypto::verify(pk, msg, sig);
    }
    Bytes seal(ByteView msg, const KxPublicKey& to) override {
        return trusting ? Bytes(msg.begin(), msg.end()) : core::Crypto::seal(msg, to);
    }
    std::optional<Bytes> open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk) override {
        if (trusting) return Bytes(sealed.begin(), sealed.end());
        return core::Crypto::open(sealed, pk, sk);
    }
    void random(std::span<std::uint8_t> out) override {
        for (auto& b : out) b = static_cast<std::uint8_t>(splitmix64(state_));
    }

private:
    std::uint64_t state_ = 42;
};

// One node ("self") on the simulated network (tools/sim/net.hpp) and
// everything it did. The people it talks to are not stations: what it sends is
// kept in sent for the checks, and the input carries their answers.
struct NodeHarness {
    FuzzCrypto crypto;
    sim::Network net{7, sim::NetModel{}, kStart};
    sim::NodeStation self;
    core::Node* node = nullptr;
    TimeMs now = kStart;
    std::uint8_t flags = 0;
    std::vector<core::Transmit> sent;  // transmits not yet looked at
    std::size_t datagrams = 0;
    std::vector<std::string> commanded;  // names given to \add and \chat

    NodeHarness() {
        net.apply_store = false;
        self.keep_events = false;
        self.addr = kSelf.addr;
        net.attach(self);
        net.on_transmit = [this](const sim::Station&, const core::Transmit& t) { sent.push_back(t); };
        net.drop = [](const sim::Station&, const core::Transmit&) { return true; };
    }
    NodeHarness(const NodeHarness&) = delete;
    NodeHarness& operator=(const NodeHarness&) = delete;

    // Builds and starts the node; returns the records still to run.
    std::vector<Record> start(ByteView input) {
        Reader r(input);
        flags = r.u8();
        std::vector<Record> records = read_records(r);
        crypto.trusting = flags & kTrusting;

        core::Config cfg;
        cfg.super_client = flags & kSuperClient;
        if (flags & kBobServer) cfg.servers.push_back(kBob.addr);
        if (flags & kSmallLimits) {
            cfg.max_sessions_per_user = 2;
            cfg.max_users = 4;
            cfg.max_outbox_per_peer = 2;
        }
        cfg.kx_rotation = kKxRotation;

        Snapshot snap;
        if (flags & kAliceContact) snap.users.push_back(UserRecord{"alice", kAlice.pk, true, kStart - 1000});
        if ((flags & kStoredRows) && !records.empty()) {
            SessionRecord s;
            s.user = "alice";
            s.session = kAlice.session;
            s.decl.body = records.front().data;
            s.seq = 1;
            s.addr = kAlice.addr;
            s.online = records.front().kind & 1;
            s.last_seen = kStart - 500;
            snap.sessions.push_back(std::move(s));
            records.erase(records.begin());
            if (!records.empty()) {
                OutboxRecord o;
                o.id = MessageId{1};
                o.target = "alice";
                o.msg.body = records.front().data;
                o.queued = kStart - 400;
                snap.outbox.push_back(std::move(o));
                records.erase(records.begin());
            }
        }
        self.id = kSelf.identity();
        self.config = cfg;
        self.boot(net, crypto, 7, std::move(snap));
        node = self.node.get();
        return records;
    }

    // Runs the node's timers up to `until`; check() runs after each wakeup. A wakeup
    // that asks for another at the same time, over and over, would spin the driver.
    template <typename Check>
    void advance(TimeMs until, Check&& check) {
        net.run_until(
            [&] {
                if (!net.problems().empty())
                    die("node", "poll_timeout() stays at or before now after handle_timeout()");
                check();
                return false;
            },
            std::max<TimeMs>(until - net.now(), 0), 0);
        now = net.now();
    }

    template <typename Check>
    void run(const Record& rec, Check&& check) {
        advance(now + TimeMs{rec.dt} * kTick, check);
        const std::uint8_t k = rec.kind % 16;
        const std::uint8_t pick = rec.data.empty() ? 0 : rec.data[0];
        if (k < 10) {
            ++datagrams;
            net.deliver_now(self, kSources[k % 4], rec.data);
            check();
            return;
        }
        if (k == 10) {
            ++datagrams;  // a TCP frame, from an ephemeral port of a known source
            Addr peer = kSources[pick % 4];
            peer.port = static_cast<std::uint16_t>(40000 + pick);
            net.deliver_now(self, peer, rec.data, true);
            check();
            return;
        }
        net.input(self, [&] { command(k, pick, rec); });
        check();
    }

    void command(std::uint8_t k, std::uint8_t pick, const Record& rec) {
        if (k == 11) {
            const std::uint8_t whose = rec.data.size() > 1 ? rec.data[1] : 0;
            node->handle_command(now, core::cmd::Trust{kNames[pick % 4], crypto::fingerprint(kPeople[whose % 4]->pk)});
        } else if (k == 12) {
            commanded.push_back(kNames[pick % 4]);
            node->handle_command(now, core::cmd::Add{kNames[pick % 4]});
        } else if (k == 13) {
            commanded.push_back(kNames[pick % 4]);
            std::string text(rec.data.begin() + (rec.data.empty() ? 0 : 1), rec.data.end());
            node->handle_command(now, core::cmd::Chat{kNames[pick % 4], std::move(text)});
        } else if (k == 14) {
            node->handle_command(now, core::cmd::Ping{kSources[pick % 4]});
        } else {
            node->handle_command(now, core::cmd::Explode{});
        }
    }
};

}  // namespace dc::fuzz
