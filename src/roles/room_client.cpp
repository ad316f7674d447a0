// The user side of directory and relays (roles.hpp, darkchat-rooms(7)).
//
// Three jobs:
//  - measuring: one probe per known relay per measure_interval; the smoothed rtts form
//    the delay vector, reported to the directory with a heartbeat when it changed by
//    report_threshold_ms and 10 % (at most every report_interval);
//  - the request flow: with a directory, state-synced (ClientState diffed into events,
//    requests/answers/leaves repeated with every heartbeat until the state shows them);
//    without one, invites go straight to the peer and are repeated until answered;
//  - rooms: join with the ticket, send lines sealed to every other member and signed,
//    keep each until every other member acked it (cumulative acks), resend unacked lines
//    every resend_interval and at once after a (re)join; deliver every author's lines in
//    sequence order exactly once, buffering gaps (bounded).

#include "envelope.hpp"

#include <set>

namespace dc::roles {

using namespace detail;

namespace {

struct ProbeRelay {
    Addr addr;
    PublicKey key{};
    bool key_known = false;
    bool listed = false;  // by the directory (or --relays): probed while listed
    std::optional<std::uint32_t> rtt;
    double srtt = 0;
    std::uint64_t nonce = 0;  // the outstanding probe, 0: none
    TimeMs sent = 0;
    std::size_t misses = 0;
    TimeMs next_probe = 0;
};

struct OutLine {
    MessageId id{};
    TimeMs sent = 0;
    TimeMs last_tx = 0;
    std::string text;
};

struct Held {
    MessageId id{};
    TimeMs sent = 0;
    std::string text;
};

struct Inbound {
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
    std::set<std::string> distrusted;        // members whose ticket key is not the one our node pinned
    std::uint64_t run = 0;  // our lines' run here: this process's, or the stored one of a restored room
    std::uint64_t next_seq = 1;
    std::map<std::uint64_t, OutLine> outbox;
    std::map<std::string, std::uint64_t> acked;
    TimeMs next_resend = 0;
    std::map<std::string, Inbound> in;
    // direct rooms we issued: where the others are, and the move being announced
    std::map<std::string, Addr> peer_addrs;
    std::uint64_t move_id = 0;
    std::set<std::string> move_acked;
    TimeMs next_move_invite = 0;
};

struct OutRequest {
    std::uint64_t id = 0;
    std::vector<std::string> users;
    TimeMs created = 0;
    TimeMs asked = 0;           // when it was (last) sent to a directory that did not list it
    bool seen = false;          // the directory's state lists it
    bool err_reported = false;  // SERVER_ERR shown for a directory that never answered
    std::map<std::string, std::pair<Stage, std::uint32_t>> shown;  // last stage shown per user
    // direct (no directory)
    bool direct = false;
    RoomId room{};
    wire::SignedBlob ticket;
    std::map<std::string, std::vector<Addr>> addrs;
    std::map<std::string, TimeMs> next_remind;
    TimeMs next_send = 0;
};

struct InInvite {
    std::uint64_t id = 0;  // the directory's id, or the inviter's (direct)
    std::string from;
    std::vector<std::string> others;
    std::optional<bool> answer;
    bool direct = false;
    Addr from_addr;
    wire::SignedBlob ticket;
    wire::Ticket t;
    TimeMs received = 0;
};

}  // namespace

struct RoomClient::State {
    RoomClientConfig cfg;
    Envelope env;
    Selector sel;
    std::mt19937_64 rng;
    TimeMs now = 0;
    bool started = false;
    KxSecretKey kx_sk{};
    KxPublicKey kx_pk{};

    // measuring
    std::map<Addr, ProbeRelay> relays;
    DelayVector reported;
    bool delays_changed = true;
    TimeMs last_report = 0;
    std::uint64_t reported_boot = 0;
    std::uint64_t report_no = 0;     // number of the last report made
    std::uint64_t report_acked = 0;  // the directory's report_seen

    // directory
    bool dir_alive = false;
    TimeMs dir_last = 0;
    std::optional<PublicKey> dir_key;
    std::uint64_t boot = 0, version = 0;
    TimeMs next_heartbeat = 0;
    std::set<RoomId> listed;  // chats in the last ClientState
    std::set<RoomId> left;    // left, until the directory stops listing them
    std::map<std::uint64_t, InInvite> dir_invites;  // by directory id

    std::map<std::uint64_t, OutRequest> requests;  // by our id
    std::uint64_t next_request_id = 1;
    std::set<std::string> warned;  // key warnings shown (user and where), bounded
    // This process's run: room lines carry it, so that receivers tell a restarted
    // author (numbering from 1 again) from a replay of old lines.
    std::uint64_t run = 0;
    static constexpr std::size_t kRetiredRuns = 8;
    std::map<std::pair<std::string, std::uint64_t>, InInvite> direct_invites;  // by (from, their id)
    std::map<RoomId, Room> rooms;
    std::deque<RoomEvent> events;
    // What the store must keep (model.hpp): ops in order, plus rooms and cursors that
    // changed, written out (coalesced) when the driver polls.
    std::deque<StoreOp> ops;
    std::set<RoomId> dirty_rooms;
    std::set<std::pair<RoomId, std::string>> dirty_cursors;

    State(RoomClientConfig c, Identity id, core::Crypto& crypto, std::uint64_t seed, RoomSnapshot snap)
        : cfg(std::move(c)), env(std::move(id), crypto, cfg.port, cfg.ip_rate, cfg.ip_burst), sel(seed), rng(seed ^ 0x5eed) {
        env.crypto().random(kx_sk);
        kx_pk = env.crypto().kx_public(kx_sk);
        next_request_id = env.nonce() >> 16;  // distinct across restarts
        run = env.nonce();
        for (auto& a : cfg.relays) add_relay(a, true);
        restore(std::move(snap));
    }
    ~State() { crypto::wipe(kx_sk); }

    const std::string& me() const { return env.id().user; }
    void event(RoomEvent e) { events.push_back(std::move(e)); }
    void problem(std::string s) { event(room_ev::Problem{std::move(s)}); }

    // ---- what the store keeps -----------------------------------------------------------

    void touch(const Room& r) { dirty_rooms.insert(r.id); }

    RoomRecord record(const Room& r) const {
        RoomRecord x;
        x.room = r.id;
        x.ticket = r.ticket_blob;
        x.direct = r.direct;
        x.mine = r.mine;
        x.members = r.members;
        x.required.assign(r.required.begin(), r.required.end());
        x.run = r.run;
        x.next_seq = r.next_seq;
        return x;
    }

    void forget(const RoomId& id) {
        dirty_rooms.erase(id);
        std::erase_if(dirty_cursors, [&](auto& k) { return k.first == id; });
        ops.push_back(store_op::DeleteRoom{id});
    }

    // Rooms and cursors that changed since the last poll, after the ops queued meanwhile
    // (all of them go into one transaction, so the order among them does not matter).
    void flush() {
        for (auto& id : dirty_rooms)
            if (auto it = rooms.find(id); it != rooms.end()) ops.push_back(store_op::PutRoom{record(it->second)});
        dirty_rooms.clear();
        for (auto& [id, author] : dirty_cursors) {
            auto it = rooms.find(id);
            if (it == rooms.end()) continue;
            auto in = it->second.in.find(author);
            if (in == it->second.in.end()) continue;
            ops.push_back(store_op::PutRoomCursor{RoomCursorRecord{id, author, in->second.run, in->second.expected}});
        }
        dirty_cursors.clear();
    }

