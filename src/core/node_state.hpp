// Internal to the core: the node's state, shared by the files that handle its
// inputs (node.cpp routes each input; node_presence.cpp, node_declare.cpp,
// node_chat.cpp, node_liveness.cpp and node_commands.cpp handle them). The
// parts it holds (Envelope, SenderBudgets, Trust, Liveness, Outbox) each own
// their state and are tested alone; this struct holds what ties them together.
#pragma once

#include "core/channel.hpp"
#include "core/chat_order.hpp"
#include "darkchat/core.hpp"
#include "darkchat/crypto.hpp"
#include "core/seen.hpp"
#include "core/budgets.hpp"
#include "core/envelope.hpp"
#include "core/holding.hpp"
#include "core/liveness.hpp"
#include "core/outbox.hpp"
#include "core/own_declaration.hpp"
#include "core/presence.hpp"
#include "core/requests.hpp"
#include "core/sealing_keys.hpp"
#include "core/trust.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <tuple>

namespace dc::core {

inline constexpr SessionId kAnySession{};
inline constexpr std::size_t kMaxLookups = 32;      // nodes asked where a new contact is

inline bool has(const std::vector<std::string>& v, std::string_view s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

struct Node::State {
    Config cfg;
    Envelope env;
    const Identity& id = env.id();
    Crypto& crypto = env.crypto();
    // The parts (each owns its state; see their headers).
    SenderBudgets budgets;
    Trust trust;
    Liveness liveness;

    Presence presence{cfg, id};
    Presence::Users& users = presence.users();
    Outbox outbox{cfg};
    SeenMessages seen{cfg.max_seen};
    Requests requests;
    SealingKeys kx{crypto};
    OwnDeclaration own;
    // Declarations already acted on (forwarded, answered): session, sequence and
    // nonce (an \explode re-sends the same declaration with a fresh nonce), as
    // fingerprints keyed with a secret made from our identity.
    static SymmetricKey handled_key(Crypto& crypto, const Identity& id);
    HandledDeclarations handled{4096, crypto, handled_key(crypto, id)};
    // Session channels (channel.hpp) to the sessions we talk to, whose user each
    // belongs to, and the address each is reached at (so that send() finds the
    // channel of an address). Handshakes are handed in only after the trust check.
    Channels channels{crypto, id.pk, id.session, ChannelConfig::from(cfg)};
    struct ChannelPeer {
        std::string user;
        User* entry = nullptr;   // user's entry, once found (entries are never erased)
        std::optional<Addr> at;  // its key in channel_at, if it has one
    };
    std::map<SessionId, ChannelPeer, SessionIdLess> channel_users;
    std::map<Addr, SessionId> channel_at;  // each session at one address at most

    bool links_changed = false;  // someone linked us: re-declare once the packet is handled

    // Timers: poll_timeout() returns a cached wakeup. It is recomputed (a scan
    // of the watched sessions and the outbox) only when a watched session's
    // timers or our own changed (wake_dirty); a new outbox deadline only lowers
    // it (soon()). A deadline that moved later costs at most one early wakeup.
    // Packets from the rest of the network never cause a scan.
    mutable bool wake_dirty = true;
    mutable std::optional<TimeMs> wake_cache;
    void soon(TimeMs t) {
        if (wake_cache) wake_cache = std::min(*wake_cache, t);
        else wake_dirty = true;
    }

    bool quitting = false;
    TimeMs next_refresh = 0;
    TimeMs last_sent = 0;  // our messages' sent times strictly increase (seen.hpp orders by them)
    TimeMs now = 0;
    TimeMs started_at = 0;

    std::deque<StoreOp> store_out;
    std::deque<Event> events_out;
    std::deque<Aside> asides_out;  // for the parts riding on the node (poll_aside)
    // A transmit that rests on a message being stored (its ack, its mirror, the
    // message itself) names it: if the store fails, it is not sent.
    struct Out {
        Transmit t;
        std::optional<MessageId> dep;
    };
    std::deque<Out> tx_out;
    std::optional<MessageId> depends_on;  // tags what send() queues meanwhile
    Stats stats;

    // Direct chat in the order each author wrote it (chat_order.hpp): the
    // receiving side, and the number our session gave its last message to each user.
    ChatOrder order;
    std::map<std::string, std::uint64_t, std::less<>> send_seq;

    // What the inputs since the driver last drained poll_store() did on the
    // assumption that their store ops are applied: undone by
    // handle_store_failed() if they are not. A driver may hand in several
    // inputs before it drains (one commit per turn), so this is kept until
    // the ops it rests on have been taken: an input that finds store_out
    // empty starts afresh (new_input()).
    struct Tentative {
        MessageId id{};
        std::string author;
        TimeMs sent = 0;
        bool typed = false;            // written here (else: received and shown)
        bool group = false;            // a group message: nothing was shown, so nothing is said if it fails
        std::string to;                // typed: its recipient
        std::optional<StreamKey> stream;
        std::uint64_t prev_seq = 0;    // the stream's number before (received: last shown; typed: last given)
    };
    std::vector<Tentative> tentative;
    // What we took to hold for others in those inputs (to, id): forgotten, and
    // its holdAck not sent, if its store op is not applied.
    std::vector<std::pair<std::string, MessageId>> held_new;
    void new_input() {
        if (store_out.empty()) {
            tentative.clear();
            held_new.clear();
        }
    }

    // ---- holding (node_holding.cpp; darkchat-protocol(7), HOLDING) -------------

    Holding holding{cfg};  // what we hold for others
    // Our holding key: made from our identity, so every session of our user has
    // it and it survives restarts with no secret of its own in the store.
    KxSecretKey hold_sk{};
    KxPublicKey hold_pk{};
    TimeMs next_hold = 0;  // the next holding round (hold_round)
    // (holder, recipient): a holder that refused to hold for that recipient is
    // not asked again before then; the refusal was shown once.
    std::map<std::pair<std::string, std::string>, TimeMs> hold_refused;

    void make_hold_key();
    // Whether a holding round has anything to do (so that a node with nothing
    // held and nothing waiting sets no timer for it).
    bool hold_work() const { return holding.size() > 0 || outbox.size() > 0; }
    // Every hold_interval: drops what is too old, hands over what we hold for
    // users who are back, and leaves what waits for offline users with holders.
    void hold_round();
    // Hands what we hold for `to` to its online sessions (those not handed in
    // the last hold_interval).
    void hand_over(const std::string& to);
    void leave_with_holders();
    // Who may hold for target: its online contacts we are linked with (they
    // hear when it is back) and super-clients, each with one online session.
    std::vector<std::pair<std::string, Addr>> holders_for(const User& target) const;
    void on_hold(const wire::Header& h, const Addr& back, const wire::Hold& p);
    void on_hold_ack(const wire::Header& h, const wire::HoldAck& p);
    void on_hand_over(const wire::Header& h, const Addr& back, const wire::HandOver& p);

    State(Config c, Identity i, Crypto& cr, std::uint64_t seed)
        : cfg(std::move(c)),
          env(std::move(i), cr, cfg.port, cfg.stranger_ip_rate, cfg.stranger_ip_burst),
          liveness(cfg, id.session, seed) {
        make_hold_key();
    }

    // ---- small helpers -------------------------------------------------------

    // Challenges must be unpredictable, so they come from the injected Crypto, not rng.
    std::uint64_t nonce() { return env.nonce(); }
    MessageId message_id() { return env.random_id<std::tuple_size_v<MessageId>>(); }

    Addr self_addr() const;

    void event(Event e) { events_out.push_back(std::move(e)); }
    void store(StoreOp op) { store_out.push_back(std::move(op)); }

    // Over the channel of the session at `to` when it has keys, else as a signed packet.
    void send(const Addr& to, wire::MsgType type, const Bytes& payload);
    void send_signed(const Addr& to, wire::MsgType type, const Bytes& payload);
    // True when it went out on a channel.
    bool send_on_channel(const Addr& to, wire::MsgType type, const Bytes& payload);

    // ---- session channels ----------------------------------------------------

    // A session we talk to: a channel to it, its handshake started when there is none.
    void want_channel(const std::string& user, const Session& s);
    // The channel to sid belongs to user's session, reached at addr.
    void remember_channel(const std::string& user, const SessionId& sid);
    void channel_address(const SessionId& sid, const Addr& addr);
    void forget_channel(const SessionId& sid);
    // The session a channel belongs to, if we still know it.
    Session* channel_session(const SessionId& sid, const std::string** user = nullptr);
    // Hands what the channels want sent to the network.
    void drain_channels();
    void on_channel_packet(const Addr& from, ByteView data, bool stream);
    void new_kx();

    // The packet being handled, while it is handled.
    struct Request {
        Addr from;
        std::size_t size = 0;
        bool authenticated = false;  // a known session, at the address we know it by
        bool channel = false;        // it came on a session channel (no signature, its AEAD tag checked)
    };
    std::optional<Request> request;

    // ---- budgets -------------------------------------------------------------
    bool within_budget(const wire::Header& h, const Addr& from, bool authenticated, bool stream);

    // Returns false when it was remembered already.
    bool remember_handled(const SessionId& s, std::uint64_t seq, std::uint64_t n) { return handled.insert(s, seq, n); }

    std::uint64_t add_pending(PendingKind kind) { return requests.add(kind, nonce(), now); }

    // ---- our own declaration -------------------------------------------------

    // Signs a new declaration of this session (after a change of status or links).
    void redeclare(bool online_now);

    Bytes declare_payload(std::uint8_t hops, bool reply, bool explode, std::uint64_t n) const {
        return own.payload(hops, reply, explode, n);
    }
    wire::MsgType declare_type() const { return own.type(); }

    // Where we declare ourselves: every session of our contacts and of our own
    // user (unless it declared itself offline, when `all` is false), and the servers.
    std::vector<Addr> declaration_targets(bool all) const;

    // With reply, the answers echo a fresh challenge, so they prove their senders alive.
    void declare_to_all(bool all, bool reply) {
        auto payload = declare_payload(1, reply, false, reply ? add_pending(PendingKind::probe) : 0);
        for (auto& a : declaration_targets(all)) send(a, declare_type(), payload);
    }

    // A contact's session: what it knows matters enough to ask again if the answer does not come.
    void ask_list_of(Session& s, std::vector<std::string> want = {}) {
        s.list_asked = now;
        ask_user_list(s.rec.addr, std::move(want));
    }

    // A requestUserList; its answer's later pages are asked for as they come.
    void ask_user_list(const Addr& to, std::vector<std::string> want = {}, std::string after = {},
                       std::size_t pages = 1);

    // ---- sessions ------------------------------------------------------------

    // The entry for name (presence.hpp), storing its key when it is pinned now.
    User& user_entry(const std::string& name, const PublicKey& key);
    // Prunes u's sessions (presence.hpp), forgetting the dropped ones in the store.
    void prune(User& u) {
        for (auto& sid : presence.prune(u)) {
            store(store_op::DeleteSession{u.rec.name, sid});
            forget_channel(sid);
        }
    }

    // user: the name of the user the session belongs to (the key of its entry).
    void persist(const std::string& user, const Session& s) {
        store(store_op::PutSession{SessionRecord{s.rec, user}});
    }

    void show_presence(const User& u, const Session& s, const std::string& why) {
        tell_user_status(u);
        if (!presence.watched(u) || presence.is_self(u.rec.name, s.rec.session)) return;
        event(ev::Presence{u.rec.name, s.rec.session, s.rec.addr, s.online(), why});
    }

    // Recomputes u's links (presence.hpp); a new edge made by them is shown and declared.
    void recompute_links(User& u, const Session* fresh = nullptr, const std::vector<std::string>* fresh_links = nullptr) {
        if (!presence.recompute_links(u, fresh, fresh_links)) return;
        event(ev::Linked{u.rec.name, true});
        links_changed = true;
    }

    // A verified packet arrived from this session: it is alive.
    void heard_from(const std::string& user, const SessionId& sid);

    // A contact's session changed status by what our probes found (no
    // declaration says so): tell our other contacts, for whom it is two hops
    // away. It is our belief, not the user's word: a deliverKnownList with no
    // nonce and the session's signed declaration, read only from contacts.
    void tell_contacts(const User& x, const Session& s);

    // Accepts a verified declaration. Returns true when it was newer than what we had.
    bool accept_declaration(const wire::Declaration& d, const wire::SignedBlob& blob, Addr addr);

    // Another session of our own user lists contacts we lack: links are per user, not per device.
    void adopt_links(const std::vector<std::string>& links);

    // ---- incoming packets ------------------------------------------------------

    // The pinned key for a name must match; an unknown name is not yet pinned.

    bool key_ok(const std::string& user, const PublicKey& key);

    // A chat message signed by a key other than the pinned one: shown, marked,
    // never stored, acked or mirrored; the first one from that key warns.
    void on_untrusted_chat(const wire::Header& h, const wire::ChatMessage& m, const wire::SignedBlob& msg);

    // \trust: pins the other key seen for name, if fingerprint is its own.
    void trust_key(const std::string& name, const std::string& fingerprint);

    std::optional<wire::Declaration> open_declaration(const wire::SignedBlob& blob);

    void on_packet(const Addr& from, ByteView data, bool stream);

    // A datagram's source is the sender's socket: it is a known session only
    // if it comes from exactly the address that session declared, never
    // because of the port its header claims. A TCP frame comes from an
    // ephemeral port; its source ip took a handshake to prove, so the ip
    // must match, and it spends its own budget (see within_budget).
    bool is_known_sender(const wire::Header& h, const Addr& from, bool stream) const;

    // A verified packet from a sender whose key is the pinned one: by type to its handler.
    void dispatch(const wire::Header& h, const Addr& back, const Bytes& body);

    // Only a pong echoing the challenge we sent that session proves it alive.
    void on_pong(const wire::Header& h, std::uint64_t n);

    bool known_session(const wire::Header& h) const { return presence.known_session(h.from_user, h.from_session); }

    void on_declare(const wire::Header& h, const Addr& back, const wire::Declare& p, bool online_type);

    void forward_declaration(const wire::Declaration& d, const wire::Declare& p, const Addr& addr);

    // Passes a contact's declaration one hop on, to our other contacts.
    void spread(const wire::Declaration& d, const wire::SignedBlob& blob, const Addr& addr);

    void on_request_ping(const wire::Header& h, const Addr& back, const wire::RequestPing& p);

    wire::KnownSession known(const Session& s) const {
        return wire::KnownSession{s.rec.decl, s.rec.addr, s.online() || s.unconfirmed, s.rec.last_seen};
    }

    void on_request_user_list(const wire::Header& h, const Addr& back, const wire::RequestUserList& p);

    // An upper bound of the bytes a KnownSession adds to an encoded
    // deliverKnownList ([[body, sig], [family, ip, port], online, last_seen]
    // in msgpack, each number at its widest).
    static constexpr std::size_t kListOverhead = 512;  // the packet's header, signature, framing
    static std::size_t known_size(const wire::KnownSession& k);

    // A contact's belief about a session it watches (tell_contacts): only for
    // users two hops away through it, and only for the declaration we hold.
    void on_belief(const wire::Header& h, const wire::DeliverKnownList& p);

    void on_known_list(const wire::Header& h, const Addr& back, const wire::DeliverKnownList& p);

    // ---- chat ----------------------------------------------------------------

    void on_chat(const wire::Header& h, const Addr& back, const wire::Chat& c, bool trusted_sender = true);
    // A chat message whose author is checked, for us, from h's sender: shown
    // (or held for an earlier one of its stream) once, acknowledged to back.
    void take_chat(const wire::Header& h, const Addr& back, const wire::ChatMessage& m, const wire::SignedBlob& msg,
                   std::uint64_t base);

    // Shows a message that is due, and every held one that it lets follow: each
    // is stored (with its stream's new number) before it is shown and acknowledged.
    void show_chat(HeldChat&& first);

    // Held messages whose gap did not fill in time: shown, the gap skipped.
    void release_overdue() {
        for (auto& x : order.overdue(now)) show_chat(std::move(x));
    }

    // Takes back what rested on store ops that could not be applied.
    std::vector<StoreOp> store_failed(std::vector<StoreOp> ops);

    void on_chat_ack(const wire::Header& h, const wire::ChatAck& p);
    // The recipient has e: it leaves the outbox (stored first).
    void delivered(const wire::Header& h, const OutEntry& e);

    // Plain acks (neither held nor wanting) wait until the driver drains the
    // transmits of the turn, by which time the turn's store ops are applied (or
    // taken back, with their acks): then each address gets them in one datagram
    // (flush_acks, from poll_transmit), however many messages the turn brought.
    // Messages of the stream their sender's session writes to us are said in one
    // number (ChatAck::upto, what the stream's order shows by then); others by id.
    struct AckOut {
        MessageId id{};
        std::uint64_t seq = 0;  // its number in the sender's own stream to us, or 0
        SessionId session{};    // that stream's session (the sender's)
    };
    std::map<Addr, std::vector<AckOut>> acks_out;
    // m as it came from sender_user's session sender_session.
    void ack_plain(const Addr& back, const wire::ChatMessage& m, const std::string& sender_user,
                   const SessionId& sender_session);
    void ack_plain(const Addr& back, const AckOut& a);
    void flush_acks();

    // The receiver of e misses number `want` of e's stream while it holds later ones.
    void resend_wanted(const OutEntry& e, std::uint64_t want) {
        if (OutEntry* o = outbox.wanted(e, want, now)) try_send(*o);
    }

    // Puts a message in the outbox for target (a user, or our own user for mirroring).
    void queue(const wire::SignedBlob& blob, const wire::ChatMessage& m, const std::string& target);

    // Sends an outbox entry to every online session of its target, sealed to
    // each session's current key, unless the pacer holds it back (false).
    bool try_send(OutEntry& e);

    void flush_outbox(const std::string& user) {
        for (auto* e : outbox.flush(user, now))
            if (!try_send(*e)) break;
    }

    void send_chat(const std::string& to, const std::string& text, Bytes group = {});
    // A user's status as a whole (online: some session is) for the parts riding on the node.
    void tell_user_status(const User& u);

    // ---- liveness --------------------------------------------------------------

    // Common neighbours of a user: online sessions of our contacts linked with it,
    // and the servers.
    std::vector<Addr> common_neighbours(const User& target);

    // requestPing through common neighbours: they pass it on to the session and
    // tell us where they know it to be.
    void ask_neighbours_to_reach(const User& u, const Session& s);

    // A probe round (liveness.hpp); what it finds, we act on.
    void probe(User& u, Session& s);

    // A lost session (a fragmented network, a crashed node): keep knocking, with backoff.
    void reconnect(User& u, Session& s);

    void tick();

    // A super-client does not probe the whole network; every node re-declares
    // itself to its servers each refresh_interval, so a session silent for three
    // intervals is taken for offline in the super-client's complete answers.
    void age_sessions();

    std::optional<TimeMs> next_wakeup() const;

    // ---- commands --------------------------------------------------------------

    void add(const std::string& name);

    void ping(const Addr& to);

    void explode();

    void quit();
};

}  // namespace dc::core
