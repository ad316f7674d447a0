// The darkchat node as a sans-IO state machine: inputs are handle_*() calls with
// the current time, outputs are drained with poll_*(). No sockets, clocks or
// SQLite in here; src/io drives it with libuv, tools/sim drives it with a
// modelled network.
//
// After one or more handle_*() calls the driver drains, in this order,
//   poll_store()    -> apply to the store (an outbox entry is durable before it is sent)
//   poll_event()    -> show to the user
//   poll_transmit() -> send (UDP when it fits in wire::kMaxDatagram, else TCP)
// and then arms one timer for poll_timeout(). Several inputs may be handed in
// before one drain (a turn of the driver's loop): their outputs queue up in
// the order of the inputs, all their store ops come out of poll_store() before
// any of their events or transmits, and handle_store_failed() takes back what
// rested on the ops of every input since the last drain.
#pragma once

#include "darkchat/model.hpp"
#include "darkchat/wire.hpp"

#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>

namespace dc::core {

using SymmetricKey = std::array<std::uint8_t, 32>;  // a channel's key for one direction

struct Config {
    std::uint16_t port = 0;     // our listening port (UDP and TCP), as declared
    Addr bind_addr;             // our address; an unspecified ip lets receivers fill it in
    bool super_client = false;  // -s: remember the whole network, answer lists completely
    std::vector<Addr> servers;  // -sip/-sp: super-clients to declare to and ask
    std::size_t max_sessions_per_user = 8;  // pruning length (seed 001, 3.2)
    std::size_t max_users = 100000;          // bound on remembered users (super-client: whole network)
    // Liveness (darkchat-protocol(7), LIVENESS). Of two sessions that watch each
    // other only one probes (the one with the smaller session id); a fresh ping
    // from it is proof of life for the other, which probes only when the pings stop.
    // Idle traffic is one ping and one pong per pair per probe interval; a crash
    // is found after about half an interval and indirect_timeout (BENCHMARKS.md
    // has the trade measured in dcsim: bytes, time to detect, false offline at 5% loss).
    TimeMs probe_interval = 1500;      // a silent online session is probed after this ...
    TimeMs probe_interval_max = 3500;  // ... growing to this while it answers every first ping
    TimeMs probe_timeout = 300;        // pings of one probe round are this far apart; the first
                                       // unanswered one asks common neighbours (again every 2x this)
    TimeMs indirect_timeout = 1800;    // no answer at all after this (from the first probe): offline
    TimeMs retry_initial = 1000;     // chat retries and re-probing of missing users
    TimeMs retry_max = 30000;
    // A chat's first retry waits a timeout taken from the round trip measured to its
    // recipient (RFC 6298), retry_initial until one is measured, never less than this.
    TimeMs retry_floor = 100;
    TimeMs refresh_interval = 60000; // re-declare to contacts and re-ask lists this often
    // Packets per second (and bursts) accepted before signatures are checked:
    // per known session at its known address, per ip for everyone else, and for
    // all unknown senders together. Known sessions never wait behind strangers.
    double known_rate = 2000, known_burst = 4000;
    double stranger_ip_rate = 50, stranger_ip_burst = 100;
    double stranger_rate = 500, stranger_burst = 1000;
    std::size_t max_outbox_per_peer = 1000;  // messages waiting for one user
    // Chat messages remembered for de-duplication (about 66 bytes each); past it
    // the author holding the most forgets its oldest (src/core/seen.hpp).
    std::size_t max_seen = 100000;
    // Chat packets sent per second (and burst), first tries and retries alike:
    // a backlog goes out paced, not all at once into the receiver's socket buffer,
    // and below known_rate, so a steady flow never runs into the receiver's budget.
    double chat_send_rate = 1500, chat_send_burst = 128;
    // The same for chat whose every copy goes on a session channel: it costs the
    // receiver no signature check and spends none of its budget, so it is paced
    // only to keep a burst within what a socket buffer holds.
    double chat_channel_rate = 100000, chat_channel_burst = 256;
    // Largest deliverKnownList we build (bytes of the whole packet): below
    // wire::kMaxFrame, so a TCP answer is never refused; the rest is left out
    // and the answer is marked incomplete.
    std::size_t max_list_bytes = wire::kMaxFrame - 64 * 1024;
    TimeMs kx_rotation = 3600000;    // a session's sealing key is replaced this often (and at every start);
                                     // the previous one opens late messages for one more period, then is wiped
    // Session channels (darkchat-protocol(7), CHANNELS). A channel makes new keys after
    // this many packets or bytes sent under one key (and whenever either side's sealing
    // key rotates); past twice as many it sends nothing more under that key.
    // channels: false keeps every packet signed (a node with them off answers no
    // handshake, so its peers fall back to signed packets too).
    bool channels = true;
    std::uint64_t channel_rekey_packets = std::uint64_t{1} << 24;
    std::uint64_t channel_rekey_bytes = std::uint64_t{1} << 32;
    TimeMs channel_grace = 10000;              // replaced keys still open late packets this long
    TimeMs channel_handshake_retry = 1000;     // an unanswered hello is sent again after this ...
    TimeMs channel_handshake_timeout = 10000;  // ... until this long has passed since the first
    std::size_t max_channels = 4096;           // channels held at once (one per peer session)
    std::size_t max_half_open = 256;           // of them, handshakes not confirmed yet
    // Holding (darkchat-protocol(7), HOLDING). Messages for a user none of whose
    // sessions is online are left, sealed to its holding key, with up to
    // max_holders online contacts linked with it (and super-clients); what we
    // hold for others is handed over when its recipient is back. Both happen
    // every hold_interval while there is anything to do. What we hold is bounded
    // in all, per sender and in bytes, and dropped after hold_max_age.
    bool hold_for_others = true;
    TimeMs hold_interval = 5000;
    std::size_t max_holders = 2;
    std::size_t max_held = 4096;
    std::size_t max_held_per_sender = 512;
    std::size_t max_held_bytes = std::size_t{32} << 20;
    TimeMs hold_max_age = TimeMs{30} * 24 * 3600 * 1000;
};

// Commands from the user (the macros of seed 001).
namespace cmd {
struct Chat { std::string to; std::string text; };
struct Add { std::string user; };
struct Ping { Addr addr; };
struct Explode {};
struct Quit {};
struct Trust { std::string user; std::string fingerprint; };  // accept the new key seen for user
// A message of the group machine beside the node (groups_wire.hpp) for user:
// carried as chat (stored, numbered, retried until acknowledged) but never
// shown; what arrives comes out of poll_aside().
struct SendGroup { std::string to; Bytes payload; };
}  // namespace cmd
using Command = std::variant<cmd::Chat, cmd::Add, cmd::Ping, cmd::Explode, cmd::Quit, cmd::Trust, cmd::SendGroup>;

// What the node hands, during the input that caused it, to the parts that ride
// on it (the Host's group machine): drained with poll_aside() right after each
// input, before the turn's store ops are taken, so that what those parts store
// in answer is in the same commit as what rests on it (the acknowledgement).
namespace aside {
// A group message that arrived, from `from`, whose key the node pinned and checked, written
// on its session `session` (one of our own other devices when from is our own user).
struct GroupMessage { std::string from; PublicKey key{}; Bytes payload; SessionId session{}; };
// A user we watch went offline (no session answers) or came back.
struct UserStatus { std::string user; PublicKey key{}; bool online = false; };
}  // namespace aside
using Aside = std::variant<aside::GroupMessage, aside::UserStatus>;

// Events for the user.
namespace ev {
struct Ready { std::string user; Addr addr; SessionId session{}; };
struct Presence { std::string user; SessionId session{}; Addr addr; bool online = false; std::string why; };
// outgoing: one of our own, mirrored from another session; untrusted: signed by a
// key other than the one pinned for its author's name (see KeyWarning).
struct Message { HistoryRecord msg; bool outgoing = false; bool untrusted = false; };
// A message arrived under a key other than the pinned one for that name.
struct KeyWarning { std::string user; PublicKey pinned{}; PublicKey seen{}; };
struct Queued { MessageId id{}; std::string to; bool recipient_online = false; };
struct Delivered { MessageId id{}; std::string to; };
// A message for a user who is offline was left with a holder (holding), who
// hands it over when that user is back.
struct Held { MessageId id{}; std::string to; std::string holder; };
struct Linked { std::string user; bool by_them = false; };
struct Explored { std::size_t answers = 0; };  // \explode answers received so far
struct Notice { std::string text; };   // information caused by the user
struct Problem { std::string text; };  // an error caused by the user
}  // namespace ev
using Event = std::variant<ev::Ready, ev::Presence, ev::Message, ev::Queued, ev::Delivered,
                           ev::Linked, ev::Explored, ev::Notice, ev::Problem, ev::KeyWarning, ev::Held>;

struct Transmit {
    Addr to;
    Bytes data;  // a whole packet; the driver frames it for TCP when it is too big for UDP
    // Must go over TCP even if small: an answer to a sender we cannot authenticate
    // that is larger than its request (no reflection amplification over UDP).
    bool stream = false;
};

// Counters of what the node dropped and why (never fatal).
struct Stats {
    std::uint64_t received = 0;
    std::uint64_t sent = 0;
    std::uint64_t malformed = 0;      // could not be decoded
    std::uint64_t bad_signature = 0;  // outer or inner signature wrong
    std::uint64_t wrong_key = 0;      // a key other than the pinned one for that name
    std::uint64_t stale = 0;          // an older or equal sequence number
    std::uint64_t unsolicited = 0;    // answers nobody asked for, strangers' chat
    std::uint64_t duplicate = 0;      // chat messages seen before
    std::uint64_t undecryptable = 0;  // chat sealed to a key we do not (or no longer) hold
    std::uint64_t rate_limited = 0;   // over a sender's budget, dropped before any signature check
    std::uint64_t out_of_order = 0;   // chat messages that came before an earlier one of their author's and waited
    std::uint64_t on_channel = 0;       // packets opened on a session channel (their tag checked, no signature)
    std::uint64_t sent_on_channel = 0;  // of sent: on a session channel
    std::uint64_t channel_dropped = 0;  // channel packets dropped: replayed, unknown index, tag wrong, malformed
};

struct SessionView {
    SessionId session{};
    Addr addr;
    bool online = false;
    TimeMs last_seen = 0;
    bool super_client = false;
};

struct KeyView {
    std::string user;
    std::optional<PublicKey> pinned;  // none: no key seen yet
    std::optional<PublicKey> other;   // a different key seen since, not trusted
};

struct UserView {
    std::string name;
    bool contact = false;    // we linked them
    bool linked_us = false;  // they list us
    bool two_hop = false;    // a contact of one of our contacts
    std::vector<std::string> via;  // contacts through whom we know them
    std::vector<SessionView> sessions;
    bool online() const;
};

// The cryptography the core needs, injected so the simulator can count or replace it.
class Crypto {
public:
    virtual ~Crypto() = default;
    virtual Signature sign(const SecretKey& sk, ByteView msg) = 0;
    virtual bool verify(const PublicKey& pk, ByteView msg, const Signature& sig) = 0;
    // Sealing chat to a session's short-lived X25519 key (libsodium by default).
    virtual KxPublicKey kx_public(const KxSecretKey& sk);
    virtual Bytes seal(ByteView msg, const KxPublicKey& to);
    virtual std::optional<Bytes> open(ByteView sealed, const KxPublicKey& pk, const KxSecretKey& sk);
    // Unpredictable bytes: sealing keys, message ids, challenge nonces.
    virtual void random(std::span<std::uint8_t> out);
    // Session channels (libsodium by default): X25519 agreement (none for a low-order
    // point), ChaCha20-Poly1305 with a counter nonce (out may alias the input; seal
    // writes msg.size() + 16 bytes, open sealed.size() - 16 and fails on a wrong key or
    // any changed bit), and a keyed BLAKE2b for deriving keys.
    virtual std::optional<SymmetricKey> agree(const KxSecretKey& sk, const KxPublicKey& pk);
    virtual void aead_seal(std::uint8_t* out, ByteView msg, ByteView ad, std::uint64_t counter, const SymmetricKey& key);
    virtual bool aead_open(std::uint8_t* out, ByteView sealed, ByteView ad, std::uint64_t counter,
                           const SymmetricKey& key);
    virtual void hash(std::span<std::uint8_t> out, ByteView key, ByteView in);
};
// libsodium Ed25519.
Crypto& real_crypto();

class Node {
public:
    Node(Config config, Identity identity, Snapshot snapshot, Crypto& crypto, std::uint64_t rng_seed);
    ~Node();
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    // Declares this session online to every remembered contact session and server.
    void handle_start(TimeMs now);
    // A UDP datagram; from is its source address.
    void handle_datagram(TimeMs now, const Addr& from, ByteView data);
    // A packet that came as a frame over an inbound TCP connection; from is the
    // connection's peer (its port is ephemeral, not the sender's listening port).
    void handle_frame(TimeMs now, const Addr& from, ByteView data);
    void handle_timeout(TimeMs now);
    void handle_command(TimeMs now, const Command& c);

