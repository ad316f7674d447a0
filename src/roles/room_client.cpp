// The user side of directory and relays (roles.hpp, darkchat-rooms(7)): the dispatcher
// between its parts, each owning its state.
//
//  - measuring (measuring.hpp): probes to relays and the delay vector;
//  - the request flow (request_flow.hpp): asking for chats, invitations, accepting;
//  - delivery (delivery.hpp): the rooms, their lines, acks, resends and moves.
//
// What is left here is the directory session (its key, liveness, the versioned state
// it sends and the heartbeat that answers it, which carries what each part must repeat),
// the routing of packets and commands to the parts, and the order of their timers.

#include "delivery.hpp"
#include "request_flow.hpp"

namespace dc::roles {

using namespace detail;

struct RoomClient::State {
    RoomClientConfig cfg;
    Envelope env;
    Selector sel;
    RoomContext ctx;
    Measuring measuring;
    Delivery delivery;
    RequestFlow flow;
    TimeMs now = 0;
    bool started = false;

    // the directory session
    bool dir_alive = false;
    TimeMs dir_last = 0;
    std::optional<PublicKey> dir_key;
    std::uint64_t boot = 0, version = 0;
    TimeMs next_heartbeat = 0;
    std::vector<wire::GroupWish> group_wishes;             // named in every heartbeat
    std::map<RoomId, wire::GroupPlacement> placements;     // from the last full state

    // The parts are made in this order so that the random draws at start-up come in
    // the order they always did: the sealing key, the first request id, the run.
    State(RoomClientConfig c, Identity id, core::Crypto& crypto, std::uint64_t seed, RoomSnapshot snap)
        : cfg(std::move(c)),
          env(std::move(id), crypto, cfg.port, cfg.ip_rate, cfg.ip_burst),
          sel(seed),
          ctx(cfg, env),
          measuring(ctx, seed ^ 0x5eed),
          delivery(ctx, measuring),
          flow(ctx, env.nonce() >> 16) {  // distinct across restarts
        const std::uint64_t run = env.nonce();
        env.known_budget(cfg.relay_rate, cfg.relay_burst);
        for (auto& a : cfg.relays) measuring.add(now, a, true);
        delivery.resume(now, run, std::move(snap));
    }

    // ---- the directory session ---------------------------------------------------------

    void heartbeat() {
        if (!cfg.directory) return;
        wire::ClientHeartbeat hb;
        hb.seen_version = version;
        hb.seen_boot = boot;
        measuring.report(now, boot, hb);
        if (dir_alive) delivery.add_held(hb);
        hb.groups = group_wishes;
        env.send(*cfg.directory, wire::MsgType::client_heartbeat, wire::encode(hb));
        next_heartbeat = now + cfg.heartbeat_interval;
        // What the state does not show yet is repeated with every heartbeat.
        flow.repeat_to(*cfg.directory);
        delivery.repeat_leaves(*cfg.directory);
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
            ctx.event(room_ev::DirectoryUp{*cfg.directory});
        }
        if (s.boot == boot) measuring.report_seen(s.report_seen);
        if (s.unchanged) return;
        if (s.boot == boot && s.version <= version) return;  // old or reordered
        const bool new_boot = s.boot != boot;
        boot = s.boot;
        version = s.version;

        // Relays to measure: those in service, and the relays of our rooms.
        measuring.set_in_service(now, s.relays, [&](const Addr& a) { return delivery.on_relay(a); });
        placements.clear();
        for (auto& p : s.placements) placements[p.room] = p;
        const StateNews news = flow.on_state(now, s);
        const bool behind = delivery.on_chats(now, s.chats, *dir_key);
        // A new directory run knows no delays and no chats: tell it at once.
        if (news.fresh_invite || new_boot || news.ask_again || behind) heartbeat();
    }

    // ---- dispatch and timers ------------------------------------------------------------

    void on_invite(const Incoming& in, const wire::Invite& iv) {
        auto t = flow.direct_ticket(in, iv.ticket);
        if (!t) return;
        if (!delivery.on_move_invite(now, in, iv, *t)) flow.on_invite(now, in, iv, *t);
    }

    void on_invite_answer(const Incoming& in, const wire::InviteAnswer& a) {
        delivery.on_move_answer(in, a);
        if (auto acc = flow.on_invite_answer(in, a)) delivery.open_issued(now, acc->blob, acc->ticket, acc->peer, acc->peer_addr);
    }

    void on_datagram(const Addr& from, ByteView data) {
        if (wire::peek_type(data) == wire::MsgType::room_hop) return delivery.on_hop(data);
        auto in = env.open(now, from, data, [&](const wire::Header& h, const Addr& a) {
            return delivery.relay_of_a_room(h.from_key, a) || delivery.member_at(h.from_key, a);
        });
        if (!in) return;
        using wire::MsgType;
        switch (in->pkt.header.type) {
        case MsgType::client_state:
            if (auto p = payload<wire::ClientState>(env, *in, wire::decode_client_state)) on_client_state(*in, *p);
            break;
        case MsgType::probe_reply:
            if (auto p = payload<wire::ProbeReply>(env, *in, wire::decode_probe_reply)) measuring.on_probe_reply(now, *in, *p);
            break;
        case MsgType::room_roster:
            if (auto p = payload<wire::RoomRoster>(env, *in, wire::decode_room_roster)) delivery.on_roster(now, *in, *p);
            break;
        case MsgType::room_line:
            if (auto p = payload<wire::RoomLine>(env, *in, wire::decode_room_line)) delivery.on_line(*p);
            break;
        case MsgType::room_ack:
            if (auto p = payload<wire::RoomAck>(env, *in, wire::decode_room_ack)) delivery.on_ack(*p);
            break;
        case MsgType::room_refused:
            if (auto p = payload<wire::RoomRefused>(env, *in, wire::decode_room_refused)) delivery.on_refused(now, *in, *p);
            break;
        case MsgType::invite:
            if (auto p = payload<wire::Invite>(env, *in, wire::decode_invite)) on_invite(*in, *p);
            break;
        case MsgType::invite_answer:
            if (auto p = payload<wire::InviteAnswer>(env, *in, wire::decode_invite_answer)) on_invite_answer(*in, *p);
            break;
        case MsgType::room_file:
            if (auto p = payload<wire::RoomFile>(env, *in, wire::decode_room_file)) delivery.on_file(*in, *p);
            break;
        default: ++env.stats().unsolicited; break;
        }
    }