    // The rooms a killed or quit process kept: each with its ticket, its own lines not
    // yet acked by everyone (sent again in the same run, so nobody sees one twice) and
    // where every author's lines stood (so we show none twice either).
    void restore(RoomSnapshot snap) {
        for (auto& rec : snap.rooms) {
            auto t = wire::decode_ticket(rec.ticket.body);
            if (!t || t->room != rec.room || rooms.size() >= cfg.max_rooms) continue;
            Room r;
            r.id = rec.room;
            r.ticket_blob = rec.ticket;
            r.ticket = *t;
            r.direct = rec.direct;
            r.mine = rec.mine;
            r.members = rec.members;
            r.required.insert(rec.required.begin(), rec.required.end());
            r.run = rec.run != 0 ? rec.run : run;
            r.next_seq = std::max<std::uint64_t>(1, rec.next_seq);
            rooms.emplace(r.id, std::move(r));
            if (auto* pr = add_relay(t->relay, false); pr && !pr->key_known) {
                pr->key = t->relay_key;
                pr->key_known = true;
            }
        }
        for (auto& l : snap.lines) {
            auto it = rooms.find(l.room);
            if (it == rooms.end() || l.seq == 0) continue;
            Room& r = it->second;
            r.outbox[l.seq] = OutLine{l.id, l.sent, 0, l.text};
            r.next_seq = std::max(r.next_seq, l.seq + 1);
        }
        for (auto& c : snap.cursors) {
            auto it = rooms.find(c.room);
            if (it == rooms.end() || c.author == me()) continue;
            Inbound& in = it->second.in[c.author];
            in.run = c.run;
            in.expected = c.next;
        }
        for (auto& [id, r] : rooms) {
            check_keys(r);
            if (!r.outbox.empty())
                event(room_ev::Notice{"room " + short_id(id) + ": " + std::to_string(r.outbox.size()) +
                                      " line(s) from before not yet acked by everyone, sending again"});
        }
    }

    // ---- measuring ------------------------------------------------------------------

    ProbeRelay* add_relay(const Addr& a, bool listed) {
        auto it = relays.find(a);
        if (it == relays.end()) {
            if (relays.size() >= cfg.max_relays) return nullptr;
            ProbeRelay r;
            r.addr = a;
            // A new relay is measured soon (spread over 50 ms), then every measure_interval.
            r.next_probe = now + std::uniform_int_distribution<TimeMs>(0, 50)(rng);
            it = relays.emplace(a, r).first;
        }
        it->second.listed |= listed;
        return &it->second;
    }

    bool relay_alive(const ProbeRelay& r) const { return r.key_known && r.rtt.has_value(); }

    DelayVector delays() const {
        DelayVector d;
        for (auto& [a, r] : relays)
            if (relay_alive(r)) d[r.key] = *r.rtt;
        return d;
    }

    // Reported again only when a relay appears or disappears, or an rtt moves by at least
    // report_threshold_ms or 10 % (and then at most every report_interval): sub-ms noise
    // is not reported, and the directory's view is never off by more than that.
    void check_delays() {
        auto d = delays();
        if (d.size() != reported.size()) {
            delays_changed = true;
            return;
        }
        for (auto& [k, v] : d) {
            auto it = reported.find(k);
            if (it == reported.end()) {
                delays_changed = true;
                return;
            }
            const std::uint32_t diff = v > it->second ? v - it->second : it->second - v;
            if (diff >= cfg.report_threshold_ms || diff * 10 >= it->second) delays_changed = true;
        }
    }

    void probe(ProbeRelay& r) {
        if (r.nonce) {
            if (++r.misses >= cfg.probe_misses && r.rtt) {
                r.rtt.reset();
                check_delays();
            }
        }
        r.nonce = env.nonce();
        r.sent = now;
        r.next_probe = now + cfg.measure_interval;
        env.send(r.addr, wire::MsgType::probe, wire::encode(wire::Probe{r.nonce, {}}));
    }

    void on_probe_reply(const Incoming& in, const wire::ProbeReply& p) {
        auto it = relays.find(in.from);
        if (it == relays.end()) it = relays.find(in.reply);
        if (it == relays.end() || it->second.nonce == 0 || it->second.nonce != p.nonce) {
            ++env.stats().unsolicited;
            return;
        }
        ProbeRelay& r = it->second;
        if (r.key_known && r.key != in.pkt.header.from_key) {
            ++env.stats().wrong_key;
            return;
        }
        r.key = in.pkt.header.from_key;  // --relays: learned from the first answer
        r.key_known = true;
        const double sample = static_cast<double>(std::max<TimeMs>(0, now - r.sent));
        r.srtt = r.rtt ? (r.srtt + sample) / 2 : sample;  // smoothed: half the old, half the new
        r.rtt = static_cast<std::uint32_t>(r.srtt + 0.5);
        r.nonce = 0;
        r.misses = 0;
        check_delays();
    }

    // ---- directory -----------------------------------------------------------------

    void heartbeat() {
        if (!cfg.directory) return;
        wire::ClientHeartbeat hb;
        hb.seen_version = version;
        hb.seen_boot = boot;
        // Delay reports: a new one when the delays changed (or the directory restarted);
        // the last one again until the directory says it has it.
        if (delays_changed || reported_boot != boot) {
            reported = delays();
            ++report_no;
            delays_changed = false;
            reported_boot = boot;
            last_report = now;
        }
        if (report_acked < report_no) {
            hb.has_delays = true;
            hb.report = report_no;
            for (auto& [k, v] : reported)
                if (hb.delays.size() < wire::kMaxRoleRelays) hb.delays.push_back({k, v});
        }
        if (dir_alive)
            for (auto& [id, r] : rooms)
                if (!r.direct && !listed.count(id) && hb.held.size() < wire::kMaxRoleRooms) hb.held.push_back({r.ticket_blob, r.members});
        env.send(*cfg.directory, wire::MsgType::client_heartbeat, wire::encode(hb));
        next_heartbeat = now + cfg.heartbeat_interval;
        // What the state does not show yet is repeated with every heartbeat.
        for (auto& [id, r] : requests)
            if (!r.direct && !r.seen) env.send(*cfg.directory, wire::MsgType::chat_request, wire::encode(wire::ChatRequest{id, r.users}));
        for (auto& [id, inv] : dir_invites)
            if (inv.answer) env.send(*cfg.directory, wire::MsgType::chat_answer, wire::encode(wire::ChatAnswer{id, *inv.answer}));
        for (auto& id : left) env.send(*cfg.directory, wire::MsgType::chat_leave, wire::encode(wire::RoomLeave{id}));
    }

    static Stage shown_stage(const OutRequest& r, const std::string& user) {
        auto it = r.shown.find(user);
        return it == r.shown.end() ? Stage::ack_conn : it->second.first;
    }
    static bool all_final(const OutRequest& r) {
        return std::all_of(r.users.begin(), r.users.end(), [&](auto& u) { return final_stage(shown_stage(r, u)); });
    }

