// What one port runs, sans-IO: the user's core::Node and, with --dir or
// --relays, its room client; or the directory; or a relay. The Host routes each
// datagram and TCP frame by its wire type to the part that takes it, answers
// the parts' questions about each other (the keys the node pinned, where it
// knows a user's sessions), and merges their outputs in the order a driver
// must honour after every turn:
//   poll_store()     -> apply the batch, then handle_store_applied() or handle_store_failed()
//   poll_event()     -> show (a front end renders it, see session.hpp)
//   poll_transmit()  -> send
// and then arms one timer for poll_timeout(). Time is passed in; no sockets,
// clocks or SQLite here (src/io drives it with libuv, tests with virtual time).
//
// A turn is one input or several: a driver may hand in every datagram, frame
// and typed line that is ready (handle_*, or a command to a part) before it
// drains once. Then
//   - poll_store() gives ONE batch with the store ops of all of them (part
//     by part: what a transient failure kept of that part's first, then its
//     new ones in the order they were made), to be applied in one
//     transaction: one commit per turn;
//   - nothing the turn's inputs show or send is shown or sent before that
//     batch is answered, so "stored before shown, sent or acknowledged" holds
//     for the whole turn; a driver may poll the events first, to store what
//     they render in the same transaction, and hold them until the answer
//     (if the batch fails, it drops those takes_back() names);
//   - if the batch fails, every part takes back what rested on its own ops
//     for every input of the turn, exactly as for a single input (core::Node:
//     a message received is neither shown nor acknowledged, a duplicate of it
//     in the same turn neither, a message typed is refused); a part with no
//     ops in the batch is asked nothing, so what an earlier batch committed
//     is never taken back;
//   - events and transmits come out in the order of the inputs.
// A driver bounds a turn (a cap on inputs per turn) so that a flood of input
// cannot put the commit, and what waits on it, off without end.
#pragma once

#include "darkchat/core.hpp"
#include "darkchat/files.hpp"
#include "darkchat/groups.hpp"
#include "darkchat/roles.hpp"

#include <deque>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace dc::host {

// What a process is: a user's node (darkchat, or darkchatd with or without
// -s), or one of the roles of the directory and relays, which run without a
// core::Node.
enum class Role { user, directory, relay };

struct RoleOptions {
    Role role = Role::user;
    // user: the directory to register with (--dir), else client-side
    // round-robin over `relays` (--relays); neither: no rooms, no room client.
    // relay: the directory to register with; none: it admits members with
    // tickets signed by a member (client-side round-robin).
    std::optional<Addr> directory;
    std::vector<Addr> relays;
    // directory only: the selection strategy by name (empty: the default,
    // min-max), the background pass interval and the relay timeout (0: defaults).
    std::string strategy;
    TimeMs pass_interval = 0;
    TimeMs relay_timeout = 0;
    // relay only: rooms hosted at most (0: the default of roles::RelayConfig).
    std::size_t max_rooms = 0;
};

struct Config {
    core::Config node;  // node.port: the port we listen on (every part declares it)
    RoleOptions roles;
    // A group we coordinate that has this many members moves its lines onto the best
    // relay we measure, when there is one (0: only \via moves groups).
    std::size_t group_relay_at = 8;
};

// A line already in words: what the directory and a relay log, and what the
// Host says about the store.
struct Line {
    std::string text;
};
using Event = std::variant<core::Event, roles::RoomEvent, Line, groups::Event, files::Event>;

// Why the driver could not apply a batch. transient: the same batch may be
// stored later unchanged (a full disk, a busy database); otherwise retrying
// cannot help (read-only, corrupt, an I/O error) and the Host stops.
struct StoreFailure {
    std::string error;
    bool transient = false;
};

class Part;

class Host {
public:
    // snapshot: what the user's node and room client stored before (ignored by
    // the directory and the relay). Fails on options no part accepts.
    static Result<std::unique_ptr<Host>> create(const Config& config, const Identity& identity, Snapshot snapshot,
                                                core::Crypto& crypto, std::uint64_t seed);
    ~Host();
    Host(const Host&) = delete;
    Host& operator=(const Host&) = delete;