    // The driver could not apply what poll_store() gave it after the last input
    // or inputs (all of those handed in since the previous drain). What rested
    // on it is taken back, for each of those inputs, before any of their events
    // or transmits leaves: a message received is neither shown nor acknowledged
    // (its sender resends it), a message typed is refused with a Problem. Call
    // it before poll_event() and poll_transmit(); it returns the ops still
    // worth applying later (those of ops that nothing was taken back for).
    std::vector<StoreOp> handle_store_failed(TimeMs now, std::vector<StoreOp> ops);
    // Whether handle_store_failed(), called now, would take back event e (a
    // message shown or queued by an input since the last drain). A driver that
    // renders the events before it knows how their batch fares (to store what
    // it shows in the same transaction) drops those if the batch fails.
    bool takes_back(const Event& e) const;

    std::optional<StoreOp> poll_store();
    std::optional<Event> poll_event();
    std::optional<Transmit> poll_transmit();
    std::optional<TimeMs> poll_timeout() const;
    std::optional<Aside> poll_aside();

    // Read-only views for \users, \online, \offline and tests.
    std::vector<UserView> users() const;
    std::optional<UserView> user(const std::string& name) const;
    // Pinned keys (and any other key seen) for \keys; all users when name is empty.
    std::vector<KeyView> keys(const std::string& name = {}) const;
    const Identity& identity() const;
    const Stats& stats() const;
    bool quitting() const;  // \quit was handled: the driver exits once transmits are drained
    std::size_t outbox_size() const;
    // The core type a packet to this node carries (for a session channel's packet,
    // its inner type, if it opens), without handling it: for tests and tools that
    // sort what crosses the wire.
    std::optional<wire::MsgType> inner_type(TimeMs now, ByteView data);
    // Messages waiting in the outbox for user; at Config::max_outbox_per_peer a
    // new one to user is refused.
    std::size_t outbox_waiting(const std::string& user) const;
    std::size_t seen_size() const;  // chat messages remembered for de-duplication (at most max_seen)

private:
    void handle_packet(TimeMs now, const Addr& from, ByteView data, bool stream);
    struct State;
    std::unique_ptr<State> s_;
};

}  // namespace dc::core