    void show_stage(OutRequest& r, const std::string& user, Stage st, std::uint32_t reminders, const std::string& detail) {
        auto it = r.shown.find(user);
        if (it != r.shown.end() && it->second.first == st && it->second.second == reminders) return;
        if (it != r.shown.end() && final_stage(it->second.first)) return;
        // A stage that passed between two states is shown too: ACK_CONN, REQ_SENT come first.
        const bool fresh = it == r.shown.end();
        if (fresh && st != Stage::ack_conn && st != Stage::user_not_found && st != Stage::server_err)
            event(room_ev::RequestStage{user, Stage::ack_conn, {}});
        const Stage before = fresh ? Stage::ack_conn : it->second.first;
        if ((st == Stage::awaiting_req || st == Stage::req_accepted) && before == Stage::ack_conn)
            event(room_ev::RequestStage{user, Stage::req_sent, {}});
        event(room_ev::RequestStage{user, st, detail});
        r.shown[user] = {st, reminders};
    }

    Room* room_from_ticket(const wire::SignedBlob& blob, const wire::Ticket& t, bool direct) {
        auto it = rooms.find(t.room);
        if (it != rooms.end()) return &it->second;
        if (rooms.size() >= cfg.max_rooms) {
            problem("too many rooms: room " + short_id(t.room) + " not joined");
            return nullptr;
        }
        Room r;
        r.id = t.room;
        r.ticket_blob = blob;
        r.ticket = t;
        r.direct = direct;
        r.run = run;
        r.next_join = now;
        for (auto& m : t.members) r.kx.erase(m.user);
        it = rooms.emplace(t.room, std::move(r)).first;
        touch(it->second);
        check_keys(it->second);
        return &it->second;
    }

    // A ticket member whose key is not the one our node pinned for that name (the
    // directory, or whoever signed the ticket, vouches for another key): no line is
    // sealed to it, its lines are not shown, ours do not wait for its acks.
    bool impostor(const wire::TicketMember& m) const {
        if (!cfg.pinned || m.user == me()) return false;
        auto p = cfg.pinned(m.user);
        return p && *p != m.key;
    }
    void warn_key(const std::string& user, const std::string& where) {
        if (warned.size() >= 64) warned.clear();
        if (warned.insert(user + "\n" + where).second)
            problem(where + ": its ticket gives " + user + " a key that is not the one pinned for " + user +
                    " (\\keys " + user + "): not trusted");
    }
    void check_keys(Room& r) {
        for (auto& m : r.ticket.members)
            if (impostor(m) && r.distrusted.insert(m.user).second) {
                warn_key(m.user, "room " + short_id(r.id));
                if (r.required.erase(m.user)) touch(r);
                r.kx.erase(m.user);
            }
        trim(r);
    }

    void set_members(Room& r, const std::vector<std::string>& members, const std::vector<std::string>& pending = {}) {
        for (auto& m : members)
            if (!contains(r.members, m) && r.announced && m != me()) event(room_ev::MemberChange{r.id, m, true});
        for (auto& m : r.members)
            if (!contains(members, m) && r.announced && m != me()) event(room_ev::MemberChange{r.id, m, false});
        if (r.members != members) touch(r);
        r.members = members;
        if (!r.direct) {
            std::set<std::string> required;
            for (auto& m : members)
                if (m != me() && !r.distrusted.count(m)) required.insert(m);
            for (auto& m : pending)
                if (m != me() && ticket_member(r.ticket, m) && !r.distrusted.count(m)) required.insert(m);
            if (required != r.required) touch(r);
            r.required = std::move(required);
            trim(r);
        }
    }

    // A new ticket for a room we are in: a move to another relay (or the same, later epoch).
    void move_room(Room& r, const wire::SignedBlob& blob, const wire::Ticket& t, MoveReason why, std::uint32_t old_ms,
                   std::uint32_t new_ms) {
        if (r.ticket.relay != t.relay || r.ticket.relay_key != t.relay_key) {
            env.send(r.ticket.relay, wire::MsgType::room_leave, wire::encode(wire::RoomLeave{r.id}));
            event(room_ev::RoomMoved{r.id, r.ticket.relay, t.relay, why, old_ms, new_ms});
        }
        r.ticket = t;
        r.ticket_blob = blob;
        touch(r);
        r.joined = false;
        r.on_relay.clear();
        r.next_join = now;
        check_keys(r);
        if (auto* pr = add_relay(t.relay, false); pr && !pr->key_known) {
            pr->key = t.relay_key;
            pr->key_known = true;
        }
    }

