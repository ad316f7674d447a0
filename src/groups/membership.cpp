// Records and epochs: the coordinator issues a signed record with a fresh key at every
// change of membership; every member adopts the highest record (by epoch, then
// coordinator key) signed by someone it knows, and acts as coordinator when every member
// before it in the list is down. darkchat-groups(7) says why.

#include "groups/state.hpp"

#include <algorithm>

namespace dc::groups {

const PublicKey* Machine::State::acting_coordinator(const Group& g) const {
    for (const auto& m : g.rec.members)
        if (!g.down.count(m.key) && !g.leaving.count(m.key)) return &m.key;
    return nullptr;
}

bool Machine::State::we_coordinate(const Group& g) const {
    const PublicKey* c = acting_coordinator(g);
    return c && *c == self.pk;
}

const wire::GroupEpochKey* Machine::State::find_key(const Group& g, std::uint64_t epoch,
                                                    const PublicKey& coordinator) const {
    for (const auto& k : g.keys)
        if (k.epoch == epoch && k.coordinator == coordinator) return &k;
    return nullptr;
}

bool Machine::State::has_current_key(const Group& g) const {
    const Rank r = rank_of(g.rec);
    return find_key(g, r.first, r.second) != nullptr;
}

void Machine::State::store_key(Group& g, const GroupRecordBody& body, const GroupKey& key) {
    const Rank r = rank_of(body);
    if (find_key(g, r.first, r.second)) return;
    wire::GroupEpochKey k{r.first, r.second, key, {}};
    for (const auto& m : body.members) k.members.push_back(m.key);
    g.keys.push_back(std::move(k));
    std::sort(g.keys.begin(), g.keys.end(), [](const auto& a, const auto& b) {
        return Rank{a.epoch, a.coordinator} < Rank{b.epoch, b.coordinator};
    });
    while (g.keys.size() > std::min(config.max_epoch_keys, wire::kMaxGroupKeys)) g.keys.erase(g.keys.begin());
    // Streams of epochs whose keys are gone can never show a line again.
    auto kept = [&](const StreamId& s) { return find_key(g, std::get<1>(s), std::get<2>(s)) != nullptr; };
    std::erase_if(g.next, [&](const auto& e) { return !kept(e.first); });
    std::erase_if(g.ahead, [&](const auto& e) { return !kept(e.first); });
}

// Our record to a member (with the epoch key sealed to it) or to someone outside it
// (so it learns it is out).
void Machine::State::send_record(const Group& g, const PublicKey& to) {
    wire::GroupUpdate u{g.blob, {}, false};
    const Rank r = rank_of(g.rec);
    const Member* m = find_member(g.rec, to);
    if (const auto* k = find_key(g, r.first, r.second); k && m) u.key = seal_key(k->key, *m);
    send(to, u);
}

void Machine::State::issue(const GroupId& id, std::vector<Member> members, Change change, const PublicKey& subject,
                           const PublicKey& by, std::string title, const std::optional<std::optional<cmd::Relay>>& relay) {
    Group& g = groups.at(id);
    GroupRecordBody body;
    body.relay = g.rec.relay;
    body.relay_key = g.rec.relay_key;
    if (relay) {
        body.relay = *relay ? (*relay)->addr : Addr{};
        body.relay_key = *relay ? (*relay)->key : PublicKey{};
    }
    body.group = id;
    body.kind = g.rec.kind;
    body.title = std::move(title);
    body.epoch = std::max(g.rec.epoch, g.max_epoch) + 1;
    body.members = std::move(members);
    body.change = static_cast<std::uint8_t>(change);
    body.subject = subject;
    body.by = by;
    const GroupKey key = random_key();
    const SignedBlob blob = sign_record(body);
    std::vector<PublicKey> told;
    for (const auto& m : g.rec.members)
        if (!is_member(body, m.key) && !g.leaving.count(m.key) && m.key != self.pk) told.push_back(m.key);
    const bool still = adopt(id, body, blob, key);
    for (const auto& m : body.members)
        if (m.key != self.pk) send(m.key, wire::GroupUpdate{blob, seal_key(key, m), false});
    // Those taken out hear it too: who removed them, or that they were lost and may come back.
    for (const auto& pk : told) send(pk, wire::GroupUpdate{blob, {}, false});
    (void)still;
}

// In again: what we showed of the group before it dropped us counts, so a
// late line of those epochs is shown once (not as a duplicate, not never).
void Machine::State::merge_lingering(const GroupId& id, Group& g) {
    auto it = lingering.find(id);
    Group old = std::move(it->second);
    lingering.erase(it);
    for (const auto& k : old.keys) {
        if (find_key(g, k.epoch, k.coordinator)) continue;
        g.keys.push_back(k);
    }
    std::sort(g.keys.begin(), g.keys.end(), [](const auto& a, const auto& b) {
        return Rank{a.epoch, a.coordinator} < Rank{b.epoch, b.coordinator};
    });
    while (g.keys.size() > std::min(config.max_epoch_keys, wire::kMaxGroupKeys)) g.keys.erase(g.keys.begin());
    for (const auto& [sid, next] : old.next)
        if (find_key(g, std::get<1>(sid), std::get<2>(sid))) g.next[sid] = std::max(g.next[sid], next);
}

bool Machine::State::adopt(const GroupId& id, const GroupRecordBody& body, const SignedBlob& blob,
                           std::optional<GroupKey> key) {
    Group& g = groups.at(id);
    const GroupRecordBody old = g.rec;
    const bool first = g.forming || old.members.empty();
    g.max_epoch = std::max(g.max_epoch, body.epoch);
    const Member* by = find_member(body, body.by);
    const Member by_member = by ? *by : (find_member(old, body.by) ? *find_member(old, body.by) : Member{body.by, {}, {}});

    if (!is_member(body, self.pk)) {
        const Change change = static_cast<Change>(body.change);
        const bool removed = change == Change::removed && body.subject == self.pk;
        const auto coordinator = body.members.front().key;
        std::vector<PublicKey> candidates;
        for (const auto& m : body.members) candidates.push_back(m.key);
        SignedBlob proof = g.blob;
        if (g.rec.relay_key != PublicKey{}) transport(id, nullptr);
        gone.insert(id);
        if (!removed) lingering[id] = std::move(g);
        groups.erase(id);
        emit(ev::Gone{id, removed ? Change::removed : Change::lost, by_member, !removed, false});
        // Lost, the stored state stays until we are in again (or give up): a restart
        // meanwhile comes back with it and is told again that it is out.
        if (removed) touch(id);
        else begin_entering(id, coordinator, std::move(candidates), std::move(proof));
        return false;
    }
    touch(id);
    if (lingering.count(id)) merge_lingering(id, g);

    if (first) {
        emit(ev::Joined{id, body.epoch, body.members, body.title});
    } else {
        for (const auto& m : body.members)
            if (!is_member(old, m.key)) emit(ev::MemberEntered{id, body.epoch, m});
        for (const auto& m : old.members) {
            if (is_member(body, m.key)) continue;
            const Change change = static_cast<Change>(body.change);
            if (change == Change::removed && body.subject == m.key) {
                emit(ev::MemberRemoved{id, body.epoch, m, by_member});
            } else if ((change == Change::left && body.subject == m.key) || g.leaving.count(m.key)) {
                emit(ev::MemberLeft{id, body.epoch, m, false});
            } else {
                emit(ev::MemberLeft{id, body.epoch, m, true});
                if (g.lost.size() < wire::kMaxGroupMembers) g.lost.insert(m.key);
            }
        }
        if (old.title != body.title) emit(ev::Renamed{id, body.title, by_member});
        if (old.relay_key != body.relay_key || old.relay != body.relay) {
            std::optional<Addr> via;
            if (body.relay_key != PublicKey{}) via = body.relay;
            emit(ev::Moved{id, body.epoch, via, by_member});
        }
        if (old.members.front().key != body.members.front().key)
            emit(ev::CoordinatorChanged{id, body.members.front()});
    }
    emit(ev::NewEpoch{id, body.epoch, body.members.front().key, body.members.size()});

    g.forming = false;
    g.rec = body;
    g.blob = blob;
    if (body.relay_key != PublicKey{}) transport(id, &g.rec);
    else if (old.relay_key != PublicKey{}) transport(id, nullptr);
    if (key) store_key(g, body, *key);
    g.own_next = 0;
    g.told_waiting.clear();
    for (const auto& m : body.members) {
        g.lost.erase(m.key);
        g.invited.erase(m.key);
    }
    std::erase_if(g.down, [&](const PublicKey& pk) { return !is_member(body, pk); });
    std::erase_if(g.leaving, [&](const PublicKey& pk) { return !is_member(body, pk); });
    const Rank r = rank_of(body);
    if (g.pending && rank_of(g.pending->rec) <= r) g.pending.reset();
    if (g.txn && rank_of(g.txn->rec) <= r) g.txn.reset();
    if (!we_coordinate(g)) g.queue.clear();

    if (body.members.size() < 2) {
        if (body.relay_key != PublicKey{}) transport(id, nullptr);
        gone.insert(id);
        groups.erase(id);
        emit(ev::Gone{id, static_cast<Change>(body.change), by_member, false, true});
        return false;
    }
    release_held(id);
    return true;
}

void Machine::State::on_update(const PublicKey& from, const wire::GroupUpdate& u) {
    auto body = check_record(u.record);
    if (!body) return;
    if (u.pending) {
        on_pending(from, *body, u.record, u.key);
        return;
    }
    const GroupId id = body->group;
    auto it = groups.find(id);
    if (it == groups.end() || it->second.forming) {
        auto e = entering.find(id);
        if (e == entering.end() || !is_member(*body, self.pk)) return;
        // The commit of our entry, or the record of a group we were already let into.
        const auto& known = e->second.candidates;
        const PublicKey& signer = body->members.front().key;
        if (signer != e->second.coordinator && std::find(known.begin(), known.end(), signer) == known.end() &&
            !is_member(e->second.rec, signer)) {
            ++stats.refused;
            return;
        }
        std::optional<GroupKey> key = open_key(u.key);
        if (!key && e->second.key && rank_of(e->second.rec) == rank_of(*body)) key = e->second.key;
        entering.erase(e);
        if (it == groups.end()) it = groups.emplace(id, Group{}).first;
        it->second.forming = false;
        it->second.rec = {};
        adopt(id, *body, u.record, key);
        return;
    }
    Group& g = it->second;
    const Rank theirs = rank_of(*body), ours = rank_of(g.rec);
    g.max_epoch = std::max(g.max_epoch, body->epoch);
    if (theirs == ours) {
        if (!has_current_key(g))
            if (auto key = open_key(u.key)) {
                store_key(g, g.rec, *key);
                touch(id);
                release_held(id);
            }
        return;
    }
    if (theirs < ours) {
        ++stats.stale;
        if (is_member(g.rec, from) || g.lost.count(from)) send_record(g, from);
        return;
    }
    const PublicKey& signer = body->members.front().key;
    const bool known = is_member(g.rec, signer) || g.lost.count(signer) ||
                       (is_member(g.rec, from) && is_member(*body, from));
    if (!known) {
        ++stats.refused;
        return;
    }
    std::optional<GroupKey> key = open_key(u.key);
    if (!key && g.pending && rank_of(g.pending->rec) == theirs) key = g.pending->key;
    // A member that we drop without its knowing (an entry another coordinator committed)
    // hears the record from us, so it can enter again.
    std::vector<PublicKey> dropped;
    for (const auto& m : g.rec.members)
        if (!is_member(*body, m.key) && m.key != self.pk && !g.leaving.count(m.key) &&
            !(static_cast<Change>(body->change) != Change::lost && body->subject == m.key))
            dropped.push_back(m.key);
    if (adopt(id, *body, u.record, key)) {
        for (const auto& pk : dropped)
            if (pk != from && pk != signer) send(pk, wire::GroupUpdate{u.record, {}, false});
        maintain(id);
    }
}

void Machine::State::maintain(const GroupId& id) {
    auto it = groups.find(id);
    if (it == groups.end()) return;
    Group& g = it->second;
    if (g.forming) {
        if (!g.txn && !g.queue.empty()) start_txn(id);
        return;
    }
    forward_invites(id, g);
    if (!we_coordinate(g)) {
        g.txn.reset();
        return;
    }
    std::vector<Member> keep;
    const Member* first_gone = nullptr;
    for (const auto& m : g.rec.members) {
        if (m.key != self.pk && (g.down.count(m.key) || g.leaving.count(m.key))) {
            if (!first_gone) first_gone = &m;
        } else {
            keep.push_back(m);
        }
    }
    if (first_gone) {
        if (g.txn) abort_txn(id);
        const Change change = g.leaving.count(first_gone->key) ? Change::left : Change::lost;
        issue(id, std::move(keep), change, first_gone->key, self.pk, g.rec.title);
        it = groups.find(id);
        if (it == groups.end()) return;
    }
    if (!it->second.txn && !it->second.queue.empty()) start_txn(id);
}

void Machine::State::on_release(const PublicKey& from, const wire::GroupRelease& r) {
    auto it = groups.find(r.group);
    if (it == groups.end()) return;
    Group& g = it->second;
    if (g.txn && g.txn->who.member.key == from) abort_txn(r.group);
    if (!is_member(g.rec, from)) return;
    g.leaving.insert(from);
    maintain(r.group);
}

void Machine::State::on_rename(const PublicKey& from, const wire::GroupRename& r) {
    auto it = groups.find(r.group);
    if (it == groups.end() || !is_member(it->second.rec, from) || !we_coordinate(it->second)) {
        ++stats.refused;
        return;
    }
    if (it->second.txn) abort_txn(r.group);
    issue(r.group, it->second.rec.members, Change::renamed, from, from, r.title);
}

void Machine::State::lost(const PublicKey& peer) {
    down.insert(peer);
    std::vector<GroupId> ids;
    for (auto& [id, g] : groups)
        if (is_member(g.rec, peer)) {
            g.down.insert(peer);
            ids.push_back(id);
        }
    for (const auto& id : ids) maintain(id);
}

void Machine::State::back(const PublicKey& peer) {
    down.erase(peer);
    std::vector<GroupId> ids;
    for (auto& [id, g] : groups) {
        g.down.erase(peer);
        if (!g.forming && (is_member(g.rec, peer) || g.lost.count(peer))) {
            send_record(g, peer);
            ids.push_back(id);
        }
    }
    for (const auto& id : ids) maintain(id);
}

void Machine::State::leave(const GroupId& id) {
    auto it = groups.find(id);
    if (it == groups.end() || it->second.forming) {
        if (entering.erase(id)) {
            touch(id);
            emit(ev::Gone{id, Change::left, Member{self.pk, self.name, kx_pk}, false, false});
        }
        else {
            emit(ev::Refused{id, "not in that group"});
        }
        return;
    }
    for (const auto& m : it->second.rec.members) send(m.key, wire::GroupRelease{id});
    if (it->second.rec.relay_key != PublicKey{}) transport(id, nullptr);
    gone.insert(id);
    groups.erase(it);
    touch(id);
    emit(ev::Gone{id, Change::left, Member{self.pk, self.name, kx_pk}, false, false});
}

void Machine::State::remove(const GroupId& id, const PublicKey& member) {
    auto it = groups.find(id);
    if (it == groups.end() || it->second.forming) return emit(ev::Refused{id, "not in that group"});
    Group& g = it->second;
    if (member == self.pk) return emit(ev::Refused{id, "to leave a group, leave it"});
    if (!is_member(g.rec, member)) return emit(ev::Refused{id, "not a member of that group"});
    if (!we_coordinate(g)) {
        const PublicKey* c = acting_coordinator(g);
        return emit(ev::Refused{id, "only the coordinator (" + (c ? member_or_key(g, *c).name : std::string("?")) +
                                        ") removes members"});
    }
    if (g.txn) abort_txn(id);
    std::vector<Member> keep;
    for (const auto& m : g.rec.members)
        if (m.key != member) keep.push_back(m);
    issue(id, std::move(keep), Change::removed, member, self.pk, g.rec.title);
}

void Machine::State::rename(const GroupId& id, const std::string& title) {
    auto it = groups.find(id);
    if (it == groups.end() || it->second.forming) return emit(ev::Refused{id, "not in that group"});
    if (title.size() > wire::kMaxGroupTitle) return emit(ev::Refused{id, "name too long"});
    Group& g = it->second;
    if (we_coordinate(g)) {
        if (g.txn) abort_txn(id);
        issue(id, g.rec.members, Change::renamed, self.pk, self.pk, title);
    } else if (const PublicKey* c = acting_coordinator(g)) {
        send(*c, wire::GroupRename{id, title});
    }
}

void Machine::State::transport(const GroupId& id, const GroupRecordBody* body) {
    transports.push_back(Transport{id, body ? relay_ticket_blob(*body) : SignedBlob{}});
}

// Only the coordinator moves the group: a record like any other, with a fresh key, that
// names the relay (or none). Members follow it (Transport); those who enter later find
// the relay in the record they enter with.
void Machine::State::move(const GroupId& id, const std::optional<cmd::Relay>& relay) {
    auto it = groups.find(id);
    if (it == groups.end() || it->second.forming) return emit(ev::Refused{id, "not in that group"});
    Group& g = it->second;
    if (!we_coordinate(g)) {
        const PublicKey* c = acting_coordinator(g);
        return emit(ev::Refused{id, "only the coordinator (" + (c ? member_or_key(g, *c).name : std::string("?")) +
                                        ") moves the group"});
    }
    if (relay && relay->key == PublicKey{}) return emit(ev::Refused{id, "that relay has not answered yet"});
    const bool same = relay ? g.rec.relay_key == relay->key && g.rec.relay == relay->addr
                            : g.rec.relay_key == PublicKey{};
    if (same) return emit(ev::Refused{id, relay ? "its lines already go through that relay" : "its lines already go member to member"});
    if (g.txn) abort_txn(id);
    issue(id, g.rec.members, Change::moved, self.pk, self.pk, g.rec.title, relay);
}

}  // namespace dc::groups