    // Once the socket is bound; bound is our listening address.
    void handle_start(TimeMs now, const Addr& bound);
    void handle_datagram(TimeMs now, const Addr& from, ByteView data);
    // A packet framed over an inbound TCP connection (from: the peer's ephemeral address).
    void handle_frame(TimeMs now, const Addr& from, ByteView data);
    // Every part whose wakeup has come gets its timeout.
    void handle_timeout(TimeMs now);
    // The CPU use the driver measured, about once a second and only when the role is
    // relay: the relay reports it to the directory (--strategy cpu, darkchatd(8)).
    void handle_cpu(const roles::CpuUse& use);
    // Asked to stop (\quit, SIGINT, SIGTERM, end of input): every part says
    // goodbye through its transmits, then quitting() holds.
    void handle_quit(TimeMs now);

    // The batch to apply in one transaction: everything the parts want stored
    // since the last drain, for all inputs of the turn (each part's kept ops
    // before its new ones); null when there is nothing, and null once more
    // right after a batch was answered, which ends the drain's store step. A
    // batch is answered before the next poll_store(); the pointer lives until then.
    const std::vector<StoreOp>* poll_store();
    void handle_store_applied(TimeMs now);
    // What rested on the batch is taken back by each part that gave ops, for
    // every input of the turn (a message received is neither shown nor
    // acknowledged), or, where a part cannot, its transmits of the turn are
    // held back. A transient failure keeps the batch for the next turn (or a
    // retry within a second); a permanent one says why, and the Host quits
    // with exit_status() 1.
    void handle_store_failed(TimeMs now, const StoreFailure& failure);
    // A driver that stores what it shows in the turn's transaction (the daemon
    // API's event log) polls the events before it answers the batch, holds them
    // back, and if the batch fails drops those this says are taken back (a
    // message received or typed in the turn), showing the rest.
    bool takes_back(const Event& e) const;

    std::optional<Event> poll_event();
    std::optional<core::Transmit> poll_transmit();
    std::optional<TimeMs> poll_timeout() const;
    bool quitting() const;  // a part is done: exit once transmits are drained
    int exit_status() const;
    // What is still unsaved, for one last try at exit.
    std::vector<StoreOp> take_unsaved();

    // The parts a front end commands and reads (null when this port runs none).
    core::Node* node();
    roles::RoomClient* room_client();
    // Conversation groups (darkchat-groups(7)): every user node runs them; their
    // messages ride on the node's stored, acknowledged chat (host.cpp, settle()).
    groups::Machine* groups();
    // A command to the group machine. Commands go through here, not to the
    // machine itself, so that what they send reaches the node in the same turn.
    void handle_group_command(TimeMs now, const groups::Command& c);
    // \via: the group's lines through the relay we measure best (to_relay), or member
    // to member again. An error in words when we cannot (no relay answers us).
    Result<void> move_group(TimeMs now, const groups::GroupId& group, bool to_relay);
    // File transfers (darkchat-protocol(7), FILES): every user node runs them. Their
    // offers, answers, wants and ends ride on the node's chat like group messages (to
    // every online session of the peer, each answering with its own session id);
    // chunks go straight to the session that asked for them as TCP frames
    // (MsgType::file_data).
    files::Machine* files();
    // A manifest for a file of this name and size, signed by us when finished.
    files::ManifestBuilder manifest_builder(std::string name, std::uint64_t size, std::string media_type);
    // Offers the file of that manifest (finished from manifest_builder) at path to
    // user, a name whose key the node pinned: to each of its sessions, and under an id
    // of its own to each of our own other devices online. An error in words when it cannot.
    Result<void> offer_file(TimeMs now, const std::string& user, files::ManifestBuilder& manifest,
                            const std::string& path);
    // Shares the file of that manifest at path with every member of a group we are in
    // (darkchat-protocol(7), FILES IN GROUPS): each hears of it, and it is held here to
    // serve any member that asks. An error in words when it cannot.
    Result<void> share_file(TimeMs now, const groups::GroupId& group, files::ManifestBuilder& manifest,
                            const std::string& path);
    // A command to the file machine (accept, decline, cancel), through here so that
    // what it sends reaches the node in the same turn.
    void handle_file_command(TimeMs now, const files::Command& c);
    // The file operations to perform before the store batch (poll_store()): each
    // write lands before the record that counts it. A read is answered with
    // handle_file_read or handle_file_read_failed, at once or later; a chunk to open
    // with handle_file_opened, at once or later, in any order.
    std::optional<files::IoOp> poll_file_io();
    // peer, session: the io::Read's.
    void handle_file_read(TimeMs now, const files::FileId& id, files::Side side, std::uint32_t index,
                          ByteView bytes, const PublicKey& peer = {}, const SessionId& session = {});
    void handle_file_read_failed(TimeMs now, const files::FileId& id, files::Side side, const std::string& why,
                                 const PublicKey& peer = {}, const SessionId& session = {});
    void handle_file_write_failed(TimeMs now, const files::FileId& id, std::uint32_t index);
    // An io::Open done (files::open_chunk, with file_crypto() or any crypto as stateless).
    void handle_file_opened(TimeMs now, const files::FileId& id, std::uint32_t index, files::Opened result,
                            Bytes plain);
    files::Crypto& file_crypto() { return *file_crypto_; }
    // The user name for an identity key: the name the node pinned it under, else
    // the name a group or a request gave it; empty when nothing knows it.
    std::string name_of(const PublicKey& key) const;
    const Config& config() const;
    std::uint16_t port() const;
    // What the node knows, as the room client asks it: the key pinned for a
    // user, and where its sessions are (online ones first; only that session's when one
    // is named).
    std::optional<PublicKey> pinned(const std::string& user) const;
    std::vector<Addr> addresses_of(const std::string& user, const SessionId& session = {}) const;
    // The sessions of user online now (devices), our own session left out.
    std::vector<SessionId> online_sessions(const std::string& user) const;

private:
    Host(const Config& config);
    void note(std::size_t part, std::string text);
    // Carries what the node and the group machine have for each other (host.cpp).
    void settle(TimeMs now);
    void carry(const groups::Outgoing& m);
    void carry(const files::Outgoing& m);
    void release_parked();
    // Groups we coordinate follow their relays: off one that died (to another, or
    // member to member), onto one when they grew to group_relay_at.
    void tend_group_relays();
    // The relay we measure best (the lowest rtt), other than except.
    std::optional<groups::cmd::Relay> best_relay(const std::optional<Addr>& except = std::nullopt) const;
    std::string pinned_name(const PublicKey& key);  // the name the node pinned key under
    std::optional<StoreOp> line_op(const Event& e) const;  // a group's or room's line, kept for \history