    void on_client_state(const Incoming& in, const wire::ClientState& s) {
        // A large state comes over TCP, from an ephemeral port: the ip and the port the
        // (signed) header declares must be the directory's, and its key the pinned one.
        if (!cfg.directory || in.from.ip != cfg.directory->ip ||
            (in.from.port != cfg.directory->port && in.reply.port != cfg.directory->port)) {
            ++env.stats().unsolicited;
            return;
        }
        if (!dir_key) dir_key = in.pkt.header.from_key;  // trust on first use
        if (*dir_key != in.pkt.header.from_key) {
            ++env.stats().wrong_key;
            return;
        }
        dir_last = now;
        if (!dir_alive) {
            dir_alive = true;
            event(room_ev::DirectoryUp{*cfg.directory});
        }
        if (s.boot == boot) report_acked = std::max(report_acked, s.report_seen);
        if (s.unchanged) return;
        if (s.boot == boot && s.version <= version) return;  // old or reordered
        const bool new_boot = s.boot != boot;
        boot = s.boot;
        version = s.version;

        // Relays to measure: those in service, and the relays of our rooms.
        std::set<Addr> in_service;
        for (auto& ri : s.relays) {
            in_service.insert(ri.addr);
            if (auto* r = add_relay(ri.addr, true)) {
                if (r->key_known && r->key != ri.key) r->rtt.reset();
                r->key = ri.key;
                r->key_known = true;
            }
        }
        for (auto it = relays.begin(); it != relays.end();) {
            bool keep = in_service.count(it->first) || contains_addr(cfg.relays, it->first);
            for (auto& [id, r] : rooms) keep |= r.ticket.relay == it->first;
            it = keep ? std::next(it) : relays.erase(it);
        }
        check_delays();

        // Our requests and their stages.
        std::set<std::uint64_t> listed_requests;
        for (auto& o : s.outgoing) {
            listed_requests.insert(o.id);
            auto it = requests.find(o.id);
            if (it == requests.end()) continue;
            it->second.seen = true;
            show_stage(it->second, o.user, static_cast<Stage>(o.stage), o.reminders, o.detail);
        }
        // A request the directory listed and no longer does (it restarted and forgot it,
        // or dropped it while it thought us gone) is asked again. Unless the list was cut
        // at its bound: then absence says nothing.
        bool ask_again = false;
        if (s.outgoing.size() < wire::kMaxRoleRequests)
            for (auto& [id, r] : requests)
                if (!r.direct && r.seen && !listed_requests.count(id) && !all_final(r)) {
                    r.seen = false;
                    r.asked = now;
                    ask_again = true;
                }
        for (auto it = requests.begin(); it != requests.end();) {
            auto& r = it->second;
            const bool done = !r.direct && r.seen && all_final(r);
            it = done ? requests.erase(it) : std::next(it);
        }

        // Invites to us. A new one is acknowledged at once (a heartbeat with this
        // version): that is what REQ_SENT tells the requester.
        std::set<std::uint64_t> open;
        bool fresh_invite = false;
        for (auto& i : s.incoming) {
            open.insert(i.id);
            if (!dir_invites.count(i.id)) {
                fresh_invite = true;
                InInvite inv;
                inv.id = i.id;
                inv.from = i.from;
                inv.others = i.others;
                inv.received = now;
                dir_invites.emplace(i.id, inv);
                event(room_ev::Invited{i.from, i.others});
            }
        }
        for (auto it = dir_invites.begin(); it != dir_invites.end();) {
            if (open.count(it->first)) {
                ++it;
                continue;
            }
            if (!it->second.answer) event(room_ev::InviteGone{it->second.from});
            it = dir_invites.erase(it);
        }

        // Chats.
        std::set<RoomId> now_listed, behind;
        for (auto& ci : s.chats) {
            now_listed.insert(ci.room);
            if (left.count(ci.room)) continue;
            if (!env.verify(ci.ticket, *dir_key)) {
                ++env.stats().bad_signature;
                continue;
            }
            auto t = wire::decode_ticket(ci.ticket.body);
            if (!t || t->room != ci.room || !ticket_member(*t, me())) {
                ++env.stats().malformed;
                continue;
            }
            auto it = rooms.find(ci.room);
            if (it == rooms.end()) {
                Room* r = room_from_ticket(ci.ticket, *t, false);
                if (r) set_members(*r, ci.members, ci.pending);
                continue;
            }
            Room& r = it->second;
            if (t->epoch > r.ticket.epoch) {
                move_room(r, ci.ticket, *t, move_reason_of(ci.reason), ci.old_ms, ci.new_ms);
            } else if (t->epoch < r.ticket.epoch) {
                behind.insert(ci.room);  // a restarted directory took it back from an older ticket
            }
            set_members(r, ci.members, ci.pending);
        }
        for (auto it = left.begin(); it != left.end();) it = now_listed.count(*it) ? std::next(it) : left.erase(it);
        // A chat listed with an older ticket than ours is held (sent with the heartbeat),
        // as if not listed, until the directory has our newer one.
        for (auto& id : behind) now_listed.erase(id);
        listed = std::move(now_listed);
        // A new directory run knows no delays and no chats: tell it at once.
        if (fresh_invite || new_boot || ask_again || !behind.empty()) heartbeat();
    }

    static bool contains_addr(const std::vector<Addr>& v, const Addr& a) { return std::find(v.begin(), v.end(), a) != v.end(); }

    // ---- rooms -------------------------------------------------------------------------

    static bool missing_keys(const Room& r) {
        return std::any_of(r.required.begin(), r.required.end(), [&](auto& m) { return !r.kx.count(m); });
    }

    void join(Room& r) {
        wire::MemberKey mk{r.id, me(), kx_pk};
        wire::RoomJoin j{r.ticket_blob, env.sign(wire::encode(mk))};
        env.send(r.ticket.relay, wire::MsgType::room_join, wire::encode(j));
        r.next_join = now + cfg.rejoin_interval;
    }

    void transmit(Room& r, std::uint64_t seq, OutLine& l) {
        wire::LineBody b;
        b.room = r.id;
        b.author = me();
        b.seq = seq;
        b.first_kept = r.outbox.begin()->first;
        b.id = l.id;
        b.sent = l.sent;
        b.run = r.run;
        const Bytes text(l.text.begin(), l.text.end());
        for (auto& [user, kx] : r.kx)
            if (user != me() && ticket_member(r.ticket, user)) b.copies.push_back({user, env.crypto().seal(text, kx)});
        wire::RoomLine line{r.id, env.sign(wire::encode(b))};
        env.send(r.ticket.relay, wire::MsgType::room_line, wire::encode(line));
        l.last_tx = now;
    }

    // Resends lines not acked by everyone: those not sent for resend_interval, at most
    // kResendBurst per room per interval (pacing), all of them at once after a join.
    static constexpr std::size_t kResendBurst = 64;
    void resend(Room& r, bool all) {
        std::size_t n = 0;
        for (auto& [seq, l] : r.outbox) {
            if (n >= kResendBurst) break;
            if (all || now - l.last_tx >= cfg.resend_interval) {
                transmit(r, seq, l);
                ++n;
            }
        }
        r.next_resend = now + cfg.resend_interval;
    }

    // Drops own lines every required member acked; each is echoed once as delivered.
    void trim(Room& r) {
        std::uint64_t upto = std::numeric_limits<std::uint64_t>::max();
        for (auto& m : r.required) {
            auto it = r.acked.find(m);
            upto = std::min(upto, it == r.acked.end() ? 0 : it->second);
        }
        std::uint64_t dropped = 0;
        while (!r.outbox.empty() && r.outbox.begin()->first <= upto) {
            auto& [seq, l] = *r.outbox.begin();
            event(room_ev::Line{r.id, me(), l.text, l.sent, l.id, true});
            dropped = seq;
            r.outbox.erase(r.outbox.begin());
        }
        if (dropped) ops.push_back(store_op::DeleteRoomLines{r.id, dropped});
    }

    void on_roster(const Incoming& in, const wire::RoomRoster& ro) {
        auto it = rooms.find(ro.room);
        if (it == rooms.end()) return;
        Room& r = it->second;
        if (in.pkt.header.from_key != r.ticket.relay_key) {
            ++env.stats().unsolicited;
            return;
        }
        bool in_it = false, newcomer = false;
        std::set<std::string> present;
        for (auto& blob : ro.member_keys) {
            auto mk = wire::decode_member_key(blob.body);
            if (!mk || mk->room != r.id) continue;
            const auto* m = ticket_member(r.ticket, mk->user);
            if (!m || !env.verify(blob, m->key)) {
                ++env.stats().bad_signature;
                continue;
            }
            if (r.distrusted.count(mk->user)) continue;
            r.kx[mk->user] = mk->kx;
            present.insert(mk->user);
            newcomer |= mk->user != me() && !r.on_relay.count(mk->user);
            if (mk->user == me()) in_it = mk->kx == kx_pk;
            else if (r.direct && !r.mine && r.required.insert(mk->user).second) touch(r);
        }
        if (!in_it) {
            r.joined = false;
            r.next_join = now;
            return;
        }
        r.on_relay = std::move(present);
        const bool was = r.joined;
        r.joined = true;
        if (!r.announced) {
            r.announced = true;
            std::vector<std::string> others;
            for (auto& m : r.members.empty() ? names(r.ticket) : r.members)
                if (m != me()) others.push_back(m);
            event(room_ev::RoomJoined{r.id, r.ticket.relay, others});
        }
        // A member just joined (this relay dropped what we sent before): everything it
        // has not acked goes again now, not at the next resend round.
        if (!was || newcomer || !r.outbox.empty()) resend(r, !was || newcomer);
    }

