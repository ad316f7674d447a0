// The room client's request flow (request_flow.hpp).

#include "request_flow.hpp"

namespace dc::roles::detail {

Stage RequestFlow::shown_stage(const OutRequest& r, const std::string& user) {
    auto it = r.shown.find(user);
    return it == r.shown.end() ? Stage::ack_conn : it->second.first;
}

bool RequestFlow::all_final(const OutRequest& r) {
    return std::all_of(r.users.begin(), r.users.end(), [&](auto& u) { return final_stage(shown_stage(r, u)); });
}

void RequestFlow::show_stage(OutRequest& r, const std::string& user, Stage st, std::uint32_t reminders,
                             const std::string& detail) {
    auto it = r.shown.find(user);
    if (it != r.shown.end() && it->second.first == st && it->second.second == reminders) return;
    if (it != r.shown.end() && final_stage(it->second.first)) return;
    // A stage that passed between two states is shown too: ACK_CONN, REQ_SENT come first.
    const bool fresh = it == r.shown.end();
    if (fresh && st != Stage::ack_conn && st != Stage::user_not_found && st != Stage::server_err)
        ctx_.event(room_ev::RequestStage{user, Stage::ack_conn, {}});
    const Stage before = fresh ? Stage::ack_conn : it->second.first;
    if ((st == Stage::awaiting_req || st == Stage::req_accepted) && before == Stage::ack_conn)
        ctx_.event(room_ev::RequestStage{user, Stage::req_sent, {}});
    ctx_.event(room_ev::RequestStage{user, st, detail});
    r.shown[user] = {st, reminders};
}

// ---- asking --------------------------------------------------------------------------

void RequestFlow::request(TimeMs now, const room_cmd::Request& c, const std::vector<Candidate>& cands, Selector& sel) {
    if (c.users.empty()) return ctx_.problem("request: name at least one user");
    for (auto& u : c.users)
        if (!valid_user_name(u)) return ctx_.problem("request: invalid user name '" + u + "'");
    if (!ctx_.cfg.directory) return direct_request(now, c, cands, sel);
    if (c.users.size() > wire::kMaxRoomMembers) return ctx_.problem("request: too many users");
    OutRequest r;
    r.id = next_id_++;
    r.users = c.users;
    r.created = r.asked = now;
    if (requests_.size() >= wire::kMaxRoleRequests) return ctx_.problem("request: too many open requests");
    ctx_.env.send(*ctx_.cfg.directory, wire::MsgType::chat_request, wire::encode(wire::ChatRequest{r.id, r.users}));
    requests_.emplace(r.id, std::move(r));
}

void RequestFlow::direct_request(TimeMs now, const room_cmd::Request& c, const std::vector<Candidate>& cands,
                                 Selector& sel) {
    OutRequest r;
    r.id = next_id_++;
    r.direct = true;
    r.created = now;
    r.room = ctx_.env.random_id<16>();
    r.next_send = now;
    std::vector<wire::TicketMember> members{{ctx_.me(), ctx_.env.id().pk}};
    for (auto& u : c.users) {
        if (u == ctx_.me() || contains(r.users, u)) continue;
        r.users.push_back(u);
        auto p = std::find_if(c.peers.begin(), c.peers.end(), [&](auto& x) { return x.user == u; });
        if (p == c.peers.end() || !p->key || p->addrs.empty()) {
            show_stage(r, u, Stage::user_not_found, 0, {});
            continue;
        }
        members.push_back({u, *p->key});
        r.addrs[u] = p->addrs;
    }
    if (r.addrs.empty()) return;
    if (cands.empty() || members.size() > std::min(ctx_.cfg.max_members, wire::kMaxRoomMembers)) {
        for (auto& [u, a] : r.addrs)
            show_stage(r, u, Stage::server_err, 0, cands.empty() ? "no relay alive" : "too many members");
        return;
    }
    // client-round-robin: the next relay of our list that answers probes.
    const auto& relay = cands[*select_relay(Strategy::client_round_robin, cands, {}, sel)];
    r.ticket = ctx_.issue(now, r.room, relay, 1, members);
    for (auto& [u, a] : r.addrs) show_stage(r, u, Stage::ack_conn, 0, {});
    requests_.emplace(r.id, std::move(r));
}

void RequestFlow::send_invites(TimeMs now, OutRequest& r) {
    for (auto& [u, addrs] : r.addrs) {
        auto s = r.shown.find(u);
        if (s != r.shown.end() && final_stage(s->second.first)) continue;
        for (auto& a : addrs) ctx_.env.send(a, wire::MsgType::invite, wire::encode(wire::Invite{r.id, r.ticket}));
    }
    r.next_send = now + ctx_.cfg.invite_interval;
}

void RequestFlow::direct_timers(TimeMs now, OutRequest& r) {
    for (auto& [u, addrs] : r.addrs) {
        auto s = r.shown.find(u);
        if (s == r.shown.end() || final_stage(s->second.first)) continue;
        if (now - r.created >= ctx_.cfg.request_timeout) {
            show_stage(r, u, Stage::timed_out, 0, {});
        } else if (s->second.first == Stage::req_sent || s->second.first == Stage::awaiting_req) {
            auto& due = r.next_remind[u];
            if (now >= due) {
                if (due != 0) show_stage(r, u, Stage::awaiting_req, s->second.second + 1, {});
                due = now + ctx_.cfg.awaiting_interval;
            }
        }
    }
    if (now >= r.next_send) send_invites(now, r);
}

// ---- answering ---------------------------------------------------------------------------

// The open invite from `from` (any if empty and only one is open).
InInvite* RequestFlow::find_invite(const std::string& from) {
    std::vector<InInvite*> open;
    for (auto& [id, i] : dir_invites_)
        if (!i.answer && (from.empty() || i.from == from)) open.push_back(&i);
    for (auto& [k, i] : direct_invites_)
        if (!i.answer && (from.empty() || i.from == from)) open.push_back(&i);
    if (open.size() == 1) return open.front();
    if (open.empty()) {
        ctx_.problem(from.empty() ? "no open invite" : "no open invite from " + from);
    } else if (from.empty()) {
        std::string who;
        for (auto* i : open) who += (who.empty() ? "" : ", ") + i->from;
        ctx_.problem("several open invites (" + who + "): name one");
    } else {
        return open.front();
    }
    return nullptr;
}

std::optional<Accepted> RequestFlow::answer(const std::string& from, bool accept) {
    InInvite* inv = find_invite(from);
    if (!inv) return std::nullopt;
    inv->answer = accept;
    ctx_.event(room_ev::Notice{accept ? "accepted " + inv->from + "'s request: joining the room"
                                      : "declined " + inv->from + "'s request"});
    if (!inv->direct) {
        if (ctx_.cfg.directory)
            ctx_.env.send(*ctx_.cfg.directory, wire::MsgType::chat_answer, wire::encode(wire::ChatAnswer{inv->id, accept}));
        return std::nullopt;
    }
    ctx_.answer_invite(inv->from_addr, inv->id, inv->t.room, inv->t.epoch, accept ? kInviteAccepted : kInviteDeclined);
    if (!accept) return std::nullopt;
    return Accepted{inv->ticket, inv->t, inv->from, {}};
}

// ---- with a directory ------------------------------------------------------------------

StateNews RequestFlow::on_state(TimeMs now, const wire::ClientState& s) {
    StateNews news;
    // Our requests and their stages.
    std::set<std::uint64_t> listed_requests;
    for (auto& o : s.outgoing) {
        listed_requests.insert(o.id);
        auto it = requests_.find(o.id);
        if (it == requests_.end()) continue;
        it->second.seen = true;
        show_stage(it->second, o.user, static_cast<Stage>(o.stage), o.reminders, o.detail);
    }
    // A request the directory listed and no longer does (it restarted and forgot it,
    // or dropped it while it thought us gone) is asked again. Unless the list was cut
    // at its bound: then absence says nothing.
    if (s.outgoing.size() < wire::kMaxRoleRequests)
        for (auto& [id, r] : requests_)
            if (!r.direct && r.seen && !listed_requests.count(id) && !all_final(r)) {
                r.seen = false;
                r.asked = now;
                news.ask_again = true;
            }
    for (auto it = requests_.begin(); it != requests_.end();) {
        auto& r = it->second;
        const bool done = !r.direct && r.seen && all_final(r);
        it = done ? requests_.erase(it) : std::next(it);
    }

    // Invites to us. A new one is acknowledged at once (a heartbeat with this
    // version): that is what REQ_SENT tells the requester.
    std::set<std::uint64_t> open;
    for (auto& i : s.incoming) {
        open.insert(i.id);
        if (!dir_invites_.count(i.id)) {
            news.fresh_invite = true;
            InInvite inv;
            inv.id = i.id;
            inv.from = i.from;
            inv.others = i.others;
            inv.received = now;
            dir_invites_.emplace(i.id, inv);
            ctx_.event(room_ev::Invited{i.from, i.others});
        }
    }
    for (auto it = dir_invites_.begin(); it != dir_invites_.end();) {
        if (open.count(it->first)) {
            ++it;
            continue;
        }
        if (!it->second.answer) ctx_.event(room_ev::InviteGone{it->second.from});
        it = dir_invites_.erase(it);
    }
    return news;
}

void RequestFlow::repeat_to(const Addr& directory) {
    for (auto& [id, r] : requests_)
        if (!r.direct && !r.seen)
            ctx_.env.send(directory, wire::MsgType::chat_request, wire::encode(wire::ChatRequest{id, r.users}));
    for (auto& [id, inv] : dir_invites_)
        if (inv.answer)
            ctx_.env.send(directory, wire::MsgType::chat_answer, wire::encode(wire::ChatAnswer{id, *inv.answer}));
}

void RequestFlow::directory_lost() {
    // Every open request: those it listed will not move on without it either.
    for (auto& [id, r] : requests_)
        if (!r.direct && !r.err_reported && !all_final(r)) {
            r.err_reported = true;
            for (auto& u : r.users)
                if (!final_stage(shown_stage(r, u))) show_stage(r, u, Stage::server_err, 0, "directory not answering");
        }
}

// ---- without a directory -------------------------------------------------------------

std::optional<wire::Ticket> RequestFlow::direct_ticket(const Incoming& in, const wire::SignedBlob& blob) {
    auto& env = ctx_.env;
    auto t = wire::decode_ticket(blob.body);
    if (!t) {
        ++env.stats().malformed;
        return std::nullopt;
    }
    const auto* issuer = ticket_member(*t, t->issuer);
    const auto* self = ticket_member(*t, ctx_.me());
    if (t->issuer != in.pkt.header.from_user || !issuer || issuer->key != in.pkt.header.from_key || !self ||
        self->key != env.id().pk || !env.verify(blob, issuer->key)) {
        ++env.stats().bad_signature;
        return std::nullopt;
    }
    if (ctx_.impostor(*issuer)) {  // someone else's key under a name we know
        ++env.stats().wrong_key;
        ctx_.warn_key(issuer->user, "an invite from " + issuer->user);
        return std::nullopt;
    }
    return std::move(t).value();
}

void RequestFlow::on_invite(TimeMs now, const Incoming& in, const wire::Invite& iv, const wire::Ticket& t) {
    const std::string& from = in.pkt.header.from_user;
    const auto key = std::make_pair(from, iv.id);
    auto it = direct_invites_.find(key);
    if (it == direct_invites_.end()) {
        if (direct_invites_.size() >= wire::kMaxRoleRequests) {
            auto oldest = std::min_element(direct_invites_.begin(), direct_invites_.end(),
                                           [](auto& a, auto& b) { return a.second.received < b.second.received; });
            if (!oldest->second.answer) ctx_.event(room_ev::InviteGone{oldest->second.from});
            direct_invites_.erase(oldest);
        }
        InInvite inv;
        inv.id = iv.id;
        inv.from = from;
        for (auto& m : t.members)
            if (m.user != from && m.user != ctx_.me()) inv.others.push_back(m.user);
        inv.direct = true;
        inv.ticket = iv.ticket;
        inv.t = t;
        inv.received = now;
        it = direct_invites_.emplace(key, std::move(inv)).first;
        ctx_.event(room_ev::Invited{from, it->second.others});
    }
    it->second.from_addr = in.reply;
    const auto& a = it->second.answer;
    ctx_.answer_invite(in.reply, iv.id, t.room, t.epoch, !a ? kInviteOpen : *a ? kInviteAccepted : kInviteDeclined);
}

std::optional<Accepted> RequestFlow::on_invite_answer(const Incoming& in, const wire::InviteAnswer& a) {
    const std::string& from = in.pkt.header.from_user;
    auto it = requests_.find(a.id);
    if (it == requests_.end() || !it->second.direct || it->second.room != a.room) return std::nullopt;
    OutRequest& r = it->second;
    auto t = wire::decode_ticket(r.ticket.body);
    const auto* m = t ? ticket_member(*t, from) : nullptr;
    if (!m || m->key != in.pkt.header.from_key || !r.addrs.count(from)) {
        ++ctx_.env.stats().unsolicited;
        return std::nullopt;
    }
    r.addrs[from] = {in.reply};
    auto s = r.shown.find(from);
    if (s != r.shown.end() && final_stage(s->second.first)) return std::nullopt;
    if (a.answer == kInviteOpen) {
        if (s == r.shown.end() || s->second.first == Stage::ack_conn) show_stage(r, from, Stage::req_sent, 0, {});
    } else if (a.answer == kInviteDeclined) {
        show_stage(r, from, Stage::declined, 0, {});
    } else if (a.answer == kInviteAccepted) {
        show_stage(r, from, Stage::req_accepted, 0, {});
        return Accepted{r.ticket, *t, from, in.reply};
    }
    return std::nullopt;
}

// ---- timers --------------------------------------------------------------------------------

void RequestFlow::handle_timeout(TimeMs now) {
    for (auto it = requests_.begin(); it != requests_.end();) {
        auto& r = it->second;
        if (!r.direct) {
            // A directory that never answered a request: SERVER_ERR after a few heartbeats.
            if (!r.seen && !r.err_reported && now - r.asked >= ctx_.cfg.directory_timeout) {
                r.err_reported = true;
                for (auto& u : r.users) show_stage(r, u, Stage::server_err, 0, "directory not answering");
            }
            const bool stale = r.err_reported && now - r.created >= ctx_.cfg.request_timeout;
            it = stale ? requests_.erase(it) : std::next(it);
            continue;
        }
        direct_timers(now, r);
        const bool done = std::all_of(r.users.begin(), r.users.end(), [&](auto& u) {
            auto s = r.shown.find(u);
            return s != r.shown.end() && final_stage(s->second.first);
        });
        it = done && now - r.created >= ctx_.cfg.request_timeout ? requests_.erase(it) : std::next(it);
    }
}

void RequestFlow::expire_invites(TimeMs now) {
    for (auto it = direct_invites_.begin(); it != direct_invites_.end();) {
        const bool old = now - it->second.received >= ctx_.cfg.request_timeout;
        if (old && !it->second.answer) ctx_.event(room_ev::InviteGone{it->second.from});
        it = old ? direct_invites_.erase(it) : std::next(it);
    }
}

void RequestFlow::next_wakeup(TimeMs now, std::optional<TimeMs>& t) const {
    for (auto& [id, r] : requests_) {
        if (r.direct) {
            earliest(t, r.next_send);
            for (auto& [u, due] : r.next_remind)
                if (due > now) earliest(t, due);
            earliest(t, r.created + ctx_.cfg.request_timeout);
        } else if (!r.seen && !r.err_reported) {
            earliest(t, r.asked + ctx_.cfg.directory_timeout);
        } else if (r.err_reported) {
            earliest(t, r.created + ctx_.cfg.request_timeout);
        }
    }
    for (auto& [k, i] : direct_invites_) earliest(t, i.received + ctx_.cfg.request_timeout);
}

std::vector<InviteView> RequestFlow::invites() const {
    std::vector<InviteView> v;
    for (auto& [id, i] : dir_invites_)
        if (!i.answer) v.push_back({i.from, i.others});
    for (auto& [k, i] : direct_invites_)
        if (!i.answer) v.push_back({i.from, i.others});
    return v;
}

}  // namespace dc::roles::detail
