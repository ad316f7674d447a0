// Internal to the core: session channels. Two sessions that talk make keys once, in a
// handshake of two signed packets (channel_hello, channel_welcome: the envelope signs
// and checks them like any packet), and then send every datagram as one AEAD packet
// (wire::ChannelData): a counter nonce, a 16-byte tag, a replay window, no signature.
//
// Keys. Each side brings its identity (the envelope's signature over its message),
// its session key (the short-lived X25519 "kx" key of its declaration, kept only in
// memory and rotated) and a fresh ephemeral X25519 key. The two directions' keys are a
// keyed BLAKE2b of four agreements, DH(e_i, e_r), DH(kx_i, kx_r), DH(e_i, kx_r) and
// DH(kx_i, e_r), under a hash of the transcript (both identities, sessions, session
// keys, ephemerals and indexes). The ephemerals give forward secrecy on their own; the
// session-key terms mean that whoever would pose as a session needs its live session
// key as well as its identity key. Ephemeral secrets are wiped as soon as the keys are
// made; keys are wiped when replaced (after a grace period) or closed.
//
// Roles. The initiator sends a hello, the responder answers with a welcome and waits
// for the first packet under the new keys (the initiator sends an empty one at once)
// before it sends under them itself: a replayed hello never displaces working keys.
// When both sides send hellos at once, the session with the smaller id stays the
// initiator and the other answers. A hello naming a session key the responder no
// longer holds is answered with a stale welcome carrying the current one.
//
// Rekeying: after cfg.rekey_packets packets or rekey_bytes bytes under one key, and
// whenever either side's session key changes. The keys replaced still open packets for
// cfg.grace, so nothing in flight across the switch is lost. A counter never wraps:
// past twice the limits nothing more is sent under that key.
//
// Sans-IO: time is passed in; what must be sent comes out of poll_out().
#pragma once

#include "darkchat/core.hpp"
#include "darkchat/wire.hpp"
#include "core/session_order.hpp"

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>

namespace dc::core {

struct ChannelConfig {
    std::uint64_t rekey_packets = std::uint64_t{1} << 24;
    std::uint64_t rekey_bytes = std::uint64_t{1} << 32;
    TimeMs grace = 10000;
    TimeMs retry = 1000;
    TimeMs timeout = 10000;
    std::size_t max_channels = 4096;
    std::size_t max_half_open = 256;
    static ChannelConfig from(const Config& c);
};

// Which counters of one key have been seen (RFC 6479): a bitmap of kBits counters that
// slides with the newest. A counter seen before, or more than kSize behind the newest,
// is refused; anything newer, or within the window and unseen, is taken.
class ReplayWindow {
public:
    static constexpr std::size_t kBits = 2048;
    static constexpr std::uint64_t kSize = kBits - 64;  // one word is always being reused

    bool fresh(std::uint64_t counter) const;
    // Only once the packet has been authenticated.
    void mark(std::uint64_t counter);

private:
    std::uint64_t top_ = 0;  // the newest counter marked, plus one (0: none)
    std::array<std::uint64_t, kBits / 64> bits_{};
};

// One AEAD packet in the wire::ChannelData layout with the given outer type: the
// prefix is the additional data, [inner | payload] is sealed under key with counter.
Bytes seal_aead_packet(Crypto& crypto, wire::MsgType outer, std::uint32_t index, std::uint64_t counter,
                       const SymmetricKey& key, std::uint8_t inner, ByteView payload);
// [inner | payload] of d (datagram, parsed), or none when it does not open under key.
std::optional<Bytes> open_aead_packet(Crypto& crypto, ByteView datagram, const wire::ChannelData& d,
                                      const SymmetricKey& key);

// The keys one handshake made. Never copied; wiped when destroyed.
struct ChannelKeys {
    SymmetricKey send{};
    SymmetricKey recv{};
    std::uint32_t local = 0;   // our index: the peer writes it on packets to us
    std::uint32_t remote = 0;  // theirs: we write it on packets to them
    std::uint64_t next_counter = 0;
    std::uint64_t bytes_sent = 0;
    ReplayWindow window;
    KxPublicKey our_kx{}, peer_kx{};  // the session keys they were made from
    TimeMs made = 0;
    // Responder only: the hello they answer and the welcome sent, so that a hello sent
    // again gets the same welcome rather than new keys the initiator never sees.
    std::uint32_t hello_index = 0;
    KxPublicKey hello_ephemeral{};
    Bytes welcome;