    static std::vector<std::string> names(const wire::Ticket& t) {
        std::vector<std::string> v;
        for (auto& m : t.members) v.push_back(m.user);
        return v;
    }

    void send_ack(Room& r, const std::string& author, const Inbound& inb) {
        const std::uint64_t upto = inb.expected - 1;
        if (upto == 0) return;
        wire::AckBody a{r.id, me(), author, upto, inb.run};
        wire::RoomAck ra{r.id, author, env.sign(wire::encode(a))};
        env.send(r.ticket.relay, wire::MsgType::room_ack, wire::encode(ra));
    }

    void on_line(const wire::RoomLine& rl) {
        auto it = rooms.find(rl.room);
        if (it == rooms.end()) return;
        Room& r = it->second;
        auto b = wire::decode_line_body(rl.line.body);
        if (!b || b->room != r.id || b->author == me() || b->seq == 0 || b->run == 0) {
            ++env.stats().malformed;
            return;
        }
        const auto* author = ticket_member(r.ticket, b->author);
        if (!author || !env.verify(rl.line, author->key)) {
            ++env.stats().bad_signature;
            return;
        }
        if (r.distrusted.count(b->author)) {
            ++env.stats().wrong_key;
            return;
        }
        Inbound& inb = r.in[b->author];
        const auto before = std::make_pair(inb.run, inb.expected);
        // The author restarted (its seqs start again from 1): what we expected of its
        // earlier run no longer applies. Stragglers of an earlier run are dropped.
        if (b->run != inb.run) {
            if (std::find(inb.retired.begin(), inb.retired.end(), b->run) != inb.retired.end()) return;
            if (inb.run != 0) {
                inb.retired.push_back(inb.run);
                if (inb.retired.size() > kRetiredRuns) inb.retired.erase(inb.retired.begin());
            }
            inb.run = b->run;
            inb.expected = 0;
            inb.buffer.clear();
        }
        if (inb.expected == 0) inb.expected = std::max<std::uint64_t>(1, b->first_kept);
        // Lines before first_kept were acked by everyone the author waited for: they are
        // not coming again (we joined later).
        if (b->first_kept > inb.expected) {
            inb.expected = b->first_kept;
            while (!inb.buffer.empty() && inb.buffer.begin()->first < inb.expected) inb.buffer.erase(inb.buffer.begin());
        }
        if (b->seq >= inb.expected && !inb.buffer.count(b->seq)) {
            const wire::SealedCopy* mine = nullptr;
            for (auto& c : b->copies)
                if (c.to == me()) mine = &c;
            if (!mine) return;  // sealed before the author had our key: it comes again
            auto text = env.crypto().open(mine->sealed, kx_pk, kx_sk);
            if (!text) {
                ++env.stats().malformed;
                return;
            }
            if (b->seq == inb.expected || inb.buffer.size() < cfg.max_buffered_per_author)
                inb.buffer.emplace(b->seq, Held{b->id, b->sent, std::string(text->begin(), text->end())});
            while (!inb.buffer.empty() && inb.buffer.begin()->first == inb.expected) {
                auto& h = inb.buffer.begin()->second;
                event(room_ev::Line{r.id, b->author, h.text, h.sent, h.id, false});
                inb.buffer.erase(inb.buffer.begin());
                ++inb.expected;
            }
        }
        if (std::make_pair(inb.run, inb.expected) != before) dirty_cursors.insert({r.id, b->author});
        send_ack(r, b->author, inb);
    }

    void on_ack(const wire::RoomAck& ra) {
        auto it = rooms.find(ra.room);
        if (it == rooms.end()) return;
        Room& r = it->second;
        auto a = wire::decode_ack_body(ra.ack.body);
        if (!a || a->room != r.id || a->author != me()) {
            ++env.stats().malformed;
            return;
        }
        if (a->run != r.run) return;  // acks lines of an earlier run of ours in this room
        const auto* from = ticket_member(r.ticket, a->from);
        if (!from || !env.verify(ra.ack, from->key)) {
            ++env.stats().bad_signature;
            return;
        }
        auto& acked = r.acked[a->from];
        acked = std::max(acked, std::min(a->upto, r.next_seq - 1));
        trim(r);
    }

    void on_refused(const Incoming& in, const wire::RoomRefused& rf) {
        auto it = rooms.find(rf.room);
        if (it == rooms.end() || in.pkt.header.from_key != it->second.ticket.relay_key) {
            ++env.stats().unsolicited;
            return;
        }
        Room& r = it->second;
        if (retry_after(rf.reason)) {
            if (r.joined) {
                r.joined = false;
                r.next_join = now;
            }
            return;
        }
        problem("room " + short_id(r.id) + " refused by relay " + r.ticket.relay.to_string() + ": " + rf.reason);
        event(room_ev::RoomLeft{r.id});
        if (!r.direct) left.insert(r.id);
        forget(r.id);
        rooms.erase(it);
    }

    // ---- without a directory -------------------------------------------------------------

    std::vector<Candidate> alive_relays(const std::optional<Addr>& except = std::nullopt) const {
        std::vector<Candidate> v;
        for (auto& [a, r] : relays)
            if (relay_alive(r) && (!except || a != *except)) v.push_back({r.key, a, {}});
        return v;
    }

    wire::SignedBlob issue(const RoomId& id, const Candidate& relay, std::uint32_t epoch, std::vector<wire::TicketMember> members) {
        wire::Ticket t;
        t.room = id;
        t.relay_key = relay.key;
        t.relay = relay.addr;
        t.epoch = epoch;
        t.members = std::move(members);
        t.issued = now;
        t.issuer = me();
        return env.sign(wire::encode(t));
    }

    void direct_request(const room_cmd::Request& c) {
        OutRequest r;
        r.id = next_request_id++;
        r.direct = true;
        r.created = now;
        r.room = env.random_id<16>();
        r.next_send = now;
        std::vector<wire::TicketMember> members{{me(), env.id().pk}};
        for (auto& u : c.users) {
            if (u == me() || contains(r.users, u)) continue;
            r.users.push_back(u);
            auto p = std::find_if(c.peers.begin(), c.peers.end(), [&](auto& x) { return x.user == u; });
            if (p == c.peers.end() || !p->key || p->addrs.empty()) {
                show_stage(r, u, Stage::user_not_found, 0, {});
                continue;
            }
            members.push_back({u, *p->key});
            r.addrs[u] = p->addrs;
        }
        auto cands = alive_relays();
        if (r.addrs.empty()) return;
        if (cands.empty() || members.size() > std::min(cfg.max_members, wire::kMaxRoomMembers)) {
            for (auto& [u, a] : r.addrs) show_stage(r, u, Stage::server_err, 0, cands.empty() ? "no relay alive" : "too many members");
            return;
        }
        // client-round-robin: the next relay of our list that answers probes.
        const auto& relay = cands[*select_relay(Strategy::client_round_robin, cands, {}, sel)];
        r.ticket = issue(r.room, relay, 1, members);
        for (auto& [u, a] : r.addrs) show_stage(r, u, Stage::ack_conn, 0, {});
        requests.emplace(r.id, std::move(r));
    }

