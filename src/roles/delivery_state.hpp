// The room client's delivery state, shared by its files: delivery.cpp (rooms, tickets,
// moves, the store, commands and timers), delivery_lines.cpp (lines and acks on the relay:
// join, send, resend, receive in order, ack), tags.cpp (tags and hops) and direct.cpp
// (rooms without a directory, groups' rooms). Internal to src/roles; the Delivery class is
// declared in delivery.hpp.
#pragma once

#include "hop.hpp"
#include "measuring.hpp"

namespace dc::roles::detail {

struct OutLine {
    MessageId id{};
    TimeMs sent = 0;
    TimeMs last_tx = 0;
    std::string text;
};

using Outbox = std::map<std::uint64_t, OutLine>;

// Our line key sealed to one member's room key. Once the member's ack says it opened this
// copy, it holds the key: new lines carry an empty copy for it (resends carry every copy).
struct KeyCopy {
    KxPublicKey kx{};
    Bytes sealed;
    bool held = false;
};

struct Held {
    MessageId id{};
    TimeMs sent = 0;
    std::string text;
};

// What we send to one member and what it sends us in a room are authenticated with two
// keys made from our room key and the member's (its signed MemberKey): made once, kept
// while the member's key stays the same.
struct PairKeys {
    KxPublicKey kx{};          // the member's room key they were made from
    core::SymmetricKey to{};   // tags on our lines and acks to the member
    core::SymmetricKey from{}; // tags on its lines and acks to us
    PairKeys() = default;
    PairKeys(const PairKeys&) = default;
    PairKeys& operator=(const PairKeys&) = default;
    ~PairKeys() {
        crypto::wipe(to);
        crypto::wipe(from);
    }
};

// The pair keys of us and them in room, from our room key's secret and their room key;
// none for a low-order key.
std::optional<PairKeys> make_pair_keys(core::Crypto& cr, const RoomId& room, const KxSecretKey& our_sk,
                                       const std::string& us, const KxPublicKey& their_kx, const std::string& them);
// The tag of body under key (keyed BLAKE2b, 16 bytes), and its check in constant time.
std::array<std::uint8_t, 16> member_tag(core::Crypto& cr, const core::SymmetricKey& key, ByteView body);
bool tag_matches(core::Crypto& cr, const core::SymmetricKey& key, ByteView body, const std::array<std::uint8_t, 16>& tag);

// One author's lines as we receive them.
struct Inbound {
    Bytes key_copy;       // the author's line key as sealed to us in its last line, and opened:
    core::SymmetricKey key{};  // opened once, not once per line
    std::uint64_t run = 0;       // the author's run these seqs belong to, 0: nothing seen yet
    std::uint64_t expected = 0;  // next seq to deliver, 0: nothing seen yet
    std::map<std::uint64_t, Held> buffer;  // out of order, bounded
    std::vector<std::uint64_t> retired;    // the author's earlier runs: their stragglers are dropped
};

struct Room {
    RoomId id{};
    wire::SignedBlob ticket_blob;
    wire::Ticket ticket;
    std::vector<std::string> members;  // shown; with a directory: who accepted
    std::set<std::string> required;    // whose acks an own line waits for
    bool direct = false;   // no directory: tickets signed by a member
    bool mine = false;     // direct, and we issued it (we relocate it)
    bool joined = false;
    bool announced = false;
    TimeMs next_join = 0;
    std::map<std::string, KxPublicKey> kx;  // members' sealing keys (verified roster)
    std::set<std::string> on_relay;          // who the relay's last roster says is joined
    std::map<std::string, Addr> served_at;   // where it serves them (a room's files go straight there)
    std::set<std::string> distrusted;        // members whose ticket key is not the one our node pinned
    std::uint64_t run = 0;  // our lines' run here: this process's, or the stored one of a restored room
    std::uint64_t next_seq = 1;
    Outbox outbox;
    // Our lines' key in this room for this process: each line is encrypted once under it
    // (counter: its seq), and the key is sealed once to each member's sealing key.
    core::SymmetricKey line_key{};
    std::map<std::string, KeyCopy> key_copies;
    std::map<std::string, PairKeys> pairs;  // per other member
    std::optional<Hop> hop;  // from the relay's last roster: its lines and acks to us
    bool hop_up = false;     // the roster said: our lines and acks to the relay go on the hop too
    std::map<std::string, std::uint64_t> acked;
    TimeMs next_resend = 0;
    std::map<std::string, Inbound> in;
    // direct rooms we issued: where the others are, and the move being announced
    std::map<std::string, Addr> peer_addrs;
    std::uint64_t move_id = 0;
    std::set<std::string> move_acked;
    TimeMs next_move_invite = 0;
};

}  // namespace dc::roles::detail