    ChannelKeys() = default;
    ChannelKeys(const ChannelKeys&) = delete;
    ChannelKeys& operator=(const ChannelKeys&) = delete;
    ~ChannelKeys() { wipe(); }
    void wipe();
};

// What the channels want sent to a peer session. For channel_hello and channel_welcome
// `bytes` is the payload, to go out as a signed packet (Envelope::seal); for
// channel_data it is the whole datagram.
struct ChannelOut {
    SessionId peer{};
    wire::MsgType type{};
    Bytes bytes;
};

struct ChannelStats {
    std::uint64_t hellos = 0;          // hellos sent (first tries and retries)
    std::uint64_t welcomes = 0;        // welcomes sent
    std::uint64_t established = 0;     // handshakes completed (as either side)
    std::uint64_t rekeys = 0;          // handshakes started on a channel that had keys
    std::uint64_t stale = 0;           // hellos naming a session key we do not hold
    std::uint64_t crossed = 0;         // hellos dropped because ours to them stays
    std::uint64_t replayed = 0;        // hellos or packets seen before
    std::uint64_t unsolicited = 0;     // welcomes to no hello of ours
    std::uint64_t wrong_key = 0;       // handshakes from another identity than the channel's
    std::uint64_t unknown_index = 0;   // packets to no index of ours
    std::uint64_t undecryptable = 0;   // packets whose tag did not check
    std::uint64_t malformed = 0;       // bad layout, bad inner type, zero index, low-order key
    std::uint64_t timed_out = 0;       // handshakes given up
    std::uint64_t evicted = 0;         // channels dropped to make room
    std::uint64_t exhausted = 0;       // packets not sent: the key was used up and no new one yet
    // Data packets (and hellos) dropped on arrival, for whatever reason.
    std::uint64_t dropped() const { return replayed + unknown_index + undecryptable + malformed; }
};

class Channels {
public:
    Channels(Crypto& crypto, const PublicKey& our_key, const SessionId& our_session, ChannelConfig cfg);
    ~Channels();
    Channels(const Channels&) = delete;
    Channels& operator=(const Channels&) = delete;

    // Our current session key (a copy of the secret is held and wiped when replaced).
    // A new one rekeys every channel and restarts handshakes under way.
    void set_kx(TimeMs now, const KxPublicKey& pk, const KxSecretKey& sk);

    // Sets up a channel to a peer session whose identity and current session key we
    // know (from its signed declaration), or new keys for one we have. Nothing happens
    // while a handshake with that session key is under way.
    void connect(TimeMs now, const SessionId& peer, const PublicKey& peer_key, const KxPublicKey& peer_kx);
    // The peer's newest session key: keys made from another one are replaced.
    void peer_kx(TimeMs now, const SessionId& peer, const KxPublicKey& kx);

    // A hello or welcome whose packet the envelope opened (its signature checked).
    void handle_hello(TimeMs now, const wire::Header& h, const wire::ChannelHello& m);
    void handle_welcome(TimeMs now, const wire::Header& h, const wire::ChannelWelcome& m);
    void handle_timeout(TimeMs now);
    // Forgets the channel and wipes its keys.
    void close(const SessionId& peer);

    // A channel data packet to peer carrying inner (a core message type) and payload;
    // none when there are no keys to send with yet or they are used up.
    std::optional<Bytes> seal(TimeMs now, const SessionId& peer, wire::MsgType inner, ByteView payload);

    struct Opened {
        SessionId peer{};
        PublicKey peer_key{};
        wire::MsgType type{};
        Bytes payload;
    };
    // A datagram peek_type called channel_data. None when it is dropped (counted in
    // stats()) or when it carried nothing for the node (the empty packet that confirms
    // new keys).
    std::optional<Opened> open(TimeMs now, ByteView datagram);