    void send_invites(OutRequest& r) {
        for (auto& [u, addrs] : r.addrs) {
            auto s = r.shown.find(u);
            if (s != r.shown.end() && final_stage(s->second.first)) continue;
            for (auto& a : addrs) env.send(a, wire::MsgType::invite, wire::encode(wire::Invite{r.id, r.ticket}));
        }
        r.next_send = now + cfg.invite_interval;
    }

    void direct_request_timers(OutRequest& r) {
        for (auto& [u, addrs] : r.addrs) {
            auto s = r.shown.find(u);
            if (s == r.shown.end() || final_stage(s->second.first)) continue;
            if (now - r.created >= cfg.request_timeout) {
                show_stage(r, u, Stage::timed_out, 0, {});
            } else if (s->second.first == Stage::req_sent || s->second.first == Stage::awaiting_req) {
                auto& due = r.next_remind[u];
                if (now >= due) {
                    if (due != 0) show_stage(r, u, Stage::awaiting_req, s->second.second + 1, {});
                    due = now + cfg.awaiting_interval;
                }
            }
        }
        if (now >= r.next_send) send_invites(r);
    }

    // The inviter's check of a direct ticket (ours or a peer's): signed by its issuer, who
    // is a member, and naming us.
    std::optional<wire::Ticket> direct_ticket(const Incoming& in, const wire::SignedBlob& blob) {
        auto t = wire::decode_ticket(blob.body);
        if (!t) {
            ++env.stats().malformed;
            return std::nullopt;
        }
        const auto* issuer = ticket_member(*t, t->issuer);
        const auto* self = ticket_member(*t, me());
        if (t->issuer != in.pkt.header.from_user || !issuer || issuer->key != in.pkt.header.from_key || !self ||
            self->key != env.id().pk || !env.verify(blob, issuer->key)) {
            ++env.stats().bad_signature;
            return std::nullopt;
        }
        if (impostor(*issuer)) {  // someone else's key under a name we know
            ++env.stats().wrong_key;
            warn_key(issuer->user, "an invite from " + issuer->user);
            return std::nullopt;
        }
        return std::move(t).value();
    }

    void answer_invite(const Addr& to, std::uint64_t id, const RoomId& room, std::uint32_t epoch, std::uint8_t answer) {
        env.send(to, wire::MsgType::invite_answer, wire::encode(wire::InviteAnswer{id, room, epoch, answer}));
    }

    void on_invite(const Incoming& in, const wire::Invite& iv) {
        auto t = direct_ticket(in, iv.ticket);
        if (!t) return;
        const std::string& from = in.pkt.header.from_user;
        if (auto it = rooms.find(t->room); it != rooms.end()) {
            Room& r = it->second;
            if (!r.direct || r.ticket.issuer != from) return;
            if (t->epoch > r.ticket.epoch) {
                if (t->members != r.ticket.members) return;
                move_room(r, iv.ticket, *t, MoveReason::relay_died, 0, 0);
            }
            answer_invite(in.reply, iv.id, t->room, r.ticket.epoch, 2);
            return;
        }
        const auto key = std::make_pair(from, iv.id);
        auto it = direct_invites.find(key);
        if (it == direct_invites.end()) {
            if (direct_invites.size() >= wire::kMaxRoleRequests) {
                auto oldest = std::min_element(direct_invites.begin(), direct_invites.end(),
                                               [](auto& a, auto& b) { return a.second.received < b.second.received; });
                if (!oldest->second.answer) event(room_ev::InviteGone{oldest->second.from});
                direct_invites.erase(oldest);
            }
            InInvite inv;
            inv.id = iv.id;
            inv.from = from;
            for (auto& m : t->members)
                if (m.user != from && m.user != me()) inv.others.push_back(m.user);
            inv.direct = true;
            inv.ticket = iv.ticket;
            inv.t = *t;
            inv.received = now;
            it = direct_invites.emplace(key, std::move(inv)).first;
            event(room_ev::Invited{from, it->second.others});
        }
        it->second.from_addr = in.reply;
        const auto& a = it->second.answer;
        answer_invite(in.reply, iv.id, t->room, t->epoch, !a ? 1 : *a ? 2 : 3);
    }

    void on_invite_answer(const Incoming& in, const wire::InviteAnswer& a) {
        const std::string& from = in.pkt.header.from_user;
        // A move we announced.
        if (auto rit = rooms.find(a.room); rit != rooms.end() && rit->second.mine) {
            Room& r = rit->second;
            const auto* m = ticket_member(r.ticket, from);
            if (m && m->key == in.pkt.header.from_key && a.answer == 2 && a.epoch >= r.ticket.epoch) r.move_acked.insert(from);
        }
        auto it = requests.find(a.id);
        if (it == requests.end() || !it->second.direct || it->second.room != a.room) return;
        OutRequest& r = it->second;
        auto t = wire::decode_ticket(r.ticket.body);
        const auto* m = t ? ticket_member(*t, from) : nullptr;
        if (!m || m->key != in.pkt.header.from_key || !r.addrs.count(from)) {
            ++env.stats().unsolicited;
            return;
        }
        r.addrs[from] = {in.reply};
        auto s = r.shown.find(from);
        if (s != r.shown.end() && final_stage(s->second.first)) return;
        if (a.answer == 1) {
            if (s == r.shown.end() || s->second.first == Stage::ack_conn) show_stage(r, from, Stage::req_sent, 0, {});
        } else if (a.answer == 3) {
            show_stage(r, from, Stage::declined, 0, {});
        } else if (a.answer == 2) {
            show_stage(r, from, Stage::req_accepted, 0, {});
            Room* room = room_from_ticket(r.ticket, *t, true);
            if (!room) return;
            room->mine = true;
            touch(*room);
            if (!room->distrusted.count(from)) room->required.insert(from);
            room->peer_addrs[from] = in.reply;
            if (!contains(room->members, me())) room->members.push_back(me());
            if (!contains(room->members, from)) room->members.push_back(from);
        }
    }

    // Without a directory, the issuer of a room moves it when its relay stops answering
    // probes (probe_misses in a row): the next relay of the list that answers, a new
    // ticket (epoch + 1) sent to the other members until they confirm.
    void direct_relocation(Room& r) {
        if (!r.mine) return;
        auto pr = relays.find(r.ticket.relay);
        const bool dead = pr == relays.end() || (!pr->second.rtt && pr->second.misses >= cfg.probe_misses);
        if (dead) {
            auto cands = alive_relays(r.ticket.relay);
            if (cands.empty()) return;
            const auto& to = cands[*select_relay(Strategy::client_round_robin, cands, {}, sel)];
            auto blob = issue(r.id, to, r.ticket.epoch + 1, r.ticket.members);
            auto t = wire::decode_ticket(blob.body);
            move_room(r, blob, *t, MoveReason::relay_died, 0, 0);
            r.move_id = env.nonce();
            r.move_acked.clear();
            r.next_move_invite = now;
        }
        if (r.move_id && now >= r.next_move_invite) {
            // The members who accepted (stored with the room), at the address each last
            // answered from and wherever our node knows its sessions now.
            bool all = true;
            for (auto& u : r.required) {
                if (r.move_acked.count(u)) continue;
                all = false;
                std::vector<Addr> to = cfg.addresses ? cfg.addresses(u) : std::vector<Addr>{};
                if (auto it = r.peer_addrs.find(u); it != r.peer_addrs.end() && !contains_addr(to, it->second))
                    to.insert(to.begin(), it->second);
                for (auto& a : to) env.send(a, wire::MsgType::invite, wire::encode(wire::Invite{r.move_id, r.ticket_blob}));
            }
            if (all) r.move_id = 0;
            r.next_move_invite = now + cfg.invite_interval;
        }
    }