    void command(const RoomCommand& c) {
        if (auto* rq = std::get_if<room_cmd::Request>(&c)) {
            flow.request(now, *rq, measuring.alive_relays(), sel);
        } else if (auto* ac = std::get_if<room_cmd::Accept>(&c)) {
            if (auto acc = flow.answer(ac->from, true)) delivery.join_invited(now, acc->blob, acc->ticket, acc->peer);
        } else if (auto* de = std::get_if<room_cmd::Decline>(&c)) {
            flow.answer(de->from, false);
        } else if (auto* se = std::get_if<room_cmd::Send>(&c)) {
            delivery.send_line(now, *se);
        } else if (auto* lv = std::get_if<room_cmd::Leave>(&c)) {
            delivery.leave(lv->room);
        } else if (auto* ca = std::get_if<room_cmd::Carry>(&c)) {
            delivery.carry(now, ca->ticket);
        } else if (auto* pg = std::get_if<room_cmd::PlaceGroups>(&c)) {
            if (pg->groups != group_wishes) {
                group_wishes = pg->groups;
                if (group_wishes.size() > wire::kMaxRoleRooms) group_wishes.resize(wire::kMaxRoleRooms);
                if (dir_alive) heartbeat();  // the directory hears of it now, not in a second
            }
        }
    }

    void on_timeout() {
        measuring.handle_timeout(now, delivery.relays());
        if (cfg.directory) {
            if (dir_alive && now - dir_last > cfg.directory_timeout) {
                dir_alive = false;
                ctx.event(room_ev::DirectoryLost{*cfg.directory});
                flow.directory_lost();
            }
            if (now >= next_heartbeat || measuring.report_due(now)) heartbeat();
        }
        flow.handle_timeout(now);
        delivery.handle_timeout(now, sel);
        flow.expire_invites(now);
    }

    std::optional<TimeMs> next_wakeup() const {
        std::optional<TimeMs> t;
        measuring.next_wakeup(now, cfg.directory.has_value(), delivery.relays(), t);
        delivery.next_wakeup(now, t);
        if (cfg.directory) {
            earliest(t, next_heartbeat);
            if (dir_alive) earliest(t, dir_last + cfg.directory_timeout + 1);
        }
        flow.next_wakeup(now, t);
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
    s_->measuring.start(now);
    s_->next_heartbeat = now;
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
    s_->delivery.quit();
}

std::optional<StoreOp> RoomClient::poll_store() { return s_->delivery.poll_store(); }
std::optional<RoomEvent> RoomClient::poll_event() { return s_->ctx.poll_event(); }
std::optional<core::Transmit> RoomClient::poll_transmit() {
    s_->delivery.send_due_acks();
    return s_->env.poll();
}
std::optional<TimeMs> RoomClient::poll_timeout() const {
    if (!s_->started) return std::nullopt;
    return s_->next_wakeup();
}

std::optional<GroupRoomLine> RoomClient::poll_group_line() { return s_->delivery.poll_group_line(); }
std::optional<RoomFileMessage> RoomClient::poll_file_message() { return s_->delivery.poll_file(); }
bool RoomClient::send_file_message(TimeMs now, const PublicKey& to, ByteView message) {
    s_->now = now;
    return s_->delivery.send_file(to, message);
}
std::vector<RoomMemberView> RoomClient::members(const RoomId& room) const { return s_->delivery.members(room); }
std::optional<Addr> RoomClient::member_addr(const PublicKey& key) const { return s_->delivery.served_at(key); }
std::vector<RoomView> RoomClient::rooms() const { return s_->delivery.view(); }
std::optional<wire::GroupPlacement> RoomClient::placement(const RoomId& group) const {
    if (!s_->dir_alive) return std::nullopt;
    auto it = s_->placements.find(group);
    if (it == s_->placements.end()) return std::nullopt;
    return it->second;
}
bool RoomClient::relay_dead(const Addr& relay) const {
    return s_->measuring.measures(relay) && s_->measuring.dead(relay);
}
std::optional<std::size_t> RoomClient::unacked(const RoomId& room) const {
    const auto* r = s_->delivery.find(room);
    if (!r) return std::nullopt;
    return r->outbox.size();
}
const RoomClientConfig& RoomClient::config() const { return s_->cfg; }
std::vector<RelayView> RoomClient::relays() const { return s_->measuring.view(); }
std::vector<InviteView> RoomClient::invites() const { return s_->flow.invites(); }
bool RoomClient::directory_alive() const { return s_->dir_alive; }
const Identity& RoomClient::identity() const { return s_->env.id(); }
const RoleStats& RoomClient::stats() const { return s_->env.stats(); }

}  // namespace dc::roles