    // The inner type of a datagram to us, if it opens, without taking it (no window
    // marked, no keys confirmed): for tests and tools that sort what crosses the wire.
    std::optional<wire::MsgType> peek(TimeMs now, ByteView datagram);

    std::optional<ChannelOut> poll_out();
    std::optional<TimeMs> poll_timeout() const;

    // There are keys to send to peer with.
    bool ready(const SessionId& peer) const;
    // ... made from the peer's newest session key we know of. Keys made from an older
    // one may be gone at the other end (it restarted: a new session key, no keys), so
    // until new ones are made a caller that cannot afford losses sends another way.
    bool fresh(const SessionId& peer) const;
    // The peer's silence suggests it holds none of our keys (it dropped a handshake
    // we took for done, or lost its memory): not fresh until something from it
    // opens or new keys are made, and a new handshake starts now.
    void suspect(TimeMs now, const SessionId& peer);
    // A handshake we started with peer is waiting for its welcome.
    bool connecting(const SessionId& peer) const;
    std::size_t size() const { return channels_.size(); }
    std::size_t half_open() const;
    const ChannelStats& stats() const { return stats_; }

private:
    struct Pending {  // a hello of ours waiting for its welcome
        std::uint32_t index = 0;
        KxSecretKey ephemeral_sk{};
        KxPublicKey ephemeral_pk{};
        KxPublicKey peer_kx{};
        TimeMs first = 0, next_retry = 0;
    };
    struct Channel {
        SessionId peer{};
        PublicKey peer_key{};
        KxPublicKey peer_kx{};
        std::unique_ptr<ChannelKeys> current;   // sends and receives
        std::unique_ptr<ChannelKeys> next;      // responder's, until the initiator's first packet
        std::unique_ptr<ChannelKeys> previous;  // receives only, until previous_until
        TimeMs previous_until = 0;
        std::optional<Pending> pending;
        TimeMs hello_time = 0;  // our last hello's time (strictly increasing)
        TimeMs last_hello = 0;  // the peer's newest hello taken (see hello_time)
        TimeMs made = 0, active = 0;
        bool suspect = false;  // see suspect()
        bool half_open() const { return !current && (pending || next); }
    };
    struct Side {  // one side of a handshake, for the key derivation
        const PublicKey* key;
        const SessionId* session;
        const KxPublicKey* kx;
        const KxPublicKey* ephemeral;
        std::uint32_t index;
    };

    Channel* find(const SessionId& peer);
    // The keys a packet to our index is for (and their channel), if any still open.
    ChannelKeys* keys_for(TimeMs now, std::uint32_t index, Channel*& c);
    const Channel* find(const SessionId& peer) const;
    Channel& make(TimeMs now, const SessionId& peer, const PublicKey& peer_key);
    void evict_for();
    std::uint32_t new_index(const SessionId& peer);
    void release(std::unique_ptr<ChannelKeys>& k);
    void drop_pending(Channel& c);
    void start(TimeMs now, Channel& c, const KxPublicKey& peer_kx);
    void send_hello(TimeMs now, Channel& c);
    void retire_current(TimeMs now, Channel& c);
    void forget(std::map<SessionId, Channel, SessionIdLess>::iterator it);
    std::unique_ptr<ChannelKeys> derive(TimeMs now, bool initiator, const KxSecretKey& ephemeral_sk,
                                        const Side& initiator_side, const Side& responder_side);
    std::optional<Bytes> seal_with(ChannelKeys& k, std::uint8_t inner, ByteView payload);
    TimeMs hello_time(TimeMs now, TimeMs sent) const;
    void touch() { wakeup_dirty_ = true; }

    Crypto& crypto_;
    PublicKey our_key_;
    SessionId our_session_;
    ChannelConfig cfg_;
    KxPublicKey kx_pk_{};
    KxSecretKey kx_sk_{};
    bool have_kx_ = false;
    std::map<SessionId, Channel, SessionIdLess> channels_;
    std::unordered_map<std::uint32_t, SessionId> by_index_;
    std::deque<ChannelOut> out_;
    ChannelStats stats_;
    mutable std::optional<TimeMs> wakeup_;
    mutable bool wakeup_dirty_ = false;
};

}  // namespace dc::core
