// The directory's request flow and chats (directory.cpp has the registrations): a
// chat request to its invitees' answers, the chat created at the first accept with a
// ticket the directory signs, groups' rooms placed for their coordinators, and the
// background pass that moves chats (Placement decides where; here it is applied and
// told). See darkchat-rooms(7).

#include "directory_state.hpp"

namespace dc::roles {

// ---- the request flow --------------------------------------------------------------

void Directory::State::set_stage(Request& r, Invitee& inv, Stage s, std::string detail) {
    if (inv.stage == s && s != Stage::awaiting_req) return;
    inv.stage = s;
    if (final_stage(s) && r.room)
        if (auto ch = chats.find(*r.room); ch != chats.end()) {
            auto& p = ch->second.pending;
            p.erase(std::remove(p.begin(), p.end(), inv.user), p.end());
            if (s == Stage::req_accepted && !contains(ch->second.members, inv.user)) ch->second.members.push_back(inv.user);
            for (auto& m : ch->second.members) touch(m);
        }
    inv.detail = std::move(detail);
    event(dir_ev::RequestStage{r.from, inv.user, s});
    touch(r.from);
    touch(inv.user);
    if (std::all_of(r.invitees.begin(), r.invitees.end(), [](auto& i) { return final_stage(i.stage); }))
        if (auto it = clients.find(r.from); it != clients.end()) r.final_version = it->second.version;
}

std::size_t Directory::State::chats_of(const std::string& name) const {
    std::size_t n = 0;
    for (auto& [id, ch] : chats) n += contains(ch.members, name);
    return n;
}

std::size_t Directory::State::open_requests_of(const std::string& name) const {
    std::size_t n = 0;
    for (auto& [id, r] : requests)
        if (r.from == name && !r.final_version) ++n;
    return n;
}

void Directory::State::on_chat_request(const Incoming& in, const wire::ChatRequest& req) {
    ClientRec* c = client_of(in);
    if (!c) return;
    for (auto& [id, r] : requests)
        if (r.from == c->name && r.client_id == req.id) return;  // a repeat: the state already says
    // The table of requests is bounded: past max_clients entries (one per client on
    // average) a request is dropped unanswered; the client shows SERVER_ERR when the
    // state never lists it.
    if (requests.size() >= cfg.max_clients) {
        ++env.stats().refused;
        return;
    }
    Request r;
    r.from = c->name;
    r.client_id = req.id;
    r.created = now;
    for (auto& u : req.users)
        if (u != c->name && std::none_of(r.invitees.begin(), r.invitees.end(), [&](auto& i) { return i.user == u; }))
            {
            Invitee inv;
            inv.user = u;
            r.invitees.push_back(std::move(inv));
        }
    if (r.invitees.empty()) return;
    // Over a bound, or no relay at all: every invitee ends at once with SERVER_ERR.
    std::string err;
    if (open_requests_of(c->name) >= cfg.max_requests_per_client)
        err = "too many open requests";
    else if (chats_of(c->name) >= cfg.max_chats_per_client)
        err = "too many chats";
    else if (r.invitees.size() + 1 > cfg.max_members)
        err = "too many members";
    else if (candidates(relays).empty())
        err = "no relay alive";
    if (!err.empty()) ++env.stats().refused;
    auto& rr = requests.emplace(next_request_id++, std::move(r)).first->second;
    for (auto& inv : rr.invitees) {
        auto it = clients.find(inv.user);
        if (!err.empty()) {
            set_stage(rr, inv, Stage::server_err, err);
        } else if (it == clients.end() || !it->second.alive) {
            set_stage(rr, inv, Stage::user_not_found);
        } else {
            event(dir_ev::RequestStage{rr.from, inv.user, Stage::ack_conn});
            touch(inv.user);
            inv.added_version = it->second.version;
        }
    }
    touch(rr.from);
}

void Directory::State::on_chat_answer(const Incoming& in, const wire::ChatAnswer& a) {
    ClientRec* c = client_of(in);
    if (!c) return;
    auto it = requests.find(a.id);
    if (it == requests.end()) return;
    Request& r = it->second;
    for (auto& inv : r.invitees) {
        if (inv.user != c->name || final_stage(inv.stage)) continue;
        if (!a.accept) {
            set_stage(r, inv, Stage::declined);
            return;
        }
        if (chats_of(c->name) >= cfg.max_chats_per_client) {
            set_stage(r, inv, Stage::server_err, "too many chats");
            return;
        }
        if (!r.room) {
            auto room = create_chat(r, c->name);
            if (!room) {
                set_stage(r, inv, Stage::server_err, candidates(relays).empty() ? "no relay alive" : "no relay measured by all");
                return;
            }
            r.room = *room;
        }
        set_stage(r, inv, Stage::req_accepted);  // moves the accepter from pending to members
        return;
    }
}

void Directory::State::on_chat_leave(const Incoming& in, const wire::RoomLeave& l) {
    ClientRec* c = client_of(in);
    if (!c) return;
    auto it = chats.find(l.room);
    if (it == chats.end()) {
        touch(c->name);
        return;
    }
    auto& m = it->second.members;
    m.erase(std::remove(m.begin(), m.end(), c->name), m.end());
    touch(c->name);
    for (auto& x : m) touch(x);
    if (m.empty()) {
        event(dir_ev::ChatEnded{l.room});
        chats.erase(it);
    }
}

// ---- groups' rooms -------------------------------------------------------------------

// The groups a coordinator names in its heartbeat: each placed (or kept where it is,
// with the list it names now); those of its it no longer names are forgotten. A group
// named by another client is taken over by it: the group's coordinator changed.
void Directory::State::place_groups(ClientRec& c, const std::vector<wire::GroupWish>& wishes) {
    std::set<RoomId> named;
    for (auto& w : wishes) {
        named.insert(w.room);
        auto it = chats.find(w.room);
        if (it != chats.end() && !it->second.group) continue;  // a chat's room id: not ours to place
        if (it == chats.end()) {
            if (chats.size() >= cfg.max_chats) continue;
            Chat ch;
            ch.room = w.room;
            ch.group = true;
            ch.owner = c.name;
            ch.members = w.members;
            auto relay = placement.choose(relays, delays_of(ch.members), placed(chats));
            if (!relay) continue;  // none in service (yet): named again with the next heartbeat
            ch.relay_key = relay->key;
            ch.relay = relay->addr;
            ch.moved = now;
            event(dir_ev::ChatCreated{ch.room, ch.relay, ch.members, relay->load});
            chats.emplace(w.room, std::move(ch));
            touch(c.name);
            continue;
        }
        Chat& ch = it->second;
        if (ch.owner != c.name || ch.members != w.members) {
            ch.owner = c.name;
            ch.members = w.members;
            touch(c.name);
        }
    }
    for (auto it = chats.begin(); it != chats.end();)
        if (it->second.group && it->second.owner == c.name && !named.count(it->first)) {
            event(dir_ev::ChatEnded{it->first});
            it = chats.erase(it);
        } else {
            ++it;
        }
}

// ---- chats ------------------------------------------------------------------------

std::vector<DelayVector> Directory::State::delays_of(const std::vector<std::string>& members) const {
    std::vector<DelayVector> v;
    for (auto& m : members)
        if (auto it = clients.find(m); it != clients.end()) v.push_back(it->second.delays);
    return v;
}

wire::SignedBlob Directory::State::issue(const Chat& ch) {
    wire::Ticket t;
    t.room = ch.room;
    t.relay_key = ch.relay_key;
    t.relay = ch.relay;
    t.epoch = ch.epoch;
    t.members = ch.invited;
    t.issued = now;
    return env.sign(wire::encode(t));
}

// A chat is created at the first accept, with the requester and the accepter as
// members; the ticket names every invitee still open, so later accepters join the
// same room (rooms of more than two) and nobody else can.
std::optional<RoomId> Directory::State::create_chat(const Request& r, const std::string& accepter) {
    if (chats.size() >= cfg.max_chats) return std::nullopt;
    Chat ch;
    ch.room = env.random_id<16>();
    ch.members = {r.from, accepter};
    auto member = [&](const std::string& n) {
        if (auto it = clients.find(n); it != clients.end()) ch.invited.push_back({n, it->second.key});
    };
    member(r.from);
    for (auto& inv : r.invitees)
        if (inv.user == accepter || !final_stage(inv.stage)) {
            member(inv.user);
            if (inv.user != accepter) ch.pending.push_back(inv.user);
        }
    auto relay = placement.choose(relays, delays_of(ch.members), placed(chats));
    if (!relay) return std::nullopt;
    ch.relay_key = relay->key;
    ch.relay = relay->addr;
    ch.moved = now;
    ch.ticket = issue(ch);
    event(dir_ev::ChatCreated{ch.room, ch.relay, ch.members, relay->load});
    for (auto& m : ch.members) touch(m);
    const RoomId id = ch.room;
    chats.emplace(id, std::move(ch));
    return id;
}

void Directory::State::move(Chat& ch, const Candidate& to, MoveReason why, std::uint32_t old_ms, std::uint32_t new_ms) {
    event(dir_ev::ChatMoved{ch.room, ch.relay, to.addr, why, old_ms, new_ms});
    ch.relay_key = to.key;
    ch.relay = to.addr;
    ++ch.epoch;
    ch.moved = now;
    ch.reason = why;
    ch.ever_moved = true;
    ch.old_ms = old_ms;
    ch.new_ms = new_ms;
    if (ch.group) {
        touch(ch.owner);
        return;
    }
    ch.ticket = issue(ch);
    for (auto& m : ch.members) touch(m);
}

// Relocation, the one place that decides it (Placement::relocation): every chat in
// key order, each move counted on its new relay before the next chat is placed.
void Directory::State::relocate() {
    auto cands = candidates(relays);
    Placed pl = placed(chats);
    for (auto& [id, ch] : chats) {
        auto m = placement.relocation(now, relays, cands, ch, delays_of(ch.members), pl);
        if (!m) continue;
        place(pl, ch, -1);
        move(ch, m->to, m->reason, m->old_ms, m->new_ms);
        place(pl, ch, +1);
    }
}

// The background pass: relays and clients that went silent, request timers, relocation.
void Directory::State::pass() {
    for (auto& [k, r] : relays)
        if (r.alive && now - r.last > cfg.relay_timeout) {
            r.alive = false;
            event(dir_ev::RelayDown{k, r.addr});
            touch_all();
        }
    for (auto& [n, c] : clients)
        if (c.alive && now - c.last_seen > cfg.client_timeout) {
            c.alive = false;
            event(dir_ev::ClientDown{n});
            // Its groups are placed again by whoever coordinates them next.
            std::erase_if(chats, [&](const auto& e) { return e.second.group && e.second.owner == n; });
        }
    for (auto it = requests.begin(); it != requests.end();) {
        Request& r = it->second;
        for (auto& inv : r.invitees) {
            if (final_stage(inv.stage)) continue;
            if (now - r.created >= cfg.request_timeout) {
                set_stage(r, inv, Stage::timed_out);
            } else if ((inv.stage == Stage::req_sent || inv.stage == Stage::awaiting_req) && now >= inv.next_remind) {
                ++inv.reminders;
                inv.next_remind = now + cfg.awaiting_interval;
                set_stage(r, inv, Stage::awaiting_req);
            }
        }
        // A finished request is forgotten once its requester has seen the final stages
        // (or is gone).
        auto c = clients.find(r.from);
        if (r.final_version &&
            (c == clients.end() || !c->second.alive || c->second.acked_version >= r.final_version)) {
            it = requests.erase(it);
        } else {
            ++it;
        }
    }
    relocate();
    // A change the client has not confirmed is pushed again at every pass (the
    // heartbeat would heal it too, but only a second later).
    for (auto& [n, c] : clients)
        if (c.alive && c.acked_version < c.version && now - c.pushed >= cfg.pass_interval) dirty.insert(n);
}

}  // namespace dc::roles