    Config config_;
    std::unique_ptr<files::Peers> file_peers_;  // the groups' members and who is online, for the file part
    std::vector<std::unique_ptr<Part>> parts_;  // the node first, when there is one
    std::vector<std::deque<std::string>> notes_;  // per part: what the Host says before its events
    // Per part: whether its lines are kept for \history (the groups, the room
    // client), its events taken with the batch that keeps their lines, and the
    // lines of events shown before a batch took them.
    std::vector<bool> keeps_lines_;
    std::vector<std::deque<Event>> early_;
    std::vector<std::vector<StoreOp>> late_lines_;
    core::Node* node_ = nullptr;
    roles::RoomClient* client_ = nullptr;
    groups::Machine* groups_ = nullptr;
    files::Machine* files_ = nullptr;
    std::deque<core::Transmit> frames_;  // file chunks to send, taken by the files part
    std::unique_ptr<files::Crypto> file_crypto_;  // manifests of files we offer
    Identity self_;                               // signs them (wiped with the Host)
    std::map<PublicKey, std::string> names_;  // keys to the names the node pinned them under (a cache)
    std::deque<groups::Outgoing> parked_;     // group messages waiting for their name to be pinned
    std::vector<groups::Outgoing> carried_;   // group messages put in the outbox since the last batch
    std::vector<groups::Outgoing> recarry_;   // of them, what a failed batch took back: carried again
    std::set<groups::GroupId> wanted_;        // groups we coordinate that are to go through a relay
    std::set<groups::GroupId> auto_moved_;    // groups sent to a relay for their size, or back by \\via peers
    TimeMs now_ = 0;                          // the latest time an input brought
    std::vector<StoreOp> batch_;     // the batch out: each part's ops (what failed before first)
    std::vector<std::size_t> ends_;  // per part: where its ops in batch_ end
    std::size_t first_part_ = 0;     // the first part with ops in batch_ (says the store notices)
    bool answered_ = false;          // the batch out was answered: poll_store() says so once
    std::vector<std::vector<StoreOp>> unsaved_;  // per part: what a transient failure kept, to try again
    std::optional<TimeMs> retry_at_;
    std::string last_store_error_;
    TimeMs last_store_error_at_ = 0;
    int exit_status_ = 0;
};

}  // namespace dc::host