    // ---- commands --------------------------------------------------------------------------

    // The open invite from `from` (any if empty and only one is open).
    InInvite* find_invite(const std::string& from) {
        std::vector<InInvite*> open;
        for (auto& [id, i] : dir_invites)
            if (!i.answer && (from.empty() || i.from == from)) open.push_back(&i);
        for (auto& [k, i] : direct_invites)
            if (!i.answer && (from.empty() || i.from == from)) open.push_back(&i);
        if (open.size() == 1) return open.front();
        if (open.empty()) {
            problem(from.empty() ? "no open invite" : "no open invite from " + from);
        } else if (from.empty()) {
            std::string who;
            for (auto* i : open) who += (who.empty() ? "" : ", ") + i->from;
            problem("several open invites (" + who + "): name one");
        } else {
            return open.front();
        }
        return nullptr;
    }

    void answer(const std::string& from, bool accept) {
        InInvite* inv = find_invite(from);
        if (!inv) return;
        inv->answer = accept;
        event(room_ev::Notice{accept ? "accepted " + inv->from + "'s request: joining the room"
                                     : "declined " + inv->from + "'s request"});
        if (!inv->direct) {
            if (cfg.directory)
                env.send(*cfg.directory, wire::MsgType::chat_answer, wire::encode(wire::ChatAnswer{inv->id, accept}));
            return;
        }
        answer_invite(inv->from_addr, inv->id, inv->t.room, inv->t.epoch, accept ? 2 : 3);
        if (!accept) return;
        Room* r = room_from_ticket(inv->ticket, inv->t, true);
        if (!r) return;
        r->members = names(inv->t);
        r->required.insert(inv->from);
        touch(*r);
    }

    void command(const RoomCommand& c) {
        if (auto* rq = std::get_if<room_cmd::Request>(&c)) {
            if (rq->users.empty()) return problem("request: name at least one user");
            for (auto& u : rq->users)
                if (!valid_user_name(u)) return problem("request: invalid user name '" + u + "'");
            if (!cfg.directory) return direct_request(*rq);
            if (rq->users.size() > wire::kMaxRoomMembers) return problem("request: too many users");
            OutRequest r;
            r.id = next_request_id++;
            r.users = rq->users;
            r.created = r.asked = now;
            if (requests.size() >= wire::kMaxRoleRequests) return problem("request: too many open requests");
            env.send(*cfg.directory, wire::MsgType::chat_request, wire::encode(wire::ChatRequest{r.id, r.users}));
            requests.emplace(r.id, std::move(r));
        } else if (auto* ac = std::get_if<room_cmd::Accept>(&c)) {
            answer(ac->from, true);
        } else if (auto* de = std::get_if<room_cmd::Decline>(&c)) {
            answer(de->from, false);
        } else if (auto* se = std::get_if<room_cmd::Send>(&c)) {
            auto it = rooms.find(se->room);
            if (it == rooms.end()) return problem("no room " + short_id(se->room));
            if (se->text.empty()) return;
            if (se->text.size() > wire::kMaxText) return problem("line too long (at most 4096 bytes)");
            Room& r = it->second;
            if (r.outbox.size() >= cfg.max_outbox_per_room)
                return problem("room " + short_id(r.id) + ": too many lines waiting for acks, not sent");
            const std::uint64_t seq = r.next_seq++;
            OutLine& l = r.outbox[seq];
            l.id = env.random_id<16>();
            l.sent = now;
            l.text = se->text;
            // Stored before it is sent (the driver applies store ops first).
            ops.push_back(store_op::PutRoomLine{RoomLineRecord{r.id, seq, l.id, l.sent, l.text}});
            if (r.joined) transmit(r, seq, l);
            trim(r);  // alone in the room: delivered at once
        } else if (auto* lv = std::get_if<room_cmd::Leave>(&c)) {
            auto it = rooms.find(lv->room);
            if (it == rooms.end()) return problem("no room " + short_id(lv->room));
            env.send(it->second.ticket.relay, wire::MsgType::room_leave, wire::encode(wire::RoomLeave{lv->room}));
            if (!it->second.direct && cfg.directory) {
                left.insert(lv->room);
                env.send(*cfg.directory, wire::MsgType::chat_leave, wire::encode(wire::RoomLeave{lv->room}));
            }
            forget(lv->room);
            rooms.erase(it);
            event(room_ev::RoomLeft{lv->room});
        }
    }

    // Leaving darkchat: a room whose own lines everyone acked is left (the relay and the
    // directory are told, so the others see us go at once); a room with lines still
    // waiting is only left on its relay and kept in the store, with them, for next time.
    void quit() {
        std::vector<RoomId> done;
        for (auto& [id, r] : rooms) {
            if (r.outbox.empty()) {
                done.push_back(id);
                continue;
            }
            env.send(r.ticket.relay, wire::MsgType::room_leave, wire::encode(wire::RoomLeave{id}));
            event(room_ev::Notice{"room " + short_id(id) + ": " + std::to_string(r.outbox.size()) +
                                  " line(s) not yet acked by everyone: room kept, they go when darkchat starts again "
                                  "(\\leave drops them)"});
        }
        for (auto& id : done) command(room_cmd::Leave{id});
    }

    // ---- dispatch and timers ------------------------------------------------------------------

    void on_datagram(const Addr& from, ByteView data) {
        auto in = env.open(now, from, data);
        if (!in) return;
        using wire::MsgType;
        switch (in->pkt.header.type) {
        case MsgType::client_state:
            if (auto p = payload<wire::ClientState>(env, *in, wire::decode_client_state)) on_client_state(*in, *p);
            break;
        case MsgType::probe_reply:
            if (auto p = payload<wire::ProbeReply>(env, *in, wire::decode_probe_reply)) on_probe_reply(*in, *p);
            break;
        case MsgType::room_roster:
            if (auto p = payload<wire::RoomRoster>(env, *in, wire::decode_room_roster)) on_roster(*in, *p);
            break;
        case MsgType::room_line:
            if (auto p = payload<wire::RoomLine>(env, *in, wire::decode_room_line)) on_line(*p);
            break;
        case MsgType::room_ack:
            if (auto p = payload<wire::RoomAck>(env, *in, wire::decode_room_ack)) on_ack(*p);
            break;
        case MsgType::room_refused:
            if (auto p = payload<wire::RoomRefused>(env, *in, wire::decode_room_refused)) on_refused(*in, *p);
            break;
        case MsgType::invite:
            if (auto p = payload<wire::Invite>(env, *in, wire::decode_invite)) on_invite(*in, *p);
            break;
        case MsgType::invite_answer:
            if (auto p = payload<wire::InviteAnswer>(env, *in, wire::decode_invite_answer)) on_invite_answer(*in, *p);
            break;
        default: ++env.stats().unsolicited; break;
        }
    }

