// Requests, answers and the entering transaction of seed 003: the coordinator sends the
// list updating (a pending record) to every member, then Yes with that record to the
// newcomer, who sends automatic entering to each peer; when every peer answered Yes or
// DisconnectedGroup the newcomer says done and the coordinator commits the record to
// all; one NoUpdatedGroup, a timeout or the coordinator's loss aborts it and every
// member keeps the list it had. One entry at a time per coordinator: the rest queue.

#include "groups/state.hpp"

#include <algorithm>

namespace dc::groups {

namespace {

std::uint8_t code(Answer a) { return static_cast<std::uint8_t>(a); }

}  // namespace

void Machine::State::request(const cmd::Request& r) {
    if (r.to == self.pk) return emit(ev::Refused{{}, "cannot ask yourself"});
    const std::uint64_t nonce = random_u64();
    if (out_requests.size() >= config.max_requests) out_requests.erase(out_requests.begin());
    out_requests[nonce] = OutRequest{r.to, r.kind};
    requests_dirty = true;
    send(r.to, wire::GroupRequest{nonce, static_cast<std::uint8_t>(r.kind), self.name, kx_pk, false, {}, {}});
}

void Machine::State::on_request(const PublicKey& from, const wire::GroupRequest& r) {
    if (r.kind > 1) {
        ++stats.malformed;
        return;
    }
    for (const auto& [id, in] : in_requests)
        if (in.from == from && in.req.nonce == r.nonce) return;  // a repeat
    if (in_requests.size() >= config.max_requests) in_requests.erase(in_requests.begin());
    const std::uint64_t id = next_request_id++;
    in_requests[id] = InRequest{from, r};
    requests_dirty = true;
    if (config.answering_machine && !r.invitation)
        send(from, wire::GroupAnswer{r.nonce, code(Answer::answering_machine), {}, 0, {}, {}, {}});
    emit(ev::RequestArrived{id, from, r.name, static_cast<Kind>(r.kind), r.invitation, r.group, r.title});
}

void Machine::State::reply(const cmd::Reply& r) {
    auto it = in_requests.find(r.request);
    if (it == in_requests.end()) return emit(ev::Refused{{}, "no such request"});
    const InRequest in = it->second;
    in_requests.erase(it);
    requests_dirty = true;
    const wire::GroupRequest& q = in.req;
    if (!r.yes) {
        send(in.from, wire::GroupAnswer{q.nonce, code(Answer::no), q.group, 0, {}, {}, {}});
        return;
    }
    if (q.invitation) {
        begin_entering(q.group, in.from, {in.from});
        return;
    }
    const Candidate who{Member{in.from, q.name, q.kx}, self.pk, q.nonce};
    if (!r.into) {
        if (r.title.size() > wire::kMaxGroupTitle) return emit(ev::Refused{{}, "name too long"});
        if (q.kind == 1)
            for (const auto& [id, g] : groups)
                if (g.rec.kind == 1 && is_member(g.rec, in.from))
                    return emit(ev::Refused{id, "already in a private group with " + q.name});
        if (groups.size() >= config.max_groups) return emit(ev::Refused{{}, "too many groups"});
        GroupId id{};
        crypto.random(id);
        Group g;
        g.forming = true;
        g.rec.group = id;
        g.rec.kind = q.kind;
        g.rec.title = r.title;
        g.rec.members.push_back(Member{self.pk, self.name, kx_pk});
        groups[id] = std::move(g);
        admit(id, who);
        return;
    }
    auto g = groups.find(*r.into);
    if (g == groups.end() || g->second.forming) return emit(ev::Refused{*r.into, "not in that group"});
    if (q.kind == 1 || g->second.rec.kind == 1)
        return emit(ev::Refused{*r.into, "a private group holds exactly two"});
    if (is_member(g->second.rec, in.from)) return emit(ev::Refused{*r.into, q.name + " is already in it"});
    if (we_coordinate(g->second)) {
        g->second.invited[in.from] = q.name;
        admit(*r.into, who);
        return;
    }
    // Derivation: the newcomer turns to the coordinator, whom we tell to expect it.
    const PublicKey* c = acting_coordinator(g->second);
    if (!c) return;
    send(*c, wire::GroupInvite{*r.into, in.from, q.name, true});
    send(in.from, wire::GroupAnswer{q.nonce, code(Answer::derivation), *r.into, g->second.rec.epoch, *c, {}, {}});
}

void Machine::State::invite(const cmd::Invite& i) {
    auto it = groups.find(i.group);
    if (it == groups.end() || it->second.forming) return emit(ev::Refused{i.group, "not in that group"});
    Group& g = it->second;
    if (g.rec.kind == 1) return emit(ev::Refused{i.group, "a private group holds exactly two"});
    if (is_member(g.rec, i.user)) return emit(ev::Refused{i.group, i.name + " is already in it"});
    if (!valid_user_name(i.name)) return emit(ev::Refused{i.group, "invalid user name"});
    if (we_coordinate(g)) {
        on_invite(self.pk, wire::GroupInvite{i.group, i.user, i.name, false});
    } else if (const PublicKey* c = acting_coordinator(g)) {
        if (g.invites_out.size() >= config.max_requests && !g.invites_out.count(i.user))
            g.invites_out.erase(g.invites_out.begin());
        g.invites_out[i.user] = {i.name, *c};
        send(*c, wire::GroupInvite{i.group, i.user, i.name, false});
    }
}

// An invitation given to a coordinator that is gone would wait for it in vain:
// it goes to the one coordinating now (ourselves included). One that entered
// needs it no more.
void Machine::State::forward_invites(const GroupId& id, Group& g) {
    const PublicKey* c = acting_coordinator(g);
    for (auto it = g.invites_out.begin(); it != g.invites_out.end();) {
        if (is_member(g.rec, it->first) || !c) {
            it = is_member(g.rec, it->first) ? g.invites_out.erase(it) : std::next(it);
            continue;
        }
        if (it->second.second != *c) {
            wire::GroupInvite inv{id, it->first, it->second.first, false};
            if (*c == self.pk) {
                it = g.invites_out.erase(it);
                on_invite(self.pk, inv);
                continue;
            }
            it->second.second = *c;
            send(*c, inv);
        }
        ++it;
    }
}

void Machine::State::on_invite(const PublicKey& from, const wire::GroupInvite& i) {
    auto it = groups.find(i.group);
    if (it == groups.end() || !is_member(it->second.rec, from) || !we_coordinate(it->second)) {
        ++stats.refused;
        return;
    }
    Group& g = it->second;
    if (is_member(g.rec, i.user)) return;
    if (g.invited.size() >= config.max_requests) g.invited.erase(g.invited.begin());
    g.invited[i.user] = i.name;
    if (!i.consented)
        send(i.user, wire::GroupRequest{random_u64(), 0, self.name, kx_pk, true, i.group, g.rec.title});
}

void Machine::State::on_enter(const PublicKey& from, const wire::GroupEnter& e) {
    auto it = groups.find(e.group);
    if (it == groups.end() || it->second.forming) {
        ++stats.refused;
        if (knows(e.group))
            send(from, wire::GroupAnswer{e.nonce, code(Answer::disconnected_group), e.group, 0, {}, {}, {}});
        return;
    }
    Group& g = it->second;
    if (is_member(g.rec, from)) {  // already in: it missed the commit
        send_record(g, from);
        return;
    }
    if (!we_coordinate(g)) {
        if (const PublicKey* c = acting_coordinator(g))
            send(from, wire::GroupAnswer{e.nonce, code(Answer::derivation), e.group, g.rec.epoch, *c, {}, {}});
        return;
    }
    // Entitled: invited, lost from our list, or listed by a record of a member of ours
    // (the other half of a partition that healed).
    bool listed = false;
    if (!e.proof.body.empty())
        if (auto proof = check_record(e.proof); proof && proof->group == e.group && is_member(*proof, from))
            listed = is_member(g.rec, proof->members.front().key) || g.lost.count(proof->members.front().key);
    if (!g.lost.count(from) && !g.invited.count(from) && !listed) {
        ++stats.refused;
        send(from, wire::GroupAnswer{e.nonce, code(Answer::no), e.group, 0, {}, {}, {}});
        return;
    }
    admit(e.group, Candidate{Member{from, e.name, e.kx}, from, e.nonce});
}

void Machine::State::admit(const GroupId& id, Candidate c) {
    Group& g = groups.at(id);
    if (g.txn && g.txn->who.member.key == c.member.key) {  // a repeat: the Yes again
        g.txn->who.nonce = c.nonce;
        send(c.member.key, wire::GroupAnswer{c.nonce, code(Answer::yes), id, g.txn->rec.epoch, self.pk, g.txn->blob,
                                             seal_key(g.txn->key, c.member)});
        return;
    }
    for (auto& q : g.queue)
        if (q.member.key == c.member.key) {
            q = c;
            return;
        }
    if (g.queue.size() >= config.max_queue) {
        send(c.member.key, wire::GroupAnswer{c.nonce, code(Answer::no), id, 0, {}, {}, {}});
        return;
    }
    g.queue.push_back(std::move(c));
    maintain(id);
}

void Machine::State::start_txn(const GroupId& id) {
    Group& g = groups.at(id);
    while (!g.queue.empty()) {
        Candidate c = std::move(g.queue.front());
        g.queue.pop_front();
        if (is_member(g.rec, c.member.key)) {
            send_record(g, c.member.key);
            continue;
        }
        if (g.rec.members.size() >= std::min(config.max_members, wire::kMaxGroupMembers) ||
            (g.rec.kind == 1 && g.rec.members.size() >= 2)) {
            send(c.member.key, wire::GroupAnswer{c.nonce, code(Answer::no), id, 0, {}, {}, {}});
            continue;
        }
        Txn t;
        t.rec = g.rec;
        t.rec.epoch = std::max(g.rec.epoch, g.max_epoch) + 1;
        t.rec.members.push_back(c.member);
        t.rec.change = static_cast<std::uint8_t>(g.forming ? Change::created : Change::entered);
        t.rec.subject = c.member.key;
        t.rec.by = c.by;
        t.blob = sign_record(t.rec);
        t.key = random_key();
        t.deadline = now + config.entry_timeout;
        t.who = std::move(c);
        for (const auto& m : g.rec.members)
            if (m.key != self.pk) send(m.key, wire::GroupUpdate{t.blob, seal_key(t.key, m), true});
        send(t.who.member.key, wire::GroupAnswer{t.who.nonce, code(Answer::yes), id, t.rec.epoch, self.pk, t.blob,
                                                 seal_key(t.key, t.who.member)});
        g.txn = std::move(t);
        return;
    }
}

void Machine::State::abort_txn(const GroupId& id, bool forget_forming) {
    auto it = groups.find(id);
    if (it == groups.end() || !it->second.txn) return;
    Group& g = it->second;
    const wire::GroupAbort a{id, g.txn->rec.epoch};
    for (const auto& m : g.txn->rec.members) send(m.key, a);
    g.txn.reset();
    if (g.forming && forget_forming && g.queue.empty()) {
        gone.insert(id);
        groups.erase(it);
        emit(ev::EntryFailed{id, "the first entry did not complete"});
    }
}

void Machine::State::on_done(const PublicKey& from, const wire::GroupDone& d) {
    auto it = groups.find(d.group);
    if (it == groups.end() || !it->second.txn) return;
    Group& g = it->second;
    if (g.txn->who.member.key != from || g.txn->rec.epoch != d.epoch) return;
    if (!d.ok) {
        abort_txn(d.group);
        return;
    }
    Txn t = std::move(*g.txn);
    g.txn.reset();
    const bool still = adopt(d.group, t.rec, t.blob, t.key);
    for (const auto& m : t.rec.members)
        if (m.key != self.pk) send(m.key, wire::GroupUpdate{t.blob, seal_key(t.key, m), false});
    if (still) maintain(d.group);
}

void Machine::State::on_pending(const PublicKey& from, const GroupRecordBody& body, const SignedBlob& blob,
                                ByteView key) {
    auto it = groups.find(body.group);
    if (it == groups.end() || it->second.forming) return;
    Group& g = it->second;
    // Only the coordinator we know, or the one taking over from it, prepares an entry.
    if (from != body.members.front().key || !is_member(g.rec, from) || !is_member(body, self.pk) ||
        rank_of(body) <= rank_of(g.rec)) {
        ++stats.refused;
        return;
    }
    if (g.pending && rank_of(g.pending->rec) > rank_of(body)) return;
    g.pending = Pending{body, blob, open_key(key), now + 2 * config.entry_timeout};
    g.max_epoch = std::max(g.max_epoch, body.epoch);
    // Whom the coordinator agreed to admit may enter through its successor if it dies.
    for (const auto& m : body.members)
        if (!is_member(g.rec, m.key) && g.invited.size() < config.max_requests) g.invited[m.key] = m.name;
    for (auto w = g.peers_waiting.begin(); w != g.peers_waiting.end();) {
        if (w->epoch == body.epoch && w->coordinator == from) {
            const bool in = is_member(body, w->newcomer);
            send(w->newcomer, wire::GroupAnswer{0, code(in ? Answer::yes : Answer::no_updated_group), body.group,
                                                body.epoch, from, {}, {}});
            w = g.peers_waiting.erase(w);
        } else {
            ++w;
        }
    }
    release_held(body.group);
}

void Machine::State::on_peer_enter(const PublicKey& from, const wire::GroupPeerEnter& p) {
    auto it = groups.find(p.group);
    auto answer = [&](Answer a) {
        send(from, wire::GroupAnswer{0, code(a), p.group, p.epoch, p.coordinator, {}, {}});
    };
    if (it == groups.end() || it->second.forming) {
        if (knows(p.group)) answer(Answer::disconnected_group);
        return;
    }
    Group& g = it->second;
    const Rank want{p.epoch, p.coordinator};
    if (rank_of(g.rec) == want && is_member(g.rec, from)) return answer(Answer::yes);
    if (g.pending && rank_of(g.pending->rec) == want && is_member(g.pending->rec, from)) return answer(Answer::yes);
    if (g.rec.epoch < p.epoch && is_member(g.rec, p.coordinator)) {
        for (const auto& w : g.peers_waiting)
            if (w.newcomer == from && w.epoch == p.epoch) return;
        if (g.peers_waiting.size() < config.max_queue)
            g.peers_waiting.push_back(WaitingPeer{from, p.epoch, p.coordinator, now + config.peer_wait});
        return;
    }
    answer(Answer::no_updated_group);
}

void Machine::State::on_abort(const PublicKey& from, const wire::GroupAbort& a) {
    if (auto it = groups.find(a.group); it != groups.end()) {
        Group& g = it->second;
        if (g.pending && g.pending->rec.epoch == a.epoch && g.pending->rec.members.front().key == from)
            g.pending.reset();
    }
    if (auto e = entering.find(a.group); e != entering.end()) {
        if (e->second.phase != Entering::Phase::asking && e->second.coordinator == from &&
            e->second.rec.epoch == a.epoch) {
            e->second.phase = Entering::Phase::asking;
            e->second.deadline = now + config.enter_retry;
        }
    }
}

void Machine::State::on_answer(const PublicKey& from, const wire::GroupAnswer& a) {
    if (a.answer > code(Answer::no_updated_group)) {
        ++stats.malformed;
        return;
    }
    const Answer kind = static_cast<Answer>(a.answer);
    if (auto r = out_requests.find(a.nonce); r != out_requests.end() && r->second.to == from) {
        if (kind != Answer::answering_machine) {
            out_requests.erase(r);
            requests_dirty = true;
        }
        emit(ev::Answered{from, kind});
        if (kind == Answer::yes) on_yes(from, a);
        else if (kind == Answer::derivation) begin_entering(a.group, a.coordinator, {a.coordinator});
        return;
    }
    auto e = entering.find(a.group);
    if (e != entering.end()) {
        Entering& en = e->second;
        if (kind == Answer::yes && from == a.coordinator && en.phase == Entering::Phase::asking) return on_yes(from, a);
        if (en.phase == Entering::Phase::joining && en.waiting.count(from) && a.epoch == en.rec.epoch)
            return peer_answered(a.group, from, kind);
        if (en.phase == Entering::Phase::asking && from == en.coordinator) {
            if (kind == Answer::derivation && a.coordinator != from) {
                en.coordinator = a.coordinator;
                en.candidates.push_back(a.coordinator);
                ask_coordinator(a.group, en);
            } else if (kind == Answer::no) {
                enter_failed(a.group, "the coordinator refused");
            } else if (kind == Answer::disconnected_group) {
                // Not there (any more): another member of the list may still hold it.
                std::erase(en.candidates, from);
                if (en.candidates.empty()) return enter_failed(a.group, "the group is gone");
                en.coordinator = en.candidates.front();
                ask_coordinator(a.group, en);
            }
        }
        return;
    }
    // A member says it is not in a group we hold it in: it left, or the group ceased there.
    if (kind == Answer::disconnected_group) {
        auto it = groups.find(a.group);
        if (it != groups.end() && !it->second.forming && is_member(it->second.rec, from) && from != self.pk) {
            it->second.leaving.insert(from);
            maintain(a.group);
        }
    }
}

void Machine::State::on_yes(const PublicKey& from, const wire::GroupAnswer& a) {
    auto body = check_record(a.record);
    if (!body || body->members.front().key != from || !is_member(*body, self.pk) || body->group != a.group) {
        ++stats.refused;
        return;
    }
    if (auto g = groups.find(a.group); g != groups.end() && rank_of(g->second.rec) >= rank_of(*body)) return;
    if (!entering.count(a.group) && groups.size() + entering.size() >= config.max_groups) {
        emit(ev::Refused{a.group, "too many groups"});
        return;
    }
    Entering& e = entering[a.group];
    e.phase = Entering::Phase::joining;
    e.coordinator = from;
    e.rec = *body;
    e.blob = a.record;
    e.key = open_key(a.key);
    e.waiting.clear();
    for (const auto& m : body->members)
        if (m.key != self.pk && m.key != from) {
            e.waiting.insert(m.key);
            send(m.key, wire::GroupPeerEnter{a.group, body->epoch, from});
        }
    e.deadline = now + config.peer_wait * 2;
    if (e.waiting.empty()) {
        send(from, wire::GroupDone{a.group, body->epoch, true});
        e.phase = Entering::Phase::committing;
        e.deadline = now + config.entry_timeout;
    }
}

void Machine::State::peer_answered(const GroupId& id, const PublicKey& from, Answer answer) {
    Entering& e = entering.at(id);
    e.waiting.erase(from);
    if (answer == Answer::no_updated_group) {
        // The transaction fails: the coordinator aborts it at every member; we ask again later.
        send(e.coordinator, wire::GroupDone{id, e.rec.epoch, false});
        e.phase = Entering::Phase::asking;
        e.deadline = now + config.enter_retry;
        return;
    }
    if (e.waiting.empty()) {
        send(e.coordinator, wire::GroupDone{id, e.rec.epoch, true});
        e.phase = Entering::Phase::committing;
        e.deadline = now + config.entry_timeout;
    }
}

void Machine::State::begin_entering(const GroupId& id, const PublicKey& coordinator,
                                    std::vector<PublicKey> candidates, SignedBlob proof) {
    if (groups.count(id) && !groups.at(id).forming) return;
    Entering& e = entering[id];
    e = Entering{};
    e.coordinator = coordinator;
    e.candidates = std::move(candidates);
    e.proof = std::move(proof);
    e.attempts = 0;
    ask_coordinator(id, e);
}

void Machine::State::ask_coordinator(const GroupId& id, Entering& e) {
    // The coordinator, or when it is down the first candidate that is not.
    if (down.count(e.coordinator))
        for (const auto& c : e.candidates)
            if (!down.count(c) && c != self.pk) {
                e.coordinator = c;
                break;
            }
    ++e.attempts;
    e.phase = Entering::Phase::asking;
    e.nonce = random_u64();
    e.deadline = now + config.enter_retry;
    send(e.coordinator, wire::GroupEnter{id, e.nonce, self.name, kx_pk, e.proof});
}

void Machine::State::enter_failed(const GroupId& id, std::string why) {
    entering.erase(id);
    lingering.erase(id);
    if (!groups.count(id)) touch(id);  // forget a state kept for coming back
    emit(ev::EntryFailed{id, std::move(why)});
}

void Machine::State::entering_timeouts() {
    std::vector<GroupId> due;
    for (const auto& [id, e] : entering)
        if (e.deadline <= now) due.push_back(id);
    for (const auto& id : due) {
        Entering& e = entering.at(id);
        switch (e.phase) {
        case Entering::Phase::joining:  // peers that never answered count as DisconnectedGroup
            e.waiting.clear();
            send(e.coordinator, wire::GroupDone{id, e.rec.epoch, true});
            e.phase = Entering::Phase::committing;
            e.deadline = now + config.entry_timeout;
            break;
        case Entering::Phase::asking:
        case Entering::Phase::committing:
            if (e.attempts >= config.enter_attempts) {
                enter_failed(id, "no coordinator answered");
                break;
            }
            // The next candidate, in list order, after one that did not answer.
            if (e.phase == Entering::Phase::asking && e.candidates.size() > 1) {
                auto at = std::find(e.candidates.begin(), e.candidates.end(), e.coordinator);
                if (at != e.candidates.end() && e.attempts % 3 == 0) {
                    ++at;
                    if (at == e.candidates.end()) at = e.candidates.begin();
                    if (*at != self.pk) e.coordinator = *at;
                }
            }
            for (const auto& m : e.rec.members)
                if (std::find(e.candidates.begin(), e.candidates.end(), m.key) == e.candidates.end() &&
                    m.key != self.pk)
                    e.candidates.push_back(m.key);
            ask_coordinator(id, e);
            break;
        }
    }
}

}  // namespace dc::groups
