// The directory's state, shared by its two files: directory.cpp (relays' and clients'
// heartbeats, chats adopted after a restart, the state each client is sent) and
// directory_chats.cpp (the request flow, groups' rooms, chats, their placement and
// relocation). Internal to src/roles; see roles.hpp for the Directory itself.
#pragma once

#include "placement.hpp"

#include <deque>
#include <map>
#include <set>

namespace dc::roles {

namespace detail {

struct ClientRec {
    std::string name;
    PublicKey key{};  // pinned on first registration
    Addr addr;
    TimeMs last_seen = 0;
    bool alive = false;
    DelayVector delays;
    std::uint64_t version = 0;        // of its ClientState; +1 on every change
    std::uint64_t acked_version = 0;  // the newest the client says it applied
    std::uint64_t report_seen = 0;    // the newest delay report applied
    TimeMs pushed = 0;                // when its state was last sent
};

struct Invitee {
    std::string user;
    Stage stage = Stage::ack_conn;
    std::uint64_t added_version = 0;  // invitee's state version that first listed the invite
    std::uint32_t reminders = 0;
    TimeMs next_remind = 0;
    std::string detail;
};

struct Request {
    std::string from;
    std::uint64_t client_id = 0;  // the requester's id for it
    std::vector<Invitee> invitees;
    TimeMs created = 0;
    std::optional<RoomId> room;  // created at the first accept
    std::uint64_t final_version = 0;  // requester's version when every invitee was final
};

// A relay or client that is heard from at a new address while it was heard at its known
// one less than this ago is not moved (a replayed heartbeat cannot redirect its traffic).
constexpr TimeMs kMoveQuiet = 2000;

}  // namespace detail

using namespace detail;

struct Directory::State {
    DirectoryConfig cfg;
    Envelope env;
    Placement placement;
    std::uint64_t boot = 0;
    TimeMs now = 0;
    TimeMs next_pass = 0;
    bool started = false;

    RelayTable relays;
    std::map<std::string, ClientRec> clients;
    std::map<std::uint64_t, Request> requests;  // by the directory's id (also the invitee's IncomingRequest id)
    std::uint64_t next_request_id = 1;
    ChatTable chats;
    std::set<std::string> dirty;  // clients whose state changed: push at the end of the call
    std::deque<DirectoryEvent> events;

    State(DirectoryConfig c, Identity id, core::Crypto& crypto, std::uint64_t seed)
        : cfg(std::move(c)), env(std::move(id), crypto, cfg.port, cfg.ip_rate, cfg.ip_burst), placement(cfg, seed) {
        boot = env.nonce();
    }

    void event(DirectoryEvent e) { events.push_back(std::move(e)); }

    void touch(const std::string& name) {
        auto it = clients.find(name);
        if (it == clients.end()) return;
        ++it->second.version;
        dirty.insert(name);
    }
    void touch_all() {
        for (auto& [n, c] : clients)
            if (c.alive) touch(n);
    }

    void start(TimeMs t) {
        if (started) return;
        started = true;
        next_pass = t + cfg.pass_interval;
    }

    // ---- relays ---------------------------------------------------------------------

    void on_relay_heartbeat(const Incoming& in, const wire::RelayHeartbeat& hb);

    // ---- clients --------------------------------------------------------------------

    // The client record of the sender, registering it (name pinned to key on first
    // registration); none if the name is pinned to another key or the table is full.
    ClientRec* client_of(const Incoming& in);
    void on_client_heartbeat(const Incoming& in, const wire::ClientHeartbeat& hb);

    // Invites the invitee's client now has: REQ_SENT for their requesters.
    void mark_received(const ClientRec& c);
    void take_ticket(Chat& ch, const wire::Ticket& t, const wire::SignedBlob& blob);

    // A chat the client holds that this directory run does not know (after a restart):
    // taken back if the ticket is ours and names the client, with the members the client
    // knew that the ticket names (so nobody's lines stop waiting for a member who simply
    // has not reported yet).
    void adopt(ClientRec& c, const wire::HeldChat& held);

    // ---- the request flow (directory_chats.cpp) ---------------------------------------

    void set_stage(Request& r, Invitee& inv, Stage s, std::string detail = {});
    std::size_t chats_of(const std::string& name) const;
    std::size_t open_requests_of(const std::string& name) const;
    void on_chat_request(const Incoming& in, const wire::ChatRequest& req);
    void on_chat_answer(const Incoming& in, const wire::ChatAnswer& a);
    void on_chat_leave(const Incoming& in, const wire::RoomLeave& l);

    // ---- groups' rooms (directory_chats.cpp) ---------------------------------------------

    // The groups a coordinator names in its heartbeat: each placed (or kept where it is,
    // with the list it names now); those of its it no longer names are forgotten. A group
    // named by another client is taken over by it: the group's coordinator changed.
    void place_groups(ClientRec& c, const std::vector<wire::GroupWish>& wishes);

    // ---- chats (directory_chats.cpp) --------------------------------------------------

    std::vector<DelayVector> delays_of(const std::vector<std::string>& members) const;
    wire::SignedBlob issue(const Chat& ch);

    // A chat is created at the first accept, with the requester and the accepter as
    // members; the ticket names every invitee still open, so later accepters join the
    // same room (rooms of more than two) and nobody else can.
    std::optional<RoomId> create_chat(const Request& r, const std::string& accepter);
    void move(Chat& ch, const Candidate& to, MoveReason why, std::uint32_t old_ms, std::uint32_t new_ms);

    // Relocation, the one place that decides it (Placement::relocation): every chat in
    // key order, each move counted on its new relay before the next chat is placed.
    void relocate();

    // The background pass: relays and clients that went silent, request timers, relocation.
    void pass();

    // ---- state pushes -----------------------------------------------------------------

    wire::ClientState state_of(const ClientRec& c) const;
    void flush();
    void on_datagram(const Addr& from, ByteView data);
};

}  // namespace dc::roles