    void on_timeout() {
        for (auto& [a, r] : relays)
            if (r.listed && now >= r.next_probe) probe(r);
        // room relays are probed too (they may not be listed by anyone)
        for (auto& [id, room] : rooms)
            if (auto it = relays.find(room.ticket.relay); it != relays.end() && !it->second.listed && now >= it->second.next_probe)
                probe(it->second);
        if (cfg.directory) {
            if (dir_alive && now - dir_last > cfg.directory_timeout) {
                dir_alive = false;
                event(room_ev::DirectoryLost{*cfg.directory});
                // Every open request: those it listed will not move on without it either.
                for (auto& [id, r] : requests)
                    if (!r.direct && !r.err_reported && !all_final(r)) {
                        r.err_reported = true;
                        for (auto& u : r.users)
                            if (!final_stage(shown_stage(r, u))) show_stage(r, u, Stage::server_err, 0, "directory not answering");
                    }
            }
            if (now >= next_heartbeat || (delays_changed && now >= last_report + cfg.report_interval)) heartbeat();
        }
        for (auto it = requests.begin(); it != requests.end();) {
            auto& r = it->second;
            if (!r.direct) {
                // A directory that never answered a request: SERVER_ERR after a few heartbeats.
                if (!r.seen && !r.err_reported && now - r.asked >= cfg.directory_timeout) {
                    r.err_reported = true;
                    for (auto& u : r.users) show_stage(r, u, Stage::server_err, 0, "directory not answering");
                }
                const bool stale = r.err_reported && now - r.created >= cfg.request_timeout;
                it = stale ? requests.erase(it) : std::next(it);
                continue;
            }
            direct_request_timers(r);
            const bool done = std::all_of(r.users.begin(), r.users.end(), [&](auto& u) {
                auto s = r.shown.find(u);
                return s != r.shown.end() && final_stage(s->second.first);
            });
            it = done && now - r.created >= cfg.request_timeout ? requests.erase(it) : std::next(it);
        }
        for (auto& [id, r] : rooms) {
            if (r.direct) direct_relocation(r);
            // Joined but some member's key is still unknown (a lost roster): joining again
            // is answered with the roster.
            if ((!r.joined || missing_keys(r)) && now >= r.next_join) join(r);
            if (r.joined && !r.outbox.empty() && now >= r.next_resend) resend(r, false);
        }
        // Answered or forgotten direct invites are dropped after request_timeout.
        for (auto it = direct_invites.begin(); it != direct_invites.end();) {
            const bool old = now - it->second.received >= cfg.request_timeout;
            if (old && !it->second.answer) event(room_ev::InviteGone{it->second.from});
            it = old ? direct_invites.erase(it) : std::next(it);
        }
    }

    std::optional<TimeMs> next_wakeup() const {
        std::optional<TimeMs> t;
        for (auto& [a, r] : relays)
            if (r.listed) earliest(t, r.next_probe);
        for (auto& [id, room] : rooms) {
            if (auto it = relays.find(room.ticket.relay); it != relays.end()) earliest(t, it->second.next_probe);
            if (!room.joined || missing_keys(room)) earliest(t, room.next_join);
            if (room.joined && !room.outbox.empty()) earliest(t, room.next_resend);
            if (room.move_id) earliest(t, room.next_move_invite);
            if (room.mine) earliest(t, now + cfg.measure_interval);
        }
        if (cfg.directory) {
            earliest(t, next_heartbeat);
            if (delays_changed) earliest(t, std::max(now, last_report + cfg.report_interval));
            if (dir_alive) earliest(t, dir_last + cfg.directory_timeout + 1);
        }
        for (auto& [id, r] : requests) {
            if (r.direct) {
                earliest(t, r.next_send);
                for (auto& [u, due] : r.next_remind)
                    if (due > now) earliest(t, due);
                earliest(t, r.created + cfg.request_timeout);
            } else if (!r.seen && !r.err_reported) {
                earliest(t, r.asked + cfg.directory_timeout);
            } else if (r.err_reported) {
                earliest(t, r.created + cfg.request_timeout);
            }
        }
        for (auto& [k, i] : direct_invites) earliest(t, i.received + cfg.request_timeout);
        if (t && *t < now) t = now;
        return t;
    }
};

RoomClient::RoomClient(RoomClientConfig config, Identity identity, core::Crypto& crypto, std::uint64_t rng_seed,
                       RoomSnapshot snapshot)
    : s_(std::make_unique<State>(std::move(config), std::move(identity), crypto, rng_seed, std::move(snapshot))) {}
RoomClient::~RoomClient() = default;

void RoomClient::handle_start(TimeMs now) {
    s_->now = now;
    if (s_->started) return;
    s_->started = true;
    for (auto& [a, r] : s_->relays) r.next_probe = now + r.next_probe % 51;
    s_->next_heartbeat = now;
    s_->last_report = now - s_->cfg.report_interval;
    s_->on_timeout();
}
void RoomClient::handle_datagram(TimeMs now, const Addr& from, ByteView data) {
    s_->now = now;
    s_->on_datagram(from, data);
}
void RoomClient::handle_timeout(TimeMs now) {
    s_->now = now;
    if (s_->started) s_->on_timeout();
}
void RoomClient::handle_command(TimeMs now, const RoomCommand& c) {
    s_->now = now;
    s_->command(c);
}

void RoomClient::handle_quit(TimeMs now) {
    s_->now = now;
    s_->quit();
}

std::optional<StoreOp> RoomClient::poll_store() {
    s_->flush();
    return pop_front(s_->ops);
}
std::optional<RoomEvent> RoomClient::poll_event() { return pop_front(s_->events); }
std::optional<core::Transmit> RoomClient::poll_transmit() { return s_->env.poll(); }
std::optional<TimeMs> RoomClient::poll_timeout() const {
    if (!s_->started) return std::nullopt;
    return s_->next_wakeup();
}

std::vector<RoomView> RoomClient::rooms() const {
    std::vector<RoomView> v;
    for (auto& [id, r] : s_->rooms) {
        RoomView x;
        x.room = id;
        x.relay_key = r.ticket.relay_key;
        x.relay = r.ticket.relay;
        x.epoch = r.ticket.epoch;
        x.members = r.members.empty() ? State::names(r.ticket) : r.members;
        x.joined = r.joined;
        x.unacked = r.outbox.size();
        v.push_back(std::move(x));
    }
    return v;
}
std::vector<RelayView> RoomClient::relays() const {
    std::vector<RelayView> v;
    for (auto& [a, r] : s_->relays) v.push_back({r.key_known ? r.key : PublicKey{}, a, r.rtt});
    return v;
}
std::vector<InviteView> RoomClient::invites() const {
    std::vector<InviteView> v;
    for (auto& [id, i] : s_->dir_invites)
        if (!i.answer) v.push_back({i.from, i.others});
    for (auto& [k, i] : s_->direct_invites)
        if (!i.answer) v.push_back({i.from, i.others});
    return v;
}
bool RoomClient::directory_alive() const { return s_->dir_alive; }
const Identity& RoomClient::identity() const { return s_->env.id(); }
const RoleStats& RoomClient::stats() const { return s_->env.stats(); }

}  // namespace dc::roles
